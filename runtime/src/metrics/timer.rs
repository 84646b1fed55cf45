//! A worker's clock for busy time and the poll-time histogram.
//!
//! Busy time is measured around batches of polls, not per poll: the clock is
//! read when a worker starts polling after it parked, then again when it parks
//! (or every `event_interval` ticks, at its periodic look at the driver, so a
//! worker that never parks still reports). A worker that wakes, finds nothing
//! and parks again reads no clock at all. The histogram needs one clock read per
//! poll (chained: each poll ends where the next starts), so it is off unless
//! `Builder::enable_metrics_poll_time_histogram` turned it on.

use std::time::Instant;

use super::WorkerMetrics;

/// Owned by the worker (in its core, or on `block_on`'s stack).
#[derive(Debug)]
pub(crate) struct WorkerTimer {
    /// Start of the busy period not yet added to the metrics.
    busy_since: Option<Instant>,
    histogram: bool,
}

impl WorkerTimer {
    pub(crate) fn new(histogram: bool) -> WorkerTimer {
        WorkerTimer { busy_since: None, histogram }
    }

    /// About to poll a batch of tasks. Returns the batch start when the
    /// histogram is on (feed it to [`WorkerTimer::poll_done`]).
    #[inline]
    pub(crate) fn batch_start(&mut self) -> Option<Instant> {
        if self.histogram {
            let now = Instant::now();
            self.busy_since.get_or_insert(now);
            Some(now)
        } else {
            if self.busy_since.is_none() {
                self.busy_since = Some(Instant::now());
            }
            None
        }
    }

    /// A poll of the batch returned: records its duration in the histogram and
    /// makes its end the next poll's start. Free when the histogram is off.
    #[inline]
    pub(crate) fn poll_done(m: &WorkerMetrics, start: &mut Option<Instant>) {
        if let Some(s) = start {
            let now = Instant::now();
            m.poll_times.record(now.saturating_duration_since(*s).as_nanos() as u64);
            *s = now;
        }
    }

    /// Adds the busy time so far to the metrics; the worker is still busy.
    #[inline]
    pub(crate) fn checkpoint(&mut self, m: &WorkerMetrics) {
        if let Some(since) = self.busy_since {
            let now = Instant::now();
            super::add(&m.busy_nanos, now.saturating_duration_since(since).as_nanos() as u64);
            self.busy_since = Some(now);
        }
    }

    /// The worker is about to park (or stop): ends the busy period.
    #[inline]
    pub(crate) fn idle(&mut self, m: &WorkerMetrics) {
        if let Some(since) = self.busy_since.take() {
            super::add(&m.busy_nanos, since.elapsed().as_nanos() as u64);
        }
    }
}
