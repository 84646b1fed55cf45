#![cfg(loom)]
//! Loom models of the oneshot channel (`runtime/src/sync/oneshot.rs`): its state
//! word hands the value cell and the two waker cells between the sides.
//!
//! A lost wake-up leaves `block_on` (below) parked forever, which loom
//! reports as a deadlock; an unordered access to a cell is reported as a data
//! race; a value dropped twice or never shows in the drop counter.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use tern_runtime::sync::oneshot;

/// Counts drops (a plain std atomic: only read after the threads are joined).
struct Dropped(std::sync::Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Drives `f` on this loom thread: parks between polls; the waker unparks it
/// (loom's park keeps a token, so a wake that comes first is not lost). A
/// wake-up that never comes parks the thread forever: loom reports a deadlock.
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(loom::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: std::sync::Arc<Self>) {}
}

fn noop_waker() -> Waker {
    Waker::from(std::sync::Arc::new(NoopWake))
}

/// `send` from another thread racing the receiver's polls: the receiver always
/// gets the value (its waker is never lost), which is dropped exactly once.
#[test]
fn send_races_receiver_poll() {
    loom::model(|| {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel();
        let d = Dropped(drops.clone());
        let th = thread::spawn(move || {
            assert!(tx.send(d).is_ok());
        });
        let v = block_on(rx).expect("value");
        drop(v);
        th.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// The receiver is first polled with one waker, then awaited with another
/// (re-registering: clear the bit, swap the waker, set the bit) while the value
/// is sent.
#[test]
fn send_races_waker_swap() {
    loom::model(|| {
        let (tx, mut rx) = oneshot::channel::<u32>();
        let th = thread::spawn(move || tx.send(7).unwrap());
        let first = Pin::new(&mut rx).poll(&mut Context::from_waker(&noop_waker()));
        match first {
            Poll::Ready(v) => assert_eq!(v, Ok(7)),
            Poll::Pending => assert_eq!(block_on(&mut rx), Ok(7)),
        }
        th.join().unwrap();
    });
}

/// `send` racing the receiver's drop: the value is dropped exactly once, by the
/// channel or by the sender after it came back in the error.
#[test]
fn send_races_receiver_drop() {
    loom::model(|| {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel();
        let d = Dropped(drops.clone());
        let th = thread::spawn(move || {
            let _ = tx.send(d); // Err(value) is dropped here
        });
        drop(rx);
        th.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// The sender dropped unsent, racing an awaiting receiver: it is woken with an error.
#[test]
fn sender_drop_races_receiver_poll() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel::<u32>();
        let th = thread::spawn(move || drop(tx));
        assert!(block_on(rx).is_err());
        th.join().unwrap();
    });
}

/// `close` racing `send`: exactly one wins. If the send succeeded the receiver
/// still gets the value after closing; otherwise the sender got it back.
#[test]
fn close_races_send() {
    loom::model(|| {
        let (tx, mut rx) = oneshot::channel::<u32>();
        let th = thread::spawn(move || tx.send(3).is_ok());
        rx.close();
        let got = rx.try_recv();
        let sent = th.join().unwrap();
        assert_eq!(sent, got.is_ok(), "send {sent} vs receive {got:?}");
        if sent {
            assert_eq!(got, Ok(3));
        }
    });
}

/// `Sender::closed` waiting while the receiver is dropped: always woken.
#[test]
fn sender_closed_races_receiver_drop() {
    loom::model(|| {
        let (mut tx, rx) = oneshot::channel::<u32>();
        let th = thread::spawn(move || drop(rx));
        block_on(tx.closed());
        assert!(tx.is_closed());
        assert_eq!(tx.send(1), Err(1));
        th.join().unwrap();
    });
}
