//! The loom model of the driver: parking blocks on a condition variable until a
//! sticky wake-up flag is set, which is what `epoll_wait` on a `mio::Waker`'s
//! eventfd does. Timeouts are ignored (loom has no clock), the stricter model.

use std::time::Duration;

use crate::loom::{Arc, Condvar, Mutex};

use super::Enable;

/// Model of the driver: a wake-up flag.
#[derive(Debug)]
pub struct Driver {
    inner: Arc<Inner>,
}

/// Model of the driver's handle.
#[derive(Clone, Debug)]
pub struct DriverHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    woken: Mutex<bool>,
    cvar: Condvar,
}

impl Driver {
    /// A model driver; `enable` is ignored.
    pub fn new(_: Enable) -> std::io::Result<(Driver, DriverHandle)> {
        let inner = Arc::new(Inner { woken: Mutex::new(false), cvar: Condvar::new() });
        Ok((Driver { inner: inner.clone() }, DriverHandle { inner }))
    }

    /// A model driver (for the loom models).
    pub fn new_model() -> (Driver, DriverHandle) {
        Driver::new(Enable::default()).expect("the model driver cannot fail")
    }

    /// Blocks until the flag is set (at once if it is), then clears it. A zero
    /// timeout never blocks.
    pub fn park(&mut self, timeout: Option<Duration>) {
        let mut woken = self.inner.woken.lock();
        if timeout != Some(Duration::ZERO) {
            while !*woken {
                woken = self.inner.cvar.wait(woken);
            }
        }
        *woken = false;
    }
}

impl DriverHandle {
    /// Sets the flag and wakes a parked driver.
    pub fn unpark(&self) {
        *self.inner.woken.lock() = true;
        self.inner.cvar.notify_one();
    }

    /// No reactor under loom.
    pub(crate) fn io(&self) -> Option<&tern_reactor::io::Handle> {
        None
    }

    /// No timers under loom.
    pub(crate) fn time(&self) -> Option<&tern_reactor::time::Handle> {
        None
    }
}
