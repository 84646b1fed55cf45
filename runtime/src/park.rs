//! Thread parking: how an idle worker or a blocked `block_on` sleeps without
//! spinning, and how it is woken without a lost wake-up.
//!
//! The protocol (also that of `std::thread::park`, extended as in tokio's
//! `park.rs` for a shared driver): a four-state word. A parker with a driver
//! first tries to take it ([`SharedDriver`]); if it wins, it marks itself
//! `PARKED_DRIVER` and blocks in the driver; otherwise it marks itself
//! `PARKED_CONDVAR` and waits on its condition variable. `unpark` stores
//! `NOTIFIED` and wakes whichever wait the state it replaced names: it takes the
//! lock before signalling the condition variable, so the signal cannot fall
//! between the parker's state check and its wait; it wakes the driver through its
//! sticky waker, so a wake before the driver blocks is not lost either. A token
//! left by an early `unpark` makes the next `park` return at once. Both parks may
//! also return spuriously (the driver wakes for I/O and timers too): callers
//! re-check their condition and park again. Model-checked in
//! `loom-tests/tests/park.rs`.

use crate::driver::SharedDriver;
use crate::loom::{Arc, AtomicUsize, Condvar, Mutex, Ordering::SeqCst};
use std::task::{Wake, Waker};

const EMPTY: usize = 0;
const PARKED_CONDVAR: usize = 1;
const PARKED_DRIVER: usize = 2;
const NOTIFIED: usize = 3;

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
    /// A plain `std` `Arc`: its contents are what the loom models check.
    driver: Option<std::sync::Arc<SharedDriver>>,
}

impl Default for Parker {
    fn default() -> Self {
        Self::new()
    }
}

impl Parker {
    /// A parker that waits on its condition variable only.
    pub fn new() -> Parker {
        Parker::build(None)
    }

    /// A parker that waits in `driver` when no other thread does.
    pub fn with_driver(driver: std::sync::Arc<SharedDriver>) -> Parker {
        Parker::build(Some(driver))
    }

    fn build(driver: Option<std::sync::Arc<SharedDriver>>) -> Parker {
        Parker {
            inner: Arc::new(Inner {
                state: AtomicUsize::new(EMPTY),
                lock: Mutex::new(()),
                cvar: Condvar::new(),
                driver,
            }),
        }
    }

    /// Another owning handle to this parker, for the same thread (so it can park
    /// while the structure holding the first one is lent out). Two threads must
    /// never park on one parker at once.
    pub fn another_handle(&self) -> Parker {
        Parker { inner: self.inner.clone() }
    }

    /// A handle that wakes this parker from any thread.
    pub fn unparker(&self) -> Unparker {
        Unparker { inner: self.inner.clone() }
    }

    /// Blocks until `unpark` is called (or returns at once if a token is
    /// waiting). When the parker won the driver, it may also return after the
    /// driver dispatched I/O events or fired timers. Returns `true` when it
    /// waited in the driver.
    pub fn park(&self) -> bool {
        if self.inner.state.compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst).is_ok() {
            return false;
        }
        if let Some(driver) = &self.inner.driver {
            if let Some(()) = driver.try_with(|d| self.inner.park_driver(d)) {
                return true;
            }
        }
        self.inner.park_condvar();
        false
    }
}

impl Inner {
    fn park_condvar(&self) {
        let mut guard = self.lock.lock();
        if let Err(actual) = self.state.compare_exchange(EMPTY, PARKED_CONDVAR, SeqCst, SeqCst) {
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

    fn park_driver(&self, driver: &mut crate::driver::Driver) {
        if let Err(actual) = self.state.compare_exchange(EMPTY, PARKED_DRIVER, SeqCst, SeqCst) {
            debug_assert_eq!(actual, NOTIFIED, "two threads parked on one Parker");
            self.state.store(EMPTY, SeqCst);
            return;
        }
        driver.park(None);
        // Woken by `unpark` (NOTIFIED) or by the driver's own events (still
        // PARKED_DRIVER): either way the token, if any, is consumed here.
        self.state.swap(EMPTY, SeqCst);
    }

    fn unpark(&self) {
        match self.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED_CONDVAR => {
                // Taking the lock orders this signal after the parker's wait began.
                drop(self.lock.lock());
                self.cvar.notify_one();
            }
            PARKED_DRIVER => {
                if let Some(driver) = &self.driver {
                    driver.handle().unpark();
                }
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
