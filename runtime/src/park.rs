//! Thread parking: how an idle worker or a blocked `block_on` sleeps without
//! spinning, and how it is woken without a lost wake-up.
//!
//! The protocol (also that of `std::thread::park`): a three-state word. `unpark`
//! stores NOTIFIED; if it replaced PARKED it takes the lock before signalling, so
//! the signal cannot fall between the parker's state check and its wait. A token
//! left by an early `unpark` makes the next `park` return at once. Model-checked in
//! `loom-tests/tests/park.rs`.

use crate::loom::{Arc, AtomicUsize, Condvar, Mutex, Ordering::SeqCst};
use std::task::{Wake, Waker};

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

/// The parking half, owned by the thread that sleeps.
#[derive(Debug)]
pub struct Parker {
    inner: Arc<Inner>,
}

/// The waking half; cheap to clone, usable from any thread.
#[derive(Clone, Debug)]
pub struct Unparker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: AtomicUsize,
    lock: Mutex<()>,
    cvar: Condvar,
}

impl Default for Parker {
    fn default() -> Self {
        Self::new()
    }
}

impl Parker {
    /// A parker with no token waiting.
    pub fn new() -> Parker {
        Parker {
            inner: Arc::new(Inner {
                state: AtomicUsize::new(EMPTY),
                lock: Mutex::new(()),
                cvar: Condvar::new(),
            }),
        }
    }

    /// A handle that wakes this parker from any thread.
    pub fn unparker(&self) -> Unparker {
        Unparker { inner: self.inner.clone() }
    }

    /// Blocks until `unpark` is called (or returns at once if a token is waiting).
    pub fn park(&self) {
        self.inner.park()
    }
}

impl Inner {
    fn park(&self) {
        if self.state.compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst).is_ok() {
            return;
        }
        let mut guard = self.lock.lock();
        if let Err(actual) = self.state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst) {
            debug_assert_eq!(actual, NOTIFIED, "two threads parked on one Parker");
            self.state.store(EMPTY, SeqCst);
            return;
        }
        loop {
            guard = self.cvar.wait(guard);
            if self.state.compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst).is_ok() {
                return;
            }
            // Spurious wake-up: wait again.
        }
    }

    fn unpark(&self) {
        match self.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED => {
                // Taking the lock orders this signal after the parker's wait began.
                drop(self.lock.lock());
                self.cvar.notify_one();
            }
            _ => unreachable!("corrupt parker state"),
        }
    }
}

impl Unparker {
    /// Wakes the parked thread, or makes its next `park` return at once.
    pub fn unpark(&self) {
        self.inner.unpark()
    }

    /// `true` when both unpark the same parker.
    pub fn ptr_eq(&self, other: &Unparker) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A `Waker` that unparks this thread.
    pub fn into_waker(self) -> Waker {
        Waker::from(std::sync::Arc::new(WakeUnparker(self)))
    }
}

struct WakeUnparker(Unparker);

impl Wake for WakeUnparker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark()
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn token_before_park_returns_at_once() {
        let p = Parker::new();
        p.unparker().unpark();
        p.park();
    }

    #[test]
    fn unpark_from_another_thread() {
        let p = Parker::new();
        let u = p.unparker();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            u.unpark();
        });
        let start = Instant::now();
        p.park();
        assert!(start.elapsed() >= Duration::from_millis(15));
        t.join().unwrap();
    }
}
