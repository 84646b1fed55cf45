//! Where [`ScheduledIo`](super::scheduled_io::ScheduledIo)'s atomics and lock come from.
//!
//! With `--cfg loom` they are loom's model-checked twins, so `loom-tests/tests/readiness.rs`
//! explores every interleaving of the readiness protocol. Without it they are `std` atomics
//! and a `parking_lot` mutex. (The rest of the driver, the slab lock and `mio`, is not
//! modelled and uses `std`/`parking_lot` directly.)

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};

    /// A mutex whose `lock` cannot fail, like `parking_lot::Mutex`.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }
}

#[cfg(not(loom))]
mod imp {
    pub(crate) use parking_lot::Mutex;
    pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
}

pub(crate) use imp::*;
