//! [`Interval`]: ticks at a fixed period, with tokio's missed-tick behaviours.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::driver::{far_future, Handle};
use super::sleep::Sleep;

/// How late a tick may be (after its scheduled instant) before it counts as missed and the
/// [`MissedTickBehavior`] applies; the same 5 ms as tokio.
const MISSED_AFTER: Duration = Duration::from_millis(5);

/// An [`Interval`] ticking every `period`, with its first tick completing immediately, on the
/// current thread's timer driver. Same as `interval_at(Instant::now(), period)`.
///
/// # Panics
///
/// Panics if `period` is zero, or if the thread has no current timer driver (see
/// [`Handle::current`]).
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// An [`Interval`] whose first tick completes at `start` and then every `period`, on the
/// current thread's timer driver.
///
/// # Panics
///
/// Panics if `period` is zero, or if the thread has no current timer driver (see
/// [`Handle::current`]).
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "`period` must be non-zero.");
    Interval {
        delay: Sleep::new(Handle::current(), start),
        period,
        missed_tick_behavior: MissedTickBehavior::default(),
    }
}

/// What an [`Interval`] does when a tick is completed more than 5 ms after its scheduled
/// instant (the consumer was slow, or the thread was busy), with tokio's semantics.
///
/// The late tick itself always completes at once and returns its *scheduled* instant; the
/// behaviour decides the schedule after it. Example, period 10 ms, ticks scheduled at 0, 10,
/// 20, ... ms, and the tick at 10 ms polled only at 35 ms:
///
/// | behaviour | ticks complete at (ms) | instants returned (ms) |
/// | --- | --- | --- |
/// | `Burst` | 35, 35, 35, 40, 50 | 10, 20, 30, 40, 50 |
/// | `Delay` | 35, 45, 55 | 10, 45, 55 |
/// | `Skip` | 35, 40, 50 | 10, 40, 50 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MissedTickBehavior {
    /// Catch up: the missed ticks complete immediately, one per call, until the schedule is
    /// back on time; the original schedule (`start + k * period`) is kept. The default.
    #[default]
    Burst,
    /// Restart the schedule from the late tick: the next tick is scheduled `period` after the
    /// moment the late tick completed, and later ones every `period` after that.
    Delay,
    /// Drop the missed ticks: the next tick is the first instant of the original schedule
    /// after the moment the late tick completed.
    Skip,
}

impl MissedTickBehavior {
    /// The next scheduled instant after the tick scheduled at `timeout` completed, late, at
    /// `now`.
    fn next_timeout(self, timeout: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => timeout.checked_add(period).unwrap_or_else(far_future),
            MissedTickBehavior::Delay => now.checked_add(period).unwrap_or_else(far_future),
            MissedTickBehavior::Skip => {
                let late = (now - timeout).as_nanos() % period.as_nanos();
                // `late < period`; it fits in a u64 unless the period exceeds ~584 years, in
                // which case saturate rather than panic.
                let late = Duration::from_nanos(u64::try_from(late).unwrap_or(u64::MAX));
                now.checked_add(period - late.min(period)).unwrap_or_else(far_future)
            }
        }
    }
}

/// Ticks at a fixed period; created by [`interval`] or [`interval_at`].
///
/// [`tick`](Interval::tick) completes at each scheduled instant and returns it (the scheduled
/// instant, not the moment it completed). When a tick is late, the
/// [`MissedTickBehavior`] (default [`Burst`](MissedTickBehavior::Burst)) decides the rest of
/// the schedule. The underlying [`Sleep`] registers lazily: a tick that is already due
/// completes without touching the timer wheel.
///
/// `Send`, `Sync` and `Unpin`.
pub struct Interval {
    /// Completes at the next scheduled tick.
    delay: Sleep,
    period: Duration,
    missed_tick_behavior: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    ///
    /// Cancel safe: dropping the returned future before it completes loses no tick.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick: `Ready(scheduled instant)` if it is due, otherwise `Pending`
    /// with `cx`'s waker registered to be woken when it is. Only the waker of the last call
    /// is woken.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.delay).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let timeout = self.delay.deadline();
        let now = Instant::now();
        let next = if now.saturating_duration_since(timeout) > MISSED_AFTER {
            self.missed_tick_behavior.next_timeout(timeout, now, self.period)
        } else {
            timeout.checked_add(self.period).unwrap_or_else(far_future)
        };
        // The delay has completed, so its entry is gone from the wheel: this only stores the
        // new deadline, and the next poll registers it (or completes at once if it is due).
        Pin::new(&mut self.delay).reset(next);
        Poll::Ready(timeout)
    }

    /// Restarts the schedule so that the next tick is one `period` from now.
    pub fn reset(&mut self) {
        self.reset_at(Instant::now().checked_add(self.period).unwrap_or_else(far_future));
    }

    /// Restarts the schedule so that the next tick completes immediately.
    pub fn reset_immediately(&mut self) {
        self.reset_at(Instant::now());
    }

    /// Restarts the schedule so that the next tick is at `deadline`, then every `period`.
    pub fn reset_at(&mut self, deadline: Instant) {
        Pin::new(&mut self.delay).reset(deadline);
    }

    /// The missed-tick behaviour in effect.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed_tick_behavior
    }

    /// Sets the missed-tick behaviour; it applies from the next late tick.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed_tick_behavior = behavior;
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("next", &self.delay.deadline())
            .field("period", &self.period)
            .field("missed_tick_behavior", &self.missed_tick_behavior)
            .finish()
    }
}
