//! `BlockingTask`: a closure dressed as a future, so a blocking job is an ordinary
//! tern task (same `JoinHandle`, abort, panic capture, registry).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context;
use crate::coop::Budget;

/// A future whose first poll runs `func` to completion and returns its result.
///
/// It never returns `Pending`, so the task it lives in goes from "queued" to
/// "complete" in one poll: an abort either lands before that poll (the closure is
/// dropped unrun) or is too late (the closure runs to the end).
pub(crate) struct BlockingTask<F> {
    func: Option<F>,
}

impl<F> BlockingTask<F> {
    pub(crate) fn new(func: F) -> BlockingTask<F> {
        BlockingTask { func: Some(func) }
    }
}

// The closure is never pinned: it is moved out and called by value.
impl<F> Unpin for BlockingTask<F> {}

impl<F, R> Future for BlockingTask<F>
where
    F: FnOnce() -> R,
{
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let func = self.func.take().expect("a blocking task was polled after it completed");
        // A blocking job may drive runtime resources in a loop (a nested
        // `block_on`, say); the co-operative budget of the task poll must not
        // make them yield, since nothing here can yield.
        Poll::Ready(context::with_budget(Budget::unconstrained(), func))
    }
}
