//! The task state word: lifecycle flags and the reference count in one `AtomicUsize`.
//!
//! Bits 0..5 are flags, the rest counts references (`REF_ONE` each). Every
//! transition is one compare-and-swap loop, so a flag change and the reference it
//! implies can never be observed apart. References are held by: the `JoinHandle`,
//! each `AbortHandle`, the owned-task registry, each `Waker`, and a `Notified`
//! sitting in a run queue (which becomes the running reference while it is polled).

use crate::loom::{AtomicUsize, Ordering::*};

/// The future is being polled (or cancelled) by exactly one thread.
const RUNNING: usize = 1 << 0;
/// The output (or failure) is stored; the future is gone.
const COMPLETE: usize = 1 << 1;
/// The task is, or will be, in a run queue. Set by a wake while idle or running.
const NOTIFIED: usize = 1 << 2;
/// A `JoinHandle` still wants the output.
const JOIN_INTEREST: usize = 1 << 3;
/// `abort()` or runtime shutdown asked the task to stop.
const CANCELLED: usize = 1 << 4;

const REF_SHIFT: usize = 5;
const REF_ONE: usize = 1 << REF_SHIFT;

/// Initial state: three references (JoinHandle, registry, first `Notified`), notified,
/// with join interest.
const INITIAL: usize = (3 * REF_ONE) | NOTIFIED | JOIN_INTEREST;

pub(crate) struct State(AtomicUsize);

/// A snapshot of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

impl Snapshot {
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("join_interest", &self.is_join_interested())
            .field("cancelled", &self.is_cancelled())
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// What a `Notified` may do when a worker picks it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// Poll the future.
    Poll,
    /// The task was aborted: drop the future and complete as cancelled.
    Cancel,
    /// Someone else owns or finished the task: just drop this reference.
    /// `true` when it was the last.
    Skip(bool),
}

/// What the poller does after the future returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Idle; the running reference was released (`true`: it was the last).
    Idle(bool),
    /// Woken while running: the running reference becomes a new `Notified`.
    Notified,
    /// Aborted while running: cancel now, still holding the running reference.
    Cancel,
}

/// What a wake asks of the scheduler.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WakeAction {
    Nothing,
    /// Push a new `Notified` (its reference is already counted).
    Submit,
    /// The waker held the last reference: free the task.
    Dealloc,
}

