//! Runtime counters (`RuntimeMetrics`).
//!
//! Per-worker counters are written by their worker alone (a relaxed load + store,
//! no read-modify-write on the hot path) and read by anyone. Busy time and the
//! poll-time histogram are measured by `timer.rs` into `histogram.rs`'s buckets.

mod histogram;
mod timer;

use std::ops::Range;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::loom::{AtomicU64, Ordering::Relaxed};
use crate::scheduler::Scheduler;
use crate::Handle;

#[derive(Debug, Default)]
pub(crate) struct WorkerMetrics {
    pub(crate) polls: AtomicU64,
    pub(crate) spawned: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) steal_operations: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) overflows: AtomicU64,
    /// Nanoseconds spent polling tasks (see `timer.rs`).
    pub(crate) busy_nanos: AtomicU64,
    pub(crate) poll_times: Histogram,
}

pub(crate) use histogram::Histogram;
pub(crate) use timer::WorkerTimer;

/// Adds one to a counter that only the calling thread writes.
#[inline(always)]
pub(crate) fn bump(c: &AtomicU64) {
    add(c, 1)
}

#[inline(always)]
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

pub(crate) type WorkerMetricsSet = Box<[CachePadded<WorkerMetrics>]>;

/// A view of a runtime's counters. Every figure is a snapshot; counters only grow.
#[derive(Clone, Debug)]
pub struct RuntimeMetrics {
    handle: Handle,
}

impl RuntimeMetrics {
    pub(crate) fn new(handle: Handle) -> Self {
        RuntimeMetrics { handle }
    }

    fn workers(&self) -> &[CachePadded<WorkerMetrics>] {
        match &self.handle.inner {
            Scheduler::Multi(s) => s.worker_metrics(),
            Scheduler::Current(s) => s.worker_metrics(),
        }
    }

    /// Worker threads (1 for the current-thread scheduler: the `block_on` thread).
    pub fn num_workers(&self) -> usize {
        self.workers().len()
    }

    /// Tasks spawned since the runtime started.
    pub fn spawned_tasks_count(&self) -> u64 {
        let remote = match &self.handle.inner {
            Scheduler::Multi(s) => s.remote_spawned(),
            Scheduler::Current(s) => s.remote_spawned(),
        };
        remote + self.workers().iter().map(|w| w.spawned.load(Relaxed)).sum::<u64>()
    }

    /// Tasks spawned and not yet completed.
    pub fn num_alive_tasks(&self) -> usize {
        match &self.handle.inner {
            Scheduler::Multi(s) => s.owned_len(),
            Scheduler::Current(s) => s.owned_len(),
        }
    }

    /// Tasks waiting in the global injector.
    pub fn injection_queue_depth(&self) -> usize {
        match &self.handle.inner {
            Scheduler::Multi(s) => s.injection_queue_depth(),
            Scheduler::Current(s) => s.injection_queue_depth(),
        }
    }

    /// Task polls by worker `w`.
    ///
    /// # Panics
    /// If `w >= num_workers()`; likewise for every `worker_*` method.
    pub fn worker_poll_count(&self, w: usize) -> u64 {
        self.workers()[w].polls.load(Relaxed)
    }

    /// Tasks worker `w` took from other workers' queues.
    pub fn worker_steal_count(&self, w: usize) -> u64 {
        self.workers()[w].steals.load(Relaxed)
    }

    /// Successful steal operations (each moves a batch) by worker `w`.
    pub fn worker_steal_operations(&self, w: usize) -> u64 {
        self.workers()[w].steal_operations.load(Relaxed)
    }

    /// Times worker `w` parked because it found no work.
    pub fn worker_park_count(&self, w: usize) -> u64 {
        self.workers()[w].parks.load(Relaxed)
    }

    /// Times worker `w`'s local queue was full and spilled half into the injector.
    pub fn worker_overflow_count(&self, w: usize) -> u64 {
        self.workers()[w].overflows.load(Relaxed)
    }

    /// Time worker `w` spent running tasks.
    ///
    /// Measured around batches of polls: from the first poll after the worker
    /// woke up until it parks again, so the short gaps between polls (queue
    /// operations, stealing once it has work) count as busy. The running period
    /// is added when the worker parks and at its periodic look at the I/O
    /// driver (every `event_interval` ticks), so one very long poll shows up
    /// only once it returns. On the current-thread scheduler, polls of the
    /// `block_on` future that fall inside such a period count too.
    pub fn worker_total_busy_duration(&self, w: usize) -> Duration {
        Duration::from_nanos(self.workers()[w].busy_nanos.load(Relaxed))
    }

    /// Whether [`Builder::enable_metrics_poll_time_histogram`](crate::Builder::enable_metrics_poll_time_histogram)
    /// turned the poll-time histogram on (else every bucket stays at 0).
    pub fn poll_time_histogram_enabled(&self) -> bool {
        match &self.handle.inner {
            Scheduler::Multi(s) => s.poll_time_histogram(),
            Scheduler::Current(s) => s.poll_time_histogram(),
        }
    }

    /// Number of buckets of the poll-time histogram (16).
    pub fn poll_time_histogram_num_buckets(&self) -> usize {
        histogram::NUM_BUCKETS
    }

    /// The poll durations bucket `bucket` counts: log-scale, `[0, 1,024 ns)`
    /// first, then `[2^(b-1), 2^b) × 1,024 ns`; the last bucket (from about
    /// 16.8 ms) ends at `Duration::MAX`.
    ///
    /// # Panics
    /// If `bucket >= poll_time_histogram_num_buckets()`.
    pub fn poll_time_histogram_bucket_range(&self, bucket: usize) -> Range<Duration> {
        histogram::bucket_range(bucket)
    }

    /// Polls by worker `w` whose duration fell in `bucket` (0 unless the
    /// histogram is enabled; then the buckets of a worker sum to its poll count).
    ///
    /// # Panics
    /// If `w >= num_workers()` or `bucket >= poll_time_histogram_num_buckets()`.
    pub fn poll_time_histogram_bucket_count(&self, w: usize, bucket: usize) -> u64 {
        self.workers()[w].poll_times.count(bucket)
    }

    /// Tasks in worker `w`'s local queue right now (multi-thread scheduler).
    pub fn worker_local_queue_depth(&self, w: usize) -> usize {
        match &self.handle.inner {
            Scheduler::Multi(s) => s.local_queue_depth(w),
            Scheduler::Current(s) => s.local_queue_depth(),
        }
    }
}
