#![cfg(loom)]
//! Loom models of `Parker`/`Unparker` (`runtime/src/park.rs`): no wake-up is ever
//! lost. A model whose parked thread is never woken ends with every thread blocked,
//! which loom reports as a deadlock, so "the model passes" means "the parked
//! thread always wakes up".

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use tern_runtime::__loom::Parker;

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
