//! hyper's `Timer` on tern's timer wheel.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::time::{Handle, Sleep};

/// [`hyper::rt::Timer`] on a tern timer driver ([`crate::time::Handle`]).
///
/// `reset` re-arms the sleep's wheel entry in place ([`Sleep::reset`]) when the sleep is
/// one of ours, which it always is when hyper got it from this timer.
#[derive(Clone, Debug)]
pub struct HyperTimer {
    handle: Handle,
}

impl HyperTimer {
    /// A timer on this thread's current timer driver (a tern runtime thread, or inside
    /// [`Handle::enter`]).
    ///
    /// # Panics
    /// When no timer driver is current on this thread; see [`HyperTimer::with_handle`].
    #[track_caller]
    pub fn new() -> HyperTimer {
        HyperTimer { handle: Handle::current() }
    }

    /// A timer on the driver `handle`.
    pub fn with_handle(handle: Handle) -> HyperTimer {
        HyperTimer { handle }
    }
}

impl Default for HyperTimer {
    fn default() -> Self {
        HyperTimer::new()
    }
}

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep { inner: self.handle.sleep(duration) })
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep { inner: self.handle.sleep_until(deadline) })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(ours) => ours.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// The sleep [`HyperTimer`] hands to hyper: a [`Sleep`] on tern's wheel.
#[derive(Debug)]
pub struct HyperSleep {
    inner: Sleep,
}

impl HyperSleep {
    /// Re-arms the same wheel entry for `deadline` (see [`Sleep::reset`]).
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        Pin::new(&mut self.get_mut().inner).reset(deadline)
    }

    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.inner.deadline()
    }
}

impl Future for HyperSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().inner).poll(cx)
    }
}

impl hyper::rt::Sleep for HyperSleep {}
