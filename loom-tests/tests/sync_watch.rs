#![cfg(loom)]
//! Loom models of the watch channel (`runtime/src/sync/watch.rs`: the value under
//! a loom `Mutex`, a version word with a closed bit in a loom `AtomicU64`, the
//! waiting receivers in another loom `Mutex`).
//!
//! A lost wake-up leaves `block_on` (below) parked forever, which loom reports
//! as a deadlock. The models also check that the version a receiver marks seen
//! always matches the value it read.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use tern_runtime::sync::watch;

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

/// A send, then the sender's drop, on another thread, racing `changed()`: the
/// receiver is woken, reads the new value, and the next `changed()` reports the
/// closed channel (the unseen value came first, the error after it).
#[test]
fn send_races_changed() {
    loom::model(|| {
        let (tx, mut rx) = watch::channel(0u32);
        let th = thread::spawn(move || tx.send(1).unwrap());
        assert!(block_on(rx.changed()).is_ok(), "the unseen value must come before the close");
        assert_eq!(*rx.borrow_and_update(), 1);
        assert!(block_on(rx.changed()).is_err());
        th.join().unwrap();
    });
}

/// The only sender dropped unsent on another thread while two receivers (one
/// here, one on a third thread) wait in `changed()`: both get the error.
#[test]
fn sender_drop_races_changed() {
    loom::model(|| {
        let (tx, mut rx1) = watch::channel(0u32);
        let mut rx2 = rx1.clone();
        let other = thread::spawn(move || block_on(rx2.changed()).is_err());
        let dropper = thread::spawn(move || drop(tx));
        assert!(block_on(rx1.changed()).is_err());
        assert!(rx1.has_changed().is_err());
        assert!(other.join().unwrap(), "the other receiver was not told the channel closed");
        dropper.join().unwrap();
    });
}

/// `borrow_and_update` racing two sends: the value it returns and the version it
/// marks seen agree. It reports `has_changed` exactly when it read a sent value,
/// `has_changed()` afterwards is `true` exactly when it missed the last send, and
/// then `changed()` resolves at once with the last value.
#[test]
fn borrow_and_update_races_send() {
    loom::model(|| {
        let (tx, mut rx) = watch::channel(0u32);
        let th = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            tx // kept alive: the channel must not close
        });
        let (v, fresh) = {
            let r = rx.borrow_and_update();
            (*r, r.has_changed())
        };
        assert!(v <= 2);
        assert_eq!(fresh, v != 0, "has_changed disagrees with the value read ({v})");
        let tx = th.join().unwrap();
        assert_eq!(rx.has_changed(), Ok(v != 2), "the version marked seen does not match value {v}");
        if v != 2 {
            block_on(rx.changed()).unwrap();
            let r = rx.borrow_and_update();
            assert_eq!((*r, r.has_changed()), (2, false), "changed() already marked it seen");
        }
        assert_eq!(rx.has_changed(), Ok(false));
        drop(tx);
    });
}
