#![cfg(loom)]
//! Loom models of the async `Mutex` (`runtime/src/sync/mutex.rs`, a one-permit
//! FIFO semaphore guarding a loom `UnsafeCell`). Properties:
//!
//! - mutual exclusion: the value lives in a loom cell, so two guards alive at
//!   once are a data race loom reports; each critical section also checks a loom
//!   `AtomicBool` "held" flag, which adds a preemption point inside it;
//! - no lost wake-up: a locker queued behind the holder is handed the lock when
//!   it is released, even when the waiter ahead of it gave up (its future was
//!   dropped) at the same moment; a lost hand-over leaves a thread parked
//!   forever, which loom reports as a deadlock;
//! - no leaked lock: once every thread is done, `try_lock` succeeds.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::thread;
use tern_runtime::sync::Mutex;

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

/// The locked value and a flag that says a critical section is running.
struct Shared {
    m: Mutex<usize>,
    held: AtomicBool,
}

impl Shared {
    fn new() -> loom::sync::Arc<Shared> {
        loom::sync::Arc::new(Shared { m: Mutex::new(0), held: AtomicBool::new(false) })
    }

    /// The critical section: nobody else may be inside while the guard lives.
    fn bump(&self, guard: &mut tern_runtime::sync::MutexGuard<'_, usize>) {
        assert!(!self.held.swap(true, SeqCst), "two guards alive at once");
        **guard += 1;
        self.held.store(false, SeqCst);
    }
}

/// Two threads contend for the lock, one awaiting `lock()`, the other through
/// `blocking_lock` (the blocking bridge, which parks on the runtime's `Parker`):
/// both get it, one at a time.
#[test]
fn contended_lock_is_exclusive() {
    loom::model(|| {
        let s = Shared::new();
        let th = thread::spawn({
            let s = s.clone();
            move || {
                let mut g = s.m.blocking_lock();
                s.bump(&mut g);
            }
        });
        {
            let mut g = block_on(s.m.lock());
            s.bump(&mut g);
        }
        th.join().unwrap();
        let g = s.m.try_lock().expect("the lock was leaked");
        assert_eq!(*g, 2);
    });
}

/// The lock is held here; a `lock()` future queues first and is then dropped on
/// another thread (cancelled) while this thread unlocks, so the unlock may hand
/// the lock to the cancelled waiter, whose drop must pass it on. A third thread
/// waits in `lock()` all along and must get the lock; so must this thread after.
#[test]
fn cancelled_lock_races_unlock() {
    loom::model(|| {
        let s = Shared::new();
        let guard = s.m.try_lock().unwrap();

        let mut doomed = Box::pin({
            let s = s.clone();
            async move {
                let mut g = s.m.lock().await;
                s.bump(&mut g);
            }
        });
        let noop = Waker::from(std::sync::Arc::new(Noop));
        assert!(doomed.as_mut().poll(&mut Context::from_waker(&noop)).is_pending());

        let waiter = thread::spawn({
            let s = s.clone();
            move || {
                let mut g = block_on(s.m.lock());
                s.bump(&mut g);
            }
        });
        let canceller = thread::spawn(move || drop(doomed));

        drop(guard);
        {
            let mut g = block_on(s.m.lock());
            s.bump(&mut g);
        }
        waiter.join().unwrap();
        canceller.join().unwrap();
        let g = s.m.try_lock().expect("the lock was leaked");
        assert_eq!(*g, 2, "the cancelled locker ran its critical section");
    });
}
