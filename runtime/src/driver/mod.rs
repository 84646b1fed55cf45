//! The driver an idle runtime thread waits in: the reactor's I/O event loop
//! (`tern_reactor::io::Driver`) and its timers (`tern_reactor::time::Handle`).
//!
//! One [`Driver`] per runtime, behind a try-lock in [`SharedDriver`]. A thread
//! that runs out of work parks through its [`Parker`](crate::park::Parker): if it
//! wins the try-lock it blocks inside `epoll_wait` with the next timer deadline as
//! timeout (and fires the due timers when it wakes); otherwise it waits on its
//! condition variable. Waking a thread parked in the driver goes through the
//! `mio::Waker` ([`DriverHandle::unpark`]); so does a timer armed earlier than the
//! driver planned to wake (the time handle's unpark hook). A busy worker polls the
//! driver without blocking every `event_interval` ticks ([`SharedDriver::maintain`]),
//! and a worker that leaves the driver to run tasks hands it to a sleeping worker
//! (`multi_thread::worker::park`), so events and timers never wait behind a long
//! poll while another thread is idle.
//!
//! The I/O driver exists in every runtime (it is also the parking primitive); the
//! reactor handles that tasks see ([`DriverHandle::io`], [`DriverHandle::time`])
//! are only set when the builder enabled them. Under `--cfg loom` the driver is
//! a model (`mock.rs`) with the same API: a sticky flag on a condition variable.

#[cfg(loom)]
mod mock;
#[cfg(not(loom))]
mod reactor;

#[cfg(loom)]
pub use self::mock::{Driver, DriverHandle};
#[cfg(not(loom))]
pub use self::reactor::{Driver, DriverHandle};

use std::time::Duration;

use crate::loom::Mutex;

/// What to build into a runtime's driver.
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(loom, allow(dead_code))] // the loom model ignores it
pub struct Enable {
    /// Expose the I/O handle to tasks.
    pub io: bool,
    /// Run a timer wheel and expose its handle.
    pub time: bool,
}

/// A runtime's driver, shared by the threads that may park in it.
#[derive(Debug)]
pub struct SharedDriver {
    /// `None` once the runtime shut down (dropping the driver fails every
    /// registration and wakes its tasks).
    driver: Mutex<Option<Driver>>,
    handle: DriverHandle,
}

impl SharedDriver {
    /// Wraps `driver`, whose handle is `handle`.
    pub fn new(driver: Driver, handle: DriverHandle) -> SharedDriver {
        SharedDriver { driver: Mutex::new(Some(driver)), handle }
    }

    /// The handle that wakes whoever is parked in the driver.
    pub fn handle(&self) -> &DriverHandle {
        &self.handle
    }

    /// Runs `f` with the driver if no other thread holds it; `None` if one does
    /// (or the driver was shut down).
    pub(crate) fn try_with<R>(&self, f: impl FnOnce(&mut Driver) -> R) -> Option<R> {
        let mut guard = self.driver.try_lock()?;
        guard.as_mut().map(f)
    }

    /// A busy thread's look at the driver: dispatches ready I/O events and fires
    /// due timers without blocking, unless another thread is parked in it.
    pub(crate) fn maintain(&self) {
        self.try_with(|d| d.park(Some(Duration::ZERO)));
    }

    /// Drops the driver (at runtime shutdown, once the threads that park in it
    /// are gone): pending and later I/O polls fail and their tasks are woken.
    /// Waits for a thread still parked in it to leave; the caller first
    /// unparks every thread.
    pub(crate) fn shutdown(&self) {
        let driver = self.driver.lock().take();
        drop(driver);
    }
}
