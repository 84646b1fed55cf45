//! [`shield`]: finish a future even if the caller stops waiting (asyncio's `shield`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::JoinHandle;
use crate::Handle;

/// Runs `future` to completion as a task of its own on the current runtime, so
/// that cancelling the caller (dropping the future that awaits the returned
/// [`Shield`]) does not cancel `future`: it keeps running, and its output is
/// dropped when it finishes. Awaiting the `Shield` gives `future`'s output.
///
/// The task is spawned at once (not on the first poll of the `Shield`).
///
/// **Runtime shutdown** cancels a shielded task like any other task: shielding
/// protects from the caller's cancellation, not from the runtime going away. Its
/// future is then dropped without completing, and a caller still awaiting the
/// `Shield` (only possible from outside that runtime) panics. A panic inside
/// `future` resumes in the caller that awaits it.
///
/// ```
/// use std::time::Duration;
/// use tern_runtime::task::shield;
/// use tern_reactor::time::{sleep, timeout};
///
/// tern_runtime::Runtime::new().unwrap().block_on(async {
///     let (tx, rx) = std::sync::mpsc::channel();
///     // The caller gives up after 10 ms; the shielded write still happens.
///     let r = timeout(Duration::from_millis(10), shield(async move {
///         sleep(Duration::from_millis(50)).await;
///         tx.send("committed").unwrap();
///     }))
///     .await;
///     assert!(r.is_err());
///     sleep(Duration::from_millis(100)).await;
///     assert_eq!(rx.try_recv(), Ok("committed"));
/// });
/// ```
///
/// # Panics
/// Outside a runtime context.
#[track_caller]
pub fn shield<F>(future: F) -> Shield<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Shield { handle: Handle::current().spawn(future) }
}

/// The future returned by [`shield`]; dropping it detaches the task.
#[must_use = "the shielded future runs anyway; await this to get its output"]
pub struct Shield<T> {
    handle: JoinHandle<T>,
}

impl<T> Shield<T> {
    /// `true` once the shielded future has finished.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl<T> Future for Shield<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.handle).poll(cx).map(|r| match r {
            Ok(v) => v,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("shielded future was cancelled by its runtime's shutdown: {e}"),
        })
    }
}

impl<T> fmt::Debug for Shield<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shield").field("task", &self.handle.id()).finish()
    }
}
