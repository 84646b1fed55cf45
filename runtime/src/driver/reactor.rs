//! The real driver: `tern_reactor`'s I/O event loop plus its timer wheel.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_reactor::{io, time};

use super::Enable;

/// The I/O event loop and the timers, driven by whichever thread parks in it.
pub struct Driver {
    io: io::Driver,
    time: Option<time::Handle>,
}

/// Wakes the driver and carries the reactor handles tasks use.
#[derive(Clone)]
pub struct DriverHandle {
    /// Wakes a thread blocked in `Driver::park` (always present).
    waker: io::Handle,
    /// The handle I/O resources register with, when I/O is enabled.
    io: Option<io::Handle>,
    /// The timer handle, when timers are enabled.
    time: Option<time::Handle>,
}

impl Driver {
    /// A new driver (an `epoll` instance and its waker, plus a timer wheel when
    /// `enable.time`).
    ///
    /// # Errors
    /// The OS error when the poller cannot be created (e.g. out of descriptors).
    pub(crate) fn new(enable: Enable) -> std::io::Result<(Driver, DriverHandle)> {
        let (io_driver, waker) = io::Driver::new()?;
        let time = enable.time.then(|| {
            let handle = time::Driver::new().handle().clone();
            let unpark = waker.clone();
            // A timer armed earlier than the parked driver planned to wake:
            // interrupt the wait (the mio waker is sticky, so a wake before the
            // park is not lost).
            handle.set_unpark(Arc::new(move || {
                let _ = unpark.unpark();
            }));
            handle
        });
        let io = enable.io.then(|| waker.clone());
        Ok((Driver { io: io_driver, time: time.clone() }, DriverHandle { waker, io, time }))
    }

    /// Blocks until an I/O event, an unpark, the next timer deadline or
    /// `timeout` (`None`: no limit; zero: do not block), then dispatches the
    /// I/O events and fires the due timers, waking their tasks.
    ///
    /// # Panics
    /// When the OS poller fails (not `EINTR`): the runtime cannot go on.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) {
        let timeout = match self.time.as_ref().and_then(time::Handle::next_expiration) {
            Some(at) => {
                let until = at.saturating_duration_since(Instant::now());
                Some(timeout.map_or(until, |t| t.min(until)))
            }
            None => timeout,
        };
        if let Err(e) = self.io.turn(timeout) {
            panic!("the tern I/O driver failed: {e}");
        }
        if let Some(time) = &self.time {
            time.process();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(time) = &self.time {
            time.clear_unpark();
        }
    }
}

impl DriverHandle {
    /// Wakes the thread parked in the driver, or makes the next park return.
    pub(crate) fn unpark(&self) {
        let _ = self.waker.unpark();
    }

    /// The I/O handle, when the runtime enabled I/O.
    pub(crate) fn io(&self) -> Option<&io::Handle> {
        self.io.as_ref()
    }

    /// The timer handle, when the runtime enabled timers.
    pub(crate) fn time(&self) -> Option<&time::Handle> {
        self.time.as_ref()
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").field("time", &self.time.is_some()).finish_non_exhaustive()
    }
}

impl fmt::Debug for DriverHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverHandle")
            .field("io", &self.io.is_some())
            .field("time", &self.time.is_some())
            .finish()
    }
}
