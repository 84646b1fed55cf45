//! [`Timeout`]: a future with a deadline.

use std::error::Error;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::driver::{deadline_after, Handle};
use super::sleep::Sleep;

/// Runs `future` with a time limit of `duration` from now, on the current thread's timer
/// driver: the returned [`Timeout`] yields `Ok(output)` if `future` completes first, and
/// `Err(Elapsed)` once the limit has passed (dropping `future` is then up to the caller,
/// who drops the `Timeout`). A duration that overflows `Instant` means "about 30 years".
///
/// The inner future is always polled first, so one that is ready on its first poll
/// completes `Ok` even with a zero `duration`.
///
/// # Panics
///
/// Panics if the thread has no current timer driver (see [`Handle::current`]).
#[track_caller]
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    Timeout::new(future.into_future(), Sleep::new(Handle::current(), deadline_after(duration)))
}

/// Like [`timeout`], with the limit given as a `deadline` instant.
///
/// # Panics
///
/// Panics if the thread has no current timer driver (see [`Handle::current`]).
#[track_caller]
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout::new(future.into_future(), Sleep::new(Handle::current(), deadline))
}

/// The error of a [`Timeout`] whose deadline passed before its future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

/// A future with a time limit; created by [`timeout`] or [`timeout_at`].
///
/// Output: `Ok(F::Output)` if the inner future completes first (it is polled first on every
/// poll), `Err(`[`Elapsed`]`)` otherwise. Its timer registers lazily on the first pending
/// poll and is removed when the `Timeout` is dropped, like a [`Sleep`].
///
/// `Send` if `F` is; `Unpin` if `F` is.
#[must_use = "futures do nothing unless polled"]
pub struct Timeout<F> {
    /// Structurally pinned (see `project`).
    future: F,
    /// Not structurally pinned (`Sleep` is `Unpin`).
    delay: Sleep,
}

impl<F> Timeout<F> {
    fn new(future: F, delay: Sleep) -> Timeout<F> {
        Timeout { future, delay }
    }

    /// The inner future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The inner future, mutably (only reachable while the `Timeout` is not pinned, or is
    /// `Unpin`).
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// Consumes the `Timeout` (removing its timer) and returns the inner future.
    pub fn into_inner(self) -> F {
        self.future
    }

    /// The deadline after which this `Timeout` yields [`Elapsed`].
    pub fn deadline(&self) -> Instant {
        self.delay.deadline()
    }

    fn project(self: Pin<&mut Self>) -> (Pin<&mut F>, &mut Sleep) {
        // SAFETY: pin projection. `future` is structurally pinned: we never move it out of a
        // pinned `Timeout` (`into_inner` and `get_mut` need the unpinned value or `&mut
        // Self`), `Timeout` has no `Drop` impl, and the auto `Unpin` impl requires `F: Unpin`.
        // `delay` is not structurally pinned: we hand out a plain `&mut Sleep`, which is
        // sound because nothing else relies on its address (and `Sleep: Unpin`).
        unsafe {
            let this = self.get_unchecked_mut();
            (Pin::new_unchecked(&mut this.future), &mut this.delay)
        }
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (future, delay) = self.project();
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(delay).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F: fmt::Debug> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout").field("future", &self.future).field("delay", &self.delay).finish()
    }
}
