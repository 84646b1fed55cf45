#![cfg(loom)]
//! Loom models of `Notify` (`runtime/src/sync/notify.rs`), through its public
//! API: no `notify_one` is ever lost, whether it races a waiter's registration or
//! lands on a waiter that is then dropped. A waiter that is never woken leaves
//! every thread blocked, which loom reports as a deadlock.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use tern_runtime::sync::Notify;

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

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(Noop));
    fut.poll(&mut Context::from_waker(&waker))
}

/// `notify_one` racing every step of a `notified()` registration: either the
/// permit is stored and consumed, or the queued waiter is woken.
#[test]
fn notify_one_races_notified() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let n2 = notify.clone();
        let th = thread::spawn(move || n2.notify_one());
        block_on(notify.notified());
        th.join().unwrap();
    });
}

/// Two waiters, two `notify_one`s from another thread. The first waiter is
/// queued up front; the second registers while the notifications happen. The
/// first notification goes to the queued waiter; the second either wakes the
/// other waiter or is stored and consumed by it (permits do not add up, so a
/// model where both waiters register late would rightly hang).
#[test]
fn two_waiters_two_notifies() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let mut first = Box::pin(notify.notified());
        assert!(poll_once(first.as_mut()).is_pending());
        let n2 = notify.clone();
        let waiter = thread::spawn(move || block_on(n2.notified()));
        let n3 = notify.clone();
        let notifier = thread::spawn(move || {
            n3.notify_one();
            n3.notify_one();
        });
        waiter.join().unwrap();
        notifier.join().unwrap();
        assert!(poll_once(first.as_mut()).is_ready());
    });
}

/// A queued `Notified` is dropped while `notify_one` runs and another waiter
/// registers: if the notification landed on the dropped one, it is passed on
/// (to the other waiter, or stored as a permit), so the other waiter finishes.
#[test]
fn dropped_notified_passes_notification_on() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let mut first = Box::pin(notify.notified());
        assert!(poll_once(first.as_mut()).is_pending());
        let n2 = notify.clone();
        let waiter = thread::spawn(move || block_on(n2.notified()));
        let n3 = notify.clone();
        let notifier = thread::spawn(move || n3.notify_one());
        drop(first);
        waiter.join().unwrap();
        notifier.join().unwrap();
    });
}

/// `notify_waiters` racing a waiter's first poll: a `Notified` created before the
/// call always completes, polled before the call or after it.
#[test]
fn notify_waiters_races_first_poll() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let notified = notify.notified();
        let n2 = notify.clone();
        let th = thread::spawn(move || n2.notify_waiters());
        block_on(notified);
        th.join().unwrap();
    });
}

/// A queued waiter is dropped while one thread calls `notify_waiters` and
/// another `notify_one`: whichever lands on the waiter (or on no waiter), the
/// `notify_one` is not lost, so a `Notified` created afterwards completes at once;
/// and a waiter woken by `notify_waiters` (completing by its slot, without the
/// lock) never touches an entry that was already taken out of the queue.
#[test]
fn drop_races_notify_waiters_and_notify_one() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let mut first = Box::pin(notify.notified());
        assert!(poll_once(first.as_mut()).is_pending());
        let n2 = notify.clone();
        let all = thread::spawn(move || n2.notify_waiters());
        let n3 = notify.clone();
        let one = thread::spawn(move || n3.notify_one());
        drop(first);
        all.join().unwrap();
        one.join().unwrap();
        assert!(poll_once(pin!(notify.notified())).is_ready());
    });
}

/// A waiter parked on the lock-free path (`block_on` re-polls it after each
/// wake-up) while `notify_waiters` runs twice from another thread: it completes,
/// and a second waiter created after both calls is not completed by them.
#[test]
fn woken_waiter_completes_without_the_lock() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let waiter = notify.notified();
        let n2 = notify.clone();
        let th = thread::spawn(move || {
            n2.notify_waiters();
            n2.notify_waiters();
        });
        block_on(waiter);
        th.join().unwrap();
        assert!(poll_once(pin!(notify.notified())).is_pending());
    });
}

/// Ping-pong: the main thread waits on `ping` twice, so its second wait reuses the
/// slot of its first (the queue keeps woken waiters' slots as spares), while the
/// other thread, which put that slot among the spares, waits on `pong` and
/// notifies again. Every notification reaches its waiter (a lost one hangs).
#[test]
fn waiter_slot_reused_across_waits() {
    loom::model(|| {
        let ping = Arc::new(Notify::new());
        let pong = Arc::new(Notify::new());
        let (ping2, pong2) = (ping.clone(), pong.clone());
        let th = thread::spawn(move || {
            ping2.notify_one();
            block_on(pong2.notified());
            ping2.notify_one();
        });
        block_on(ping.notified());
        pong.notify_one();
        block_on(ping.notified());
        th.join().unwrap();
    });
}
