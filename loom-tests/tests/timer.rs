#![cfg(loom)]
//! Loom models of a timer entry's life (`reactor/src/time/{sleep,driver}.rs`): the driver
//! firing an entry (`process`: remove under the timer lock, wake after releasing it) racing
//! the `Sleep` that owns it being dropped (remove by key), polled again (refresh the waker, or
//! learn from a stale key that it fired) or re-armed (`reset`, in place).
//!
//! Each model registers a 10 s sleep with a first poll, then races one operation against
//! `process_at` (the driver's `process` with an explicit clock, since loom has none). The
//! properties: every fire wakes exactly one waker, a sleep that is still pending after the
//! race is still armed and will be woken, a dropped sleep leaves nothing in the wheel, and
//! nothing is woken twice.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use tern_reactor::time::{__loom::process_at, Driver, Handle, Sleep};

/// Counts its wakes.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counter() -> (std::sync::Arc<Count>, Waker) {
    let c = std::sync::Arc::new(Count::default());
    (c.clone(), Waker::from(c))
}

/// A driver and a 10 s sleep on it, polled once with `waker` (so it is in the wheel).
fn registered(waker: &Waker) -> (Handle, Pin<Box<Sleep>>) {
    let handle = Driver::new().handle().clone();
    let mut sleep = Box::pin(handle.sleep(Duration::from_secs(10)));
    assert!(sleep.as_mut().poll(&mut Context::from_waker(waker)).is_pending());
    assert_eq!(handle.armed(), 1);
    (handle, sleep)
}

/// Well past the 10 s deadline, in ms since the driver's start.
const LATE: u64 = 20_000;

#[test]
fn fire_racing_drop() {
    loom::model(|| {
        let (count, waker) = counter();
        let (handle, sleep) = registered(&waker);
        let driver = handle.clone();
        let th = thread::spawn(move || process_at(&driver, LATE));
        drop(sleep);
        let fired = th.join().unwrap();
        assert_eq!(count.0.load(SeqCst), fired, "a fire that woke nobody, or a wake without a fire");
        assert!(fired <= 1);
        assert_eq!(handle.armed(), 0, "the dropped sleep left an entry in the wheel");
    });
}

#[test]
fn fire_racing_poll_with_a_new_waker() {
    loom::model(|| {
        let (first, waker) = counter();
        let (handle, mut sleep) = registered(&waker);
        let driver = handle.clone();
        let th = thread::spawn(move || process_at(&driver, LATE));
        let (second, new_waker) = counter();
        let ready = sleep.as_mut().poll(&mut Context::from_waker(&new_waker)).is_ready();
        assert_eq!(th.join().unwrap(), 1, "the armed sleep did not fire");
        let (a, b) = (first.0.load(SeqCst), second.0.load(SeqCst));
        assert_eq!(a + b, 1, "one fire, one wake");
        // Pending means the poll stored the new waker before the fire: the fire woke it.
        assert!(ready || b == 1, "the poll went pending and its waker was never woken");
        assert_eq!(handle.armed(), 0);
        // Once fired, the sleep stays complete.
        assert!(sleep.as_mut().poll(&mut Context::from_waker(&new_waker)).is_ready());
    });
}

#[test]
fn fire_racing_reset_to_an_earlier_deadline() {
    loom::model(|| {
        let (count, waker) = counter();
        let (handle, mut sleep) = registered(&waker);
        let driver = handle.clone();
        // The driver's clock reaches 5 s: the entry (10 s) is not due, unless the reset to
        // 1 s lands first.
        let th = thread::spawn(move || process_at(&driver, 5_000));
        let new_deadline = sleep.deadline() - Duration::from_secs(9);
        sleep.as_mut().reset(new_deadline);
        let fired = th.join().unwrap();
        let woken = count.0.load(SeqCst);
        assert_eq!(woken, fired);
        if fired == 0 {
            // The reset came after the driver's pass: it re-armed the entry in place.
            assert_eq!(handle.armed(), 1, "the reset lost the entry");
        } else {
            assert_eq!(handle.armed(), 0);
        }
        // Either way, a later pass completes it, exactly once in all.
        process_at(&handle, LATE);
        assert_eq!(count.0.load(SeqCst), 1, "woken {} times", count.0.load(SeqCst));
        assert_eq!(handle.armed(), 0);
        let (_, w) = counter();
        assert!(sleep.as_mut().poll(&mut Context::from_waker(&w)).is_ready());
    });
}

/// A reset to a *later* deadline only records it (no lock); the entry fires at its old time
/// and the next poll re-arms it. Racing the fire: whichever order, the sleep is not complete
/// before the new deadline and completes once the clock passes it.
#[test]
fn fire_racing_reset_to_a_later_deadline() {
    loom::model(|| {
        let (count, waker) = counter();
        let (handle, mut sleep) = registered(&waker);
        let driver = handle.clone();
        let th = thread::spawn(move || process_at(&driver, LATE));
        let new_deadline = sleep.deadline() + Duration::from_secs(20);
        sleep.as_mut().reset(new_deadline);
        assert_eq!(th.join().unwrap(), 1, "the entry stays at its old time and fires");
        assert_eq!(count.0.load(SeqCst), 1);
        // The woken poll re-arms for the new deadline instead of completing.
        assert!(sleep.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        assert_eq!(handle.armed(), 1);
        assert_eq!(process_at(&handle, LATE + 25_000), 1);
        assert_eq!(count.0.load(SeqCst), 2);
        assert!(sleep.as_mut().poll(&mut Context::from_waker(&waker)).is_ready());
        assert_eq!(handle.armed(), 0);
    });
}
