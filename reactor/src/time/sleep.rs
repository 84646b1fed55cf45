//! [`Sleep`]: a future that completes at a deadline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::driver::{deadline_after, Handle};
use super::wheel::TimerKey;

/// Waits until `duration` has elapsed, on the current thread's timer driver.
///
/// Equivalent to `sleep_until(Instant::now() + duration)`; a duration that overflows
/// `Instant` (such as `Duration::MAX`) means "about 30 years". The deadline is fixed when
/// this is called, not when the `Sleep` is first polled. The sleep never completes before
/// its deadline; it completes once the driver's [`process`](Handle::process) runs at or after
/// it (the deadline is rounded up to the next whole millisecond of the driver's clock).
///
/// # Panics
///
/// Panics if the thread has no current timer driver (see [`Handle::current`]).
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::new(Handle::current(), deadline_after(duration))
}

/// Waits until `deadline`, on the current thread's timer driver. A deadline in the past
/// completes on the first poll, without touching the timer wheel.
///
/// # Panics
///
/// Panics if the thread has no current timer driver (see [`Handle::current`]).
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(Handle::current(), deadline)
}

/// A future that completes (with `()`) at its deadline; created by [`sleep`],
/// [`sleep_until`], [`Handle::sleep`] or [`Handle::sleep_until`].
///
/// Lifecycle: a new `Sleep` is not in the timer wheel. Its first poll registers it (unless
/// the deadline has already passed: then it completes at once), storing the polling task's
/// waker; later pending polls replace that waker if it would not wake the same task. When
/// the driver fires the entry it removes it from the wheel and wakes the waker; the next
/// poll sees the entry gone and completes. Dropping a registered, unfired `Sleep` removes its
/// entry, so a dropped sleep's waker is never called afterwards, except in the race below.
///
/// Fire racing drop: firing (in [`Handle::process`]) removes the entry under the wheel's
/// lock, and drop removes it under the same lock by key; a key whose entry already fired is
/// stale and its removal is a no-op (the key's generation is never reused). So exactly one of
/// the two removes the entry. If firing wins, the waker may still be woken (outside the lock)
/// just after the `Sleep` was dropped: a spurious wake-up, which a waker must tolerate.
///
/// Reset: moving the deadline *earlier* re-arms the wheel entry in place under the lock.
/// Moving it *later* (hyper's keep-alive and header timers, re-armed on every request) only
/// records the new deadline, without the lock: the entry fires at the old time, the woken
/// task's poll finds the deadline not reached and re-arms the entry for the new one. A run of
/// later resets therefore costs one wheel operation per old deadline that actually passes,
/// not one per reset.
///
/// `Sleep` is `Send`, `Sync` and `Unpin` (it holds a handle, its deadline and its key).
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    handle: Handle,
    deadline: Instant,
    /// The wheel entry, once registered (first pending poll) and until completion is seen.
    key: Option<TimerKey>,
    /// The millisecond (of the driver's clock) the entry is armed at; at most
    /// `deadline`'s (a later reset leaves the entry where it was).
    armed_ms: u64,
    /// Set once a poll returned `Ready`; cleared by `reset`.
    elapsed: bool,
}

impl Sleep {
    pub(crate) fn new(handle: Handle, deadline: Instant) -> Sleep {
        Sleep { handle, deadline, key: None, armed_ms: 0, elapsed: false }
    }

    /// The instant this sleep completes at (or after).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether this sleep has elapsed: a poll returned `Ready`, or the driver has fired its
    /// registered entry and the deadline (which a later reset may have moved past the entry's
    /// time) has passed. A sleep that was never polled reports `false` even past its deadline
    /// (it is not in the wheel until its first poll). Takes the timer lock when registered.
    pub fn is_elapsed(&self) -> bool {
        self.elapsed
            || self.key.is_some_and(|key| {
                !self.handle.is_armed(key) && self.handle.deadline_ms(self.deadline) <= self.armed_ms
            })
    }

    /// The driver this sleep runs on.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Re-arms this sleep to complete at `deadline` instead, earlier or later, whether or not
    /// it has elapsed. `O(1)`; no allocation.
    ///
    /// For a registered entry, the task waiting on it needs no new poll: an earlier deadline
    /// moves the entry in place in the wheel, keeping its waker (and may call the driver's
    /// unpark hook, see [`Handle::set_unpark`]); a later one is only recorded, and the entry,
    /// firing at its old time, wakes the task, whose poll re-arms it for the new deadline (see
    /// the type's docs). This is what hyper's `Timer::reset` needs. Otherwise (never polled,
    /// or already fired or completed) the sleep is registered again on its next poll.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.deadline = deadline;
        this.elapsed = false;
        if let Some(key) = this.key {
            let ms = this.handle.deadline_ms(deadline);
            if ms >= this.armed_ms {
                // Later (or the same millisecond): the entry fires first, the poll re-arms.
                return;
            }
            if this.handle.reset(key, ms) {
                this.armed_ms = ms;
            } else {
                // Fired since the last poll: the key is stale; register afresh on next poll.
                this.key = None;
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.elapsed {
            return Poll::Ready(());
        }
        if let Some(key) = this.key {
            if this.handle.update_waker(key, cx.waker()) {
                return Poll::Pending;
            }
            // The driver fired (and removed) the entry, so the clock reached `armed_ms`:
            // done, unless a later reset moved the deadline past it (then re-arm below).
            this.key = None;
            if this.handle.deadline_ms(this.deadline) <= this.armed_ms {
                this.elapsed = true;
                return Poll::Ready(());
            }
        }
        if Instant::now() >= this.deadline {
            this.elapsed = true;
            return Poll::Ready(());
        }
        let ms = this.handle.deadline_ms(this.deadline);
        this.key = Some(this.handle.insert(ms, cx.waker().clone()));
        this.armed_ms = ms;
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            // No-op if the entry already fired (stale key); see the type's docs.
            self.handle.remove(key);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.key.is_some())
            .field("elapsed", &self.elapsed)
            .finish_non_exhaustive()
    }
}
