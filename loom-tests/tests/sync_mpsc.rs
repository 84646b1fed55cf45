#![cfg(loom)]
//! Loom models of the bounded mpsc channel (`runtime/src/sync/mpsc/`): slots
//! handed to waiting senders, cancellation, closing.
//!
//! A lost wake-up (or a leaked slot that a sender waits for forever) leaves
//! `block_on` (below) parked, which loom reports as a deadlock.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use tern_runtime::sync::mpsc;

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

/// A sender waiting for capacity is woken by the `recv` that frees a slot.
#[test]
fn waiting_sender_races_recv() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.try_send(0).unwrap();
        let th = thread::spawn(move || {
            block_on(tx.send(1)).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Some(0));
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(block_on(rx.recv()), None);
        th.join().unwrap();
    });
}

/// A receiver waiting for a message is woken by a send from another thread.
#[test]
fn send_races_pending_recv() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let th = thread::spawn(move || {
            block_on(tx.send(1)).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Some(1));
        th.join().unwrap();
    });
}

/// A send that waited for capacity is cancelled (dropped after one poll) while
/// the receiver frees a slot, possibly handing it to that send: the slot is not
/// leaked and the other waiting sender still gets through.
#[test]
fn cancelled_send_races_recv() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.try_send(0).unwrap();
        let tx2 = tx.clone();
        let sent_by_cancelled = std::sync::Arc::new(AtomicUsize::new(0));
        let th = thread::spawn({
            let sent_by_cancelled = sent_by_cancelled.clone();
            move || {
                let mut fut = Box::pin(tx2.send(1));
                if fut.as_mut().poll(&mut Context::from_waker(&noop_waker())).is_ready() {
                    sent_by_cancelled.store(1, SeqCst);
                }
                drop(fut);
            }
        });
        assert_eq!(block_on(rx.recv()), Some(0));
        th.join().unwrap();
        // The other sender must get a slot whatever the cancelled one did.
        let extra = sent_by_cancelled.load(SeqCst);
        if extra == 1 {
            assert_eq!(block_on(rx.recv()), Some(1));
        }
        assert_eq!(tx.capacity(), 1, "slot leaked");
        tx.try_send(2).unwrap();
        assert_eq!(block_on(rx.recv()), Some(2));
    });
}

/// As above, with the surviving sender already waiting on its own thread while
/// the cancellation and the `recv` happen.
#[test]
fn cancelled_send_passes_slot_to_waiting_sender() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.try_send(0).unwrap();
        // Queue the doomed sender first, so the freed slot goes to it.
        let tx1 = tx.clone();
        let mut doomed = Box::pin(async move { tx1.send(1).await });
        assert!(doomed.as_mut().poll(&mut Context::from_waker(&noop_waker())).is_pending());
        let tx2 = tx.clone();
        let th = thread::spawn(move || {
            block_on(tx2.send(2)).unwrap();
        });
        let canceller = thread::spawn(move || drop(doomed));
        assert_eq!(block_on(rx.recv()), Some(0));
        assert_eq!(block_on(rx.recv()), Some(2));
        th.join().unwrap();
        canceller.join().unwrap();
        drop(tx);
        assert_eq!(block_on(rx.recv()), None);
    });
}

/// The last sender dropping while the receiver waits: `recv` is woken with `None`.
#[test]
fn sender_drop_races_pending_recv() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let th = thread::spawn(move || drop(tx));
        assert_eq!(block_on(rx.recv()), None);
        th.join().unwrap();
    });
}

/// The receiver closing while a sender waits for capacity: the sender is woken
/// and gets its value back; the buffered message is still received.
#[test]
fn close_races_waiting_sender() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.try_send(0).unwrap();
        let th = thread::spawn(move || block_on(tx.send(1)));
        rx.close();
        assert_eq!(block_on(rx.recv()), Some(0));
        let r = th.join().unwrap();
        match r {
            Ok(()) => unreachable!("the channel stayed full until it closed"),
            Err(e) => assert_eq!(e.0, 1),
        }
        assert_eq!(block_on(rx.recv()), None);
    });
}
