#![cfg(loom)]
//! Loom models of the I/O driver's readiness protocol (`ScheduledIo`,
//! `reactor/src/io/scheduled_io.rs`): the driver's `dispatch` (set readiness, then take
//! wakers under the waker lock) racing a task's `poll_ready` (check, store waker under the
//! lock, re-check) and `clear_readiness` (clear only if the tick is unchanged).
//!
//! Tasks run under a small `block_on` that blocks on a (loom) condition variable while the
//! future is pending and whose waker signals it. A lost wake-up leaves it parked for good, which loom reports as a deadlock, so
//! "the model passes" means "every waiting task ends up woken".

use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use tern_reactor::io::__loom::ScheduledIo;
use tern_reactor::io::{Direction, Ready};

/// The waker of [`block_on`]: a flag under a loom mutex plus a condition variable. (loom's
/// own `block_on` needs its `futures` feature, which the workspace does not enable.)
#[derive(Default)]
struct Notify {
    woken: Mutex<bool>,
    condvar: Condvar,
}

impl Wake for Notify {
    fn wake(self: std::sync::Arc<Self>) {
        *self.woken.lock().unwrap() = true;
        self.condvar.notify_one();
    }
}

/// Polls `future` to completion on this thread, blocking while it is pending.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let notify = std::sync::Arc::new(Notify::default());
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        let mut woken = notify.woken.lock().unwrap();
        while !*woken {
            woken = notify.condvar.wait(woken).unwrap();
        }
        *woken = false;
    }
}

/// What the driver thread does for one event: record it, then wake outside the lock.
fn deliver(io: &ScheduledIo, ready: Ready) {
    let mut wakers = Vec::new();
    io.dispatch(ready, &mut wakers);
    for waker in wakers {
        waker.wake();
    }
}

/// A reader storing its waker races the driver setting readiness: the reader is woken or
/// sees the readiness on its re-check.
#[test]
fn waker_registration_races_readiness() {
    loom::model(|| {
        let io = Arc::new(ScheduledIo::new(0));
        let driver = {
            let io = io.clone();
            thread::spawn(move || deliver(&io, Ready::READABLE))
        };
        let ev = block_on(poll_fn(|cx| io.poll_ready(cx, Direction::Read))).unwrap();
        assert!(ev.ready().is_readable());
        driver.join().unwrap();
    });
}

/// A reader consumes "data" through `poll_io` (the I/O call takes everything available, or
/// returns `WouldBlock`), clearing readiness after each `WouldBlock`, while the driver thread
/// adds data and delivers a new edge. The clear racing the new edge must not erase it: the
/// reader gets both units of data.
#[test]
fn clear_races_a_new_event() {
    loom::model(|| {
        let io = Arc::new(ScheduledIo::new(0));
        let data = Arc::new(AtomicUsize::new(1));
        deliver(&io, Ready::READABLE);
        let driver = {
            let (io, data) = (io.clone(), data.clone());
            thread::spawn(move || {
                data.fetch_add(1, SeqCst);
                deliver(&io, Ready::READABLE);
            })
        };
        let mut total = 0;
        while total < 2 {
            total += block_on(poll_fn(|cx| {
                io.poll_io(cx, Direction::Read, || match data.swap(0, SeqCst) {
                    0 => Err(io::ErrorKind::WouldBlock.into()),
                    n => Ok(n),
                })
            }))
            .unwrap();
        }
        assert_eq!(total, 2);
        driver.join().unwrap();
    });
}

/// One error event wakes a reader and a writer waiting on separate threads.
#[test]
fn error_wakes_both_directions() {
    loom::model(|| {
        let io = Arc::new(ScheduledIo::new(0));
        let waiters: Vec<_> = [Direction::Read, Direction::Write]
            .into_iter()
            .map(|direction| {
                let io = io.clone();
                thread::spawn(move || {
                    let ev = block_on(poll_fn(|cx| io.poll_ready(cx, direction))).unwrap();
                    assert!(ev.ready().is_error());
                })
            })
            .collect();
        deliver(&io, Ready::ERROR);
        for waiter in waiters {
            waiter.join().unwrap();
        }
    });
}

/// A writable edge for the writer racing the reader's clear of its own readable edge: the
/// writer is not starved by the reader's clear.
#[test]
fn read_clear_does_not_erase_write_readiness() {
    loom::model(|| {
        let io = Arc::new(ScheduledIo::new(0));
        deliver(&io, Ready::READABLE);
        let driver = {
            let io = io.clone();
            thread::spawn(move || deliver(&io, Ready::WRITABLE))
        };
        let read = block_on(poll_fn(|cx| io.poll_ready(cx, Direction::Read))).unwrap();
        io.clear_readiness(read);
        let write = block_on(poll_fn(|cx| io.poll_ready(cx, Direction::Write))).unwrap();
        assert!(write.ready().is_writable());
        driver.join().unwrap();
    });
}

/// The driver shutting down races a task starting to wait: the task gets the shutdown error.
#[test]
fn shutdown_races_a_waiting_task() {
    loom::model(|| {
        let io = Arc::new(ScheduledIo::new(0));
        let driver = {
            let io = io.clone();
            thread::spawn(move || {
                let mut wakers = Vec::new();
                io.shutdown(&mut wakers);
                for waker in wakers {
                    waker.wake();
                }
            })
        };
        assert!(block_on(poll_fn(|cx| io.poll_ready(cx, Direction::Write))).is_err());
        driver.join().unwrap();
    });
}