impl State {
    pub(crate) fn new() -> State {
        State(AtomicUsize::new(INITIAL))
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Acquire))
    }

    /// CAS loop applying `f`; `f` returns `None` to leave the word unchanged.
    fn update<R>(&self, mut f: impl FnMut(usize) -> (Option<usize>, R)) -> R {
        let mut cur = self.0.load(Acquire);
        loop {
            let (next, ret) = f(cur);
            let Some(next) = next else { return ret };
            match self.0.compare_exchange_weak(cur, next, AcqRel, Acquire) {
                Ok(_) => return ret,
                Err(actual) => cur = actual,
            }
        }
    }

    /// A worker picked a `Notified`: claim `RUNNING` and clear `NOTIFIED`.
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.update(|s| {
            debug_assert!(s & NOTIFIED != 0 || s & (RUNNING | COMPLETE) != 0);
            if s & (RUNNING | COMPLETE) != 0 {
                // Shutdown claimed or finished the task while this reference waited.
                let next = s - REF_ONE;
                return (Some(next), ToRunning::Skip(next >> REF_SHIFT == 0));
            }
            let next = (s | RUNNING) & !NOTIFIED;
            let action = if s & CANCELLED != 0 { ToRunning::Cancel } else { ToRunning::Poll };
            (Some(next), action)
        })
    }

    /// The future returned `Pending`.
    pub(crate) fn transition_to_idle(&self) -> ToIdle {
        self.update(|s| {
            debug_assert!(s & RUNNING != 0);
            if s & CANCELLED != 0 {
                return (None, ToIdle::Cancel);
            }
            let mut next = s & !RUNNING;
            if s & NOTIFIED != 0 {
                // Keep the running reference: it moves into the new Notified.
                (Some(next), ToIdle::Notified)
            } else {
                next -= REF_ONE;
                (Some(next), ToIdle::Idle(next >> REF_SHIFT == 0))
            }
        })
    }

    /// The output is stored: `RUNNING` -> `COMPLETE`. Returns the prior state, whose
    /// `JOIN_INTEREST` says whether a `JoinHandle` will read the output.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        let prev = Snapshot(self.0.fetch_xor(RUNNING | COMPLETE, AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete());
        prev
    }

    /// `Waker::wake` (consumes the waker's reference).
    pub(crate) fn wake_by_val(&self) -> WakeAction {
        self.update(|s| {
            if s & RUNNING != 0 {
                // The poller will reschedule; it holds a reference, so ours is not last.
                (Some((s | NOTIFIED) - REF_ONE), WakeAction::Nothing)
            } else if s & (COMPLETE | NOTIFIED) != 0 {
                let next = s - REF_ONE;
                let action = if next >> REF_SHIFT == 0 { WakeAction::Dealloc } else { WakeAction::Nothing };
                (Some(next), action)
            } else {
                // Idle: our reference becomes the Notified's.
                (Some(s | NOTIFIED), WakeAction::Submit)
            }
        })
    }

    /// `Waker::wake_by_ref` (the waker keeps its reference).
    pub(crate) fn wake_by_ref(&self) -> WakeAction {
        self.update(|s| {
            if s & RUNNING != 0 {
                if s & NOTIFIED != 0 {
                    (None, WakeAction::Nothing)
                } else {
                    (Some(s | NOTIFIED), WakeAction::Nothing)
                }
            } else if s & (COMPLETE | NOTIFIED) != 0 {
                (None, WakeAction::Nothing)
            } else {
                (Some((s | NOTIFIED) + REF_ONE), WakeAction::Submit)
            }
        })
    }

    /// `JoinHandle::abort`. Returns `true` when the caller must submit a new
    /// `Notified` (whose reference this transition counted).
    pub(crate) fn transition_to_notified_and_cancel(&self) -> bool {
        self.update(|s| {
            if s & (CANCELLED | COMPLETE) != 0 {
                (None, false)
            } else if s & (RUNNING | NOTIFIED) != 0 {
                // The poller, or the queued Notified, will see CANCELLED.
                (Some(s | CANCELLED | NOTIFIED), false)
            } else {
                (Some((s | CANCELLED | NOTIFIED) + REF_ONE), true)
            }
        })
    }

    /// Runtime shutdown: mark cancelled, and claim `RUNNING` if the task is idle.
    /// Returns `true` when the caller now owns the future and must cancel it.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.update(|s| {
            if s & (RUNNING | COMPLETE) != 0 {
                // A poller will see CANCELLED at its next transition_to_idle.
                let next = s | CANCELLED;
                (if next == s { None } else { Some(next) }, false)
            } else {
                (Some(s | CANCELLED | RUNNING), true)
            }
        })
    }

    /// `JoinHandle` dropped. `Err` when the task already completed: the handle must
    /// then drop the output itself.
    pub(crate) fn unset_join_interested(&self) -> Result<(), ()> {
        self.update(|s| {
            debug_assert!(s & JOIN_INTEREST != 0);
            if s & COMPLETE != 0 {
                (None, Err(()))
            } else {
                (Some(s & !JOIN_INTEREST), Ok(()))
            }
        })
    }

    pub(crate) fn ref_inc(&self) {
        let prev = self.0.fetch_add(REF_ONE, Relaxed);
        // Stop before the count could wrap into the flag bits.
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Drops `n` references; `true` when they were the last.
    pub(crate) fn ref_dec_n(&self, n: usize) -> bool {
        let prev = self.0.fetch_sub(n * REF_ONE, AcqRel);
        debug_assert!(prev >> REF_SHIFT >= n, "task reference count underflow");
        prev >> REF_SHIFT == n
    }

    pub(crate) fn ref_dec(&self) -> bool {
        self.ref_dec_n(1)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn spawn_poll_pending_wake_poll_ready() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        // A waker clone (+1) is woken while running: no submit, reference consumed.
        s.ref_inc();
        assert_eq!(s.wake_by_val(), WakeAction::Nothing);
        assert!(s.load().is_notified());
        assert_eq!(s.transition_to_idle(), ToIdle::Notified);
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle(false));
        assert_eq!(s.load().ref_count(), 2);
        assert_eq!(s.wake_by_ref(), WakeAction::Submit);
        assert_eq!(s.load().ref_count(), 3);
        assert_eq!(s.wake_by_ref(), WakeAction::Nothing, "already notified");
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        let prev = s.transition_to_complete();
        assert!(prev.is_join_interested());
        assert!(s.load().is_complete() && !s.load().is_running());
        assert_eq!(s.unset_join_interested(), Err(()));
        assert!(!s.ref_dec_n(2));
        assert!(s.ref_dec());
    }

    #[test]
    fn abort_idle_running_and_complete() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert!(!s.transition_to_notified_and_cancel(), "running: poller cancels");
        assert_eq!(s.transition_to_idle(), ToIdle::Cancel);
        s.transition_to_complete();
        assert!(!s.transition_to_notified_and_cancel(), "complete: nothing to do");

        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle(false));
        assert!(s.transition_to_notified_and_cancel(), "idle: submit");
        assert_eq!(s.transition_to_running(), ToRunning::Cancel);
    }

    #[test]
    fn shutdown_claims_only_idle_tasks() {
        let s = State::new();
        // Idle and notified (queued): shutdown claims it, the queued Notified skips.
        assert!(s.transition_to_shutdown());
        assert_eq!(s.transition_to_running(), ToRunning::Skip(false));
        s.transition_to_complete();
        assert!(!s.transition_to_shutdown());

        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert!(!s.transition_to_shutdown(), "running elsewhere");
        assert_eq!(s.transition_to_idle(), ToIdle::Cancel);
    }

    #[test]
    fn last_waker_deallocates() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        s.ref_inc(); // a waker
        s.transition_to_complete();
        assert!(!s.ref_dec_n(2)); // running + registry references
        assert_eq!(s.unset_join_interested(), Err(()));
        assert!(!s.ref_dec()); // join handle
        assert_eq!(s.wake_by_val(), WakeAction::Dealloc);
    }
}
