#![cfg(loom)]
//! Loom models of the FIFO semaphore (`runtime/src/sync/semaphore.rs`), through
//! its public API. Properties:
//!
//! - no lost wake-up: a task that queued for permits is woken once they come
//!   back (a model whose waiter is never woken ends with every thread blocked,
//!   which loom reports as a deadlock);
//! - no leaked permit: once every thread is done, `available_permits` is back
//!   to the total, whatever happened to a cancelled (dropped) acquire.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use tern_runtime::sync::Semaphore;

/// Wakes a loom thread parked in [`block_on`].
struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on this loom thread, parking between polls; the waker unparks it
/// (loom's park keeps a token, so a wake that comes first is not lost). A wake-up
/// that never comes leaves the thread parked: loom reports a deadlock.
fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

/// A waker that does nothing.
struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(Noop));
    std::pin::Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

/// A waiter queues while another thread releases the only permit: it always
/// gets it (the release either refills the count before the waiter looks, or
/// finds the waiter queued and hands the permit to it).
#[test]
fn acquire_races_release() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let th = thread::spawn(move || drop(held));
        let p = block_on(sem.acquire()).unwrap();
        drop(p);
        th.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

/// A waiter asking for two permits is polled once and dropped while another
/// thread adds one permit: whether the permit was added to the count, assigned
/// to the waiter, or returned by its drop, it is never lost.
#[test]
fn cancelled_acquire_races_add_permits() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s2 = sem.clone();
        let th = thread::spawn(move || s2.add_permits(1));
        let mut acq = Box::pin(sem.acquire_many(2));
        assert!(poll_once(&mut acq).is_pending());
        drop(acq);
        th.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

/// A cancelled (partially assigned) waiter at the head of the queue, a second
/// waiter blocked behind it, and a releaser: the permits the cancelled one was
/// given go on to the next, which is woken.
#[test]
fn cancelled_head_waiter_hands_permits_on() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let mut head = Box::pin(sem.acquire_many(2));
        assert!(poll_once(&mut head).is_pending()); // took the 1 free permit, queued for 1
        let s2 = sem.clone();
        let waiter = thread::spawn(move || {
            let p = block_on(s2.acquire()).unwrap();
            drop(p);
        });
        let s3 = sem.clone();
        let releaser = thread::spawn(move || s3.add_permits(1));
        drop(head);
        waiter.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 2);
    });
}

/// Two acquirers wait for the single permit a third thread returns; each hands it
/// on when done. Both finish (no lost wake-up) and the permit is back at the end.
#[test]
fn two_acquirers_one_releaser() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let ths: Vec<_> = (0..2)
            .map(|_| {
                let s = sem.clone();
                thread::spawn(move || drop(block_on(s.acquire()).unwrap()))
            })
            .collect();
        drop(held);
        for th in ths {
            th.join().unwrap();
        }
        assert_eq!(sem.available_permits(), 1);
    });
}

/// `close` racing a waiter: the waiter always returns (a permit or an error).
#[test]
fn close_races_acquire() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s2 = sem.clone();
        let th = thread::spawn(move || s2.close());
        assert!(block_on(sem.acquire()).is_err());
        th.join().unwrap();
        assert_eq!(sem.available_permits(), 0);
    });
}
