#![cfg(loom)]
//! Loom models of `CancelToken` (`runtime/src/task/cancel.rs`): the cancelled
//! flag, the waker list and the parent/child tree.
//!
//! Futures are polled by hand with a flag waker. Every node is a loom `Arc`, so
//! loom's leak check at the end of each iteration reports a parent/child cycle
//! that was not broken; a double removal would trip the slab or a refcount.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use tern_runtime::__loom::CancelToken;

/// A waker that only records that it was woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, SeqCst);
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

fn flag_waker() -> (std::sync::Arc<Flag>, Waker) {
    let flag = std::sync::Arc::new(Flag::default());
    let waker = Waker::from(flag.clone());
    (flag, waker)
}

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// `cancel` on one thread races the registration of a `cancelled()` waiter on
/// another: if the first poll was `Pending`, the waker was woken (no lost
/// wake-up), and the next poll is `Ready`.
#[test]
fn cancel_races_cancelled_registration() {
    loom::model(|| {
        let token = CancelToken::new();
        let t2 = token.clone();
        let th = thread::spawn(move || t2.cancel());

        let (flag, waker) = flag_waker();
        {
            let mut fut = pin!(token.cancelled());
            let first = poll_once(fut.as_mut(), &waker);
            th.join().unwrap();
            if first.is_pending() {
                assert!(flag.0.load(SeqCst), "lost wake-up: registered waiter never woken");
            }
            assert!(poll_once(fut.as_mut(), &waker).is_ready());
        }
        assert!(token.is_cancelled());
        assert_eq!(token.__registered_waiters(), 0);
    });
}

/// The same with the owned future polled on its own thread, twice (the second
/// poll refreshes the registered waker with a new one), while the main thread
/// cancels.
#[test]
fn cancel_races_owned_waiter_rewake() {
    loom::model(|| {
        let token = CancelToken::new();
        let waiter = token.clone();
        let th = thread::spawn(move || {
            let (f1, w1) = flag_waker();
            let (f2, w2) = flag_waker();
            let mut fut = pin!(waiter.cancelled_owned());
            let p1 = poll_once(fut.as_mut(), &w1);
            if p1.is_ready() {
                return;
            }
            let p2 = poll_once(fut.as_mut(), &w2);
            if p2.is_ready() {
                return;
            }
            // Still pending after the second registration: the cancel comes later
            // and must wake the *second* waker.
            while !f2.0.load(SeqCst) {
                thread::yield_now();
            }
            let _ = f1;
            assert!(poll_once(fut.as_mut(), &w2).is_ready());
        });
        token.cancel();
        th.join().unwrap();
        assert_eq!(token.__registered_waiters(), 0);
    });
}

/// Dropping a pending `cancelled()` future races `cancel`: the waiter slot is
/// removed exactly once (by the drop or drained by the cancel).
#[test]
fn drop_waiter_races_cancel() {
    loom::model(|| {
        let token = CancelToken::new();
        let t2 = token.clone();
        let th = thread::spawn(move || {
            let (_flag, waker) = flag_waker();
            let mut fut = pin!(t2.cancelled());
            let _ = poll_once(fut.as_mut(), &waker);
            // dropped here, maybe while the main thread cancels
        });
        token.cancel();
        th.join().unwrap();
        assert_eq!(token.__registered_waiters(), 0);
    });
}

/// Cancelling a parent races creating a child on another thread: however they
/// interleave, the child ends up cancelled, and a waiter registered on it right
/// away is woken.
#[test]
fn parent_cancel_races_child_creation() {
    loom::model(|| {
        let parent = CancelToken::new();
        let p2 = parent.clone();
        let th = thread::spawn(move || {
            let child = p2.child_token();
            let (flag, waker) = flag_waker();
            // Owned and boxed: the waiter stays registered after this thread ends.
            let mut fut = Box::pin(child.clone().cancelled_owned());
            let first = poll_once(fut.as_mut(), &waker);
            (child, fut, first.is_pending(), flag, waker)
        });
        parent.cancel();
        let (child, mut fut, was_pending, flag, waker) = th.join().unwrap();
        assert!(child.is_cancelled(), "child created concurrently with the cancel missed it");
        if was_pending {
            assert!(flag.0.load(SeqCst), "child's waiter never woken");
        }
        assert!(poll_once(fut.as_mut(), &waker).is_ready());
        drop(fut);
        assert_eq!(child.__registered_waiters(), 0);
        // A cancelled parent keeps no children.
        assert_eq!(parent.__linked_children(), 0);
    });
}

/// A child (with a grandchild below it) is dropped while the parent is cancelled:
/// no leak (loom's Arc check), no double removal, the parent's list ends empty,
/// and the surviving grandchild is cancelled.
#[test]
fn child_drop_races_parent_cancel() {
    loom::model(|| {
        let parent = CancelToken::new();
        let child = parent.child_token();
        let grandchild = child.child_token();
        let th = thread::spawn(move || drop(child));
        parent.cancel();
        th.join().unwrap();
        assert!(grandchild.is_cancelled());
        assert_eq!(parent.__linked_children(), 0);
        drop(grandchild);
    });
}

/// A child is dropped while the parent is *not* cancelled, racing the parent's
/// last handle being dropped: both nodes are freed (the cycle is broken exactly
/// once) whatever the order.
#[test]
fn child_drop_races_parent_drop() {
    loom::model(|| {
        let parent = CancelToken::new();
        let child = parent.child_token();
        let keep = parent.clone();
        let th = thread::spawn(move || drop(child));
        drop(parent);
        th.join().unwrap();
        assert_eq!(keep.__linked_children(), 0, "a dropped child stayed linked");
        assert!(!keep.is_cancelled());
        drop(keep);
    });
}

/// Grandchild drop racing the drop of the (handle-less) middle node's last
/// handle and a cancel of the root: every node is unlinked or cancelled, nothing
/// leaks.
#[test]
fn chain_unlink_races_root_cancel() {
    loom::model(|| {
        let root = CancelToken::new();
        let mid = root.child_token();
        let leaf = mid.child_token();
        let th = thread::spawn(move || {
            leaf.cancel();
            drop(leaf);
        });
        let r2 = root.clone();
        let th2 = thread::spawn(move || r2.cancel());
        drop(mid);
        th.join().unwrap();
        th2.join().unwrap();
        assert!(root.is_cancelled());
        assert_eq!(root.__linked_children(), 0);
    });
}
