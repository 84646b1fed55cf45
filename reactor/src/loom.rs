//! Where the reactor's modelled atomics and locks come from.
//!
//! With `--cfg loom` they are loom's model-checked twins, so the models in `loom-tests/`
//! (`readiness.rs`: a source's readiness word and wakers; `timer.rs`: a timer entry firing
//! racing its drop, poll and reset) explore every interleaving. Without it they are `std`
//! atomics and `parking_lot` mutexes. (The rest, the I/O driver's slab lock and `mio`, is not
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
        pub(crate) fn try_lock(&self) -> Option<loom::sync::MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
    }
}

#[cfg(not(loom))]
mod imp {
    pub(crate) use parking_lot::Mutex;
    pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
}

pub(crate) use imp::*;
