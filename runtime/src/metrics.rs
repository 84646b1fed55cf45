//! Runtime counters (`RuntimeMetrics`).
//!
//! Per-worker counters are written by their worker alone (a relaxed load + store,
//! no read-modify-write on the hot path) and read by anyone.

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
}

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

    /// Tasks in worker `w`'s local queue right now (multi-thread scheduler).
    pub fn worker_local_queue_depth(&self, w: usize) -> usize {
        match &self.handle.inner {
            Scheduler::Multi(s) => s.local_queue_depth(w),
            Scheduler::Current(s) => s.local_queue_depth(),
        }
    }
}
