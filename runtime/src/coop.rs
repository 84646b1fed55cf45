//! Co-operative scheduling budget.
//!
//! Each task poll starts with [`BUDGET`] units. Runtime resources (join handles
//! here; channels, sockets and timers in later crates) spend one unit per ready
//! result through [`poll_proceed`], and return `Pending` (after waking the task)
//! once the budget is spent, so a task that always finds its resources ready still
//! gives the worker back. The task is requeued behind the work already waiting.
//! The idea and the figure of 128 follow tokio's `coop` module.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context;

/// Units of work a task may do in one poll before runtime resources yield.
pub const BUDGET: u8 = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget(Option<u8>);

impl Budget {
    pub(crate) const fn initial() -> Budget {
        Budget(Some(BUDGET))
    }
    pub(crate) const fn unconstrained() -> Budget {
        Budget(None)
    }
}

/// Proof that one unit was spent; gives it back on drop unless progress was made.
#[must_use]
pub struct RestoreOnPending(Budget);

impl RestoreOnPending {
    /// The resource produced a result: keep the unit spent.
    pub fn made_progress(mut self) {
        self.0 = Budget::unconstrained();
    }
}

impl Drop for RestoreOnPending {
    fn drop(&mut self) {
        if let Budget(Some(_)) = self.0 {
            context::set_budget(self.0);
        }
    }
}

/// Spends one unit of the running task's budget, or returns `Pending` (and wakes
/// the task so it is polled again later) when none is left.
///
/// Runtime resources call this before doing work and call
/// [`RestoreOnPending::made_progress`] when they return `Ready`.
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    let budget = context::budget();
    match budget.0 {
        None => Poll::Ready(RestoreOnPending(Budget::unconstrained())),
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            context::set_budget(Budget(Some(n - 1)));
            Poll::Ready(RestoreOnPending(budget))
        }
    }
}

/// `true` when the running task may still do work before it should yield.
pub fn has_budget_remaining() -> bool {
    context::budget().0 != Some(0)
}

/// Spends one unit of budget, yielding first if none is left. For loops that do
/// work without touching runtime resources.
pub async fn consume_budget() {
    std::future::poll_fn(|cx| poll_proceed(cx).map(RestoreOnPending::made_progress)).await
}

/// Runs `future` with no budget: runtime resources inside never force a yield.
pub fn unconstrained<F: Future>(future: F) -> Unconstrained<F> {
    Unconstrained { future }
}

/// Future returned by [`unconstrained`].
#[must_use = "futures do nothing unless polled"]
pub struct Unconstrained<F> {
    future: F,
}

impl<F: Future> Future for Unconstrained<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: structural pinning; `future` is never moved.
        let future = unsafe { self.map_unchecked_mut(|u| &mut u.future) };
        context::with_budget(Budget::unconstrained(), || future.poll(cx))
    }
}
