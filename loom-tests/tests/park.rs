#![cfg(loom)]
//! Loom models of `Parker`/`Unparker` (`runtime/src/park.rs`): no wake-up is ever
//! lost. A model whose parked thread is never woken ends with every thread blocked,
//! which loom reports as a deadlock, so "the model passes" means "the parked
//! thread always wakes up".

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use tern_runtime::__loom::{Driver, Parker, SharedDriver};

/// An `unpark` before `park` leaves a token: `park` returns at once, and the token
/// is consumed (a second `unpark` is needed for a second `park`).
#[test]
fn unpark_before_park() {
    loom::model(|| {
        let parker = Parker::new();
        let unparker = parker.unparker();
        unparker.unpark();
        unparker.unpark(); // tokens do not accumulate, but this must not break anything
        parker.park();
        unparker.unpark();
        parker.park();
    });
}

/// One `unpark` from another thread, racing the parker at every step of `park`.
#[test]
fn unpark_races_park() {
    loom::model(|| {
        let parker = Parker::new();
        let unparker = parker.unparker();
        let th = thread::spawn(move || unparker.unpark());
        parker.park();
        th.join().unwrap();
    });
}

/// The same through `Unparker::into_waker` (how `block_on` is woken).
#[test]
fn waker_races_park() {
    loom::model(|| {
        let parker = Parker::new();
        let waker = parker.unparker().into_waker();
        let th = thread::spawn(move || waker.wake());
        parker.park();
        th.join().unwrap();
    });
}

/// The parker is reused: a thread publishes two events, unparking after each, and
/// the parker sleeps until it has seen both. Checks that the state is reset
/// correctly after every kind of wake-up (token, or signal while parked), so no
/// later wake-up is lost either.
#[test]
fn repeated_park_unpark() {
    loom::model(|| {
        let parker = Parker::new();
        let unparker = parker.unparker();
        let events = Arc::new(AtomicUsize::new(0));
        let th = thread::spawn({
            let events = events.clone();
            move || {
                for _ in 0..2 {
                    events.fetch_add(1, SeqCst);
                    unparker.unpark();
                }
            }
        });
        while events.load(SeqCst) < 2 {
            parker.park();
        }
        th.join().unwrap();
    });
}

/// Two threads unpark concurrently, each after publishing its event; the parker
/// sleeps until it has seen both.
#[test]
fn two_unparkers() {
    loom::model(|| {
        let parker = Parker::new();
        let events = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let unparker = parker.unparker();
                let events = events.clone();
                thread::spawn(move || {
                    events.fetch_add(1, SeqCst);
                    unparker.unpark();
                })
            })
            .collect();
        while events.load(SeqCst) < 2 {
            parker.park();
        }
        for th in threads {
            th.join().unwrap();
        }
    });
}

/// A shared driver: a parker that wins it waits in the driver, and `unpark` must
/// reach it there (through the driver's waker), at every step of the race.
fn model_driver() -> std::sync::Arc<SharedDriver> {
    let (driver, handle) = Driver::new_model();
    std::sync::Arc::new(SharedDriver::new(driver, handle))
}

#[test]
fn unpark_reaches_a_parker_in_the_driver() {
    loom::model(|| {
        let parker = Parker::with_driver(model_driver());
        let unparker = parker.unparker();
        let events = Arc::new(AtomicUsize::new(0));
        let th = thread::spawn({
            let events = events.clone();
            move || {
                events.fetch_add(1, SeqCst);
                unparker.unpark();
            }
        });
        while events.load(SeqCst) < 1 {
            parker.park();
        }
        th.join().unwrap();
    });
}

/// Two parkers share one driver: whichever wins it waits there, the other on its
/// condition variable. Each is unparked once from a third thread; both wake,
/// whatever the interleaving (including the driver being released and retaken
/// between the two parks).
#[test]
fn two_parkers_share_a_driver() {
    loom::model(|| {
        let driver = model_driver();
        let a = Parker::with_driver(driver.clone());
        let b = Parker::with_driver(driver);
        let (ua, ub) = (a.unparker(), b.unparker());
        let flags = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let waker = thread::spawn({
            let flags = flags.clone();
            move || {
                flags[0].store(1, SeqCst);
                ua.unpark();
                flags[1].store(1, SeqCst);
                ub.unpark();
            }
        });
        let other = thread::spawn({
            let flags = flags.clone();
            move || {
                while flags[1].load(SeqCst) == 0 {
                    b.park();
                }
            }
        });
        while flags[0].load(SeqCst) == 0 {
            a.park();
        }
        other.join().unwrap();
        waker.join().unwrap();
    });
}

/// A wake of the driver itself (an I/O event or a timer armed earlier, which
/// `DriverHandle::unpark` stands for) returns a parker waiting in it, and leaves
/// no state behind that would lose a later `unpark`.
#[test]
fn driver_wake_then_unpark() {
    loom::model(|| {
        let driver = model_driver();
        let parker = Parker::with_driver(driver.clone());
        let unparker = parker.unparker();
        let events = Arc::new(AtomicUsize::new(0));
        let th = thread::spawn({
            let events = events.clone();
            move || {
                driver.handle().unpark();
                events.fetch_add(1, SeqCst);
                unparker.unpark();
            }
        });
        while events.load(SeqCst) < 1 {
            parker.park();
        }
        th.join().unwrap();
    });
}
