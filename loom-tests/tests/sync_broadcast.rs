#![cfg(loom)]
//! Loom models of the broadcast channel (`runtime/src/sync/broadcast.rs`: a ring
//! buffer and a wait list under one loom `Mutex`, the channel in a loom `Arc`).
//!
//! A lost wake-up leaves `block_on` (below) parked forever, which loom reports
//! as a deadlock; a receiver must see every value in order or be told exactly how
//! many it missed.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use tern_runtime::sync::broadcast::{self, error::RecvError};

/// Wakes a loom thread parked in [`block_on`].
struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on this loom thread, parking between polls; the waker unparks it
/// (loom's park keeps a token, so a wake that comes first is not lost). A wake-up
/// that never comes leaves the thread parked: loom reports a deadlock.
fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(std::sync::Arc::new(Unpark(thread::current())));
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
    fn wake(self: std::sync::Arc<Self>) {}
}

/// Two sends, then the sender's drop, on another thread, racing a receiver with
/// room for both: it gets both values in order, then `Closed`.
#[test]
fn send_races_recv() {
    loom::model(|| {
        let (tx, mut rx) = broadcast::channel::<u32>(2);
        let th = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Ok(1));
        assert_eq!(block_on(rx.recv()), Ok(2));
        assert_eq!(block_on(rx.recv()), Err(RecvError::Closed));
        th.join().unwrap();
    });
}

/// With room for one value, two sends race the receiver: it reads `1` then `2`,
/// or (when the second send overwrote the first before it looked) `Lagged(1)`
/// then `2`; never a value twice, never `2` before `1`, and `Closed` last.
#[test]
fn lagging_receiver_reports_lagged() {
    loom::model(|| {
        let (tx, mut rx) = broadcast::channel::<u32>(1);
        let th = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        let mut seen = Vec::new();
        loop {
            match block_on(rx.recv()) {
                Err(RecvError::Closed) => break,
                r => seen.push(r),
            }
        }
        th.join().unwrap();
        assert!(
            seen == [Ok(1), Ok(2)] || seen == [Err(RecvError::Lagged(1)), Ok(2)],
            "unexpected sequence: {seen:?}"
        );
    });
}

/// The last sender dropped on another thread while two receivers (one here, one
/// on a third thread) wait: both are woken with `Closed`.
#[test]
fn sender_drop_races_recv() {
    loom::model(|| {
        let (tx, mut rx1) = broadcast::channel::<u32>(1);
        let mut rx2 = tx.subscribe();
        let other = thread::spawn(move || block_on(rx2.recv()));
        let dropper = thread::spawn(move || drop(tx));
        assert_eq!(block_on(rx1.recv()), Err(RecvError::Closed));
        assert_eq!(other.join().unwrap(), Err(RecvError::Closed));
        dropper.join().unwrap();
    });
}

/// A `recv` future that queued (polled once) is dropped while another thread
/// sends: the value is not lost, the next `recv` gets it.
#[test]
fn cancelled_recv_races_send() {
    loom::model(|| {
        let (tx, mut rx) = broadcast::channel::<u32>(1);
        {
            let noop = Waker::from(std::sync::Arc::new(Noop));
            let mut fut = Box::pin(rx.recv());
            let th = thread::spawn(move || tx.send(7).unwrap());
            if let Poll::Ready(v) = fut.as_mut().poll(&mut Context::from_waker(&noop)) {
                assert_eq!(v, Ok(7));
                drop(fut);
                th.join().unwrap();
                assert_eq!(block_on(rx.recv()), Err(RecvError::Closed));
                return;
            }
            drop(fut);
            th.join().unwrap();
        }
        assert_eq!(block_on(rx.recv()), Ok(7));
        assert_eq!(block_on(rx.recv()), Err(RecvError::Closed));
    });
}
