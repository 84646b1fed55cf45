//! `task::CancelToken`: the tree, wake-ups, drop guards, run_until_cancelled,
//! and cancellation of pending waits.

mod common;

use std::future::pending;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::future::{select, Either};
use tern_reactor::time::sleep;
use tern_runtime::task::{CancelToken, JoinSet};

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn parent_cancels_descendants_never_the_reverse() {
    let root = CancelToken::new();
    let a = root.child_token();
    let b = root.child_token();
    let a1 = a.child_token();
    let a2 = a.child_token();
    let a1x = a1.child_token();

    a1.cancel();
    assert!(a1.is_cancelled() && a1x.is_cancelled());
    assert!(!a.is_cancelled() && !root.is_cancelled() && !a2.is_cancelled() && !b.is_cancelled());

    a.cancel();
    assert!(a2.is_cancelled());
    assert!(!root.is_cancelled() && !b.is_cancelled());

    root.cancel();
    assert!(b.is_cancelled());
    // A child of a cancelled token starts cancelled; clones share the state.
    assert!(root.child_token().is_cancelled());
    assert!(b.clone().is_cancelled());
}

#[test]
fn dropped_intermediate_still_propagates() {
    let root = CancelToken::new();
    let mid = root.child_token();
    let leaf = mid.child_token();
    drop(mid); // the node stays linked while it has a live child
    root.cancel();
    assert!(leaf.is_cancelled());
}

#[test]
fn many_children_created_and_dropped() {
    // Churn: children dropped before the parent is cancelled must not pile up or
    // break later cancellation (the unlink is modelled in loom-tests).
    let root = CancelToken::new();
    for _ in 0..10_000 {
        let c = root.child_token();
        let _g = c.child_token();
    }
    let keep = root.child_token();
    root.cancel();
    assert!(keep.is_cancelled());
}

/// Tasks on every worker wait on clones and descendants; one cancel from a plain
/// thread wakes them all.
#[test]
fn cancelled_wakes_every_waiter() {
    each(ALL, |rt, _| {
        let root = CancelToken::new();
        let woke = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        let _g = rt.handle().enter();
        for i in 0..32 {
            let t = if i % 2 == 0 { root.clone() } else { root.child_token().child_token() };
            let woke = woke.clone();
            set.spawn(async move {
                if i % 3 == 0 {
                    t.cancelled_owned().await;
                } else {
                    t.cancelled().await;
                }
                woke.fetch_add(1, SeqCst);
            });
        }
        let r2 = root.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            r2.cancel();
        });
        rt.block_on(async {
            while let Some(r) = timeout(LIMIT, set.join_next()).await.expect("a waiter was never woken") {
                r.unwrap();
            }
        });
        assert_eq!(woke.load(SeqCst), 32);
    });
}

#[test]
fn already_cancelled_is_ready_at_once() {
    each(SINGLE, |rt, _| {
        rt.block_on(async {
            let t = CancelToken::new();
            t.cancel();
            t.cancel(); // idempotent
            timeout(LIMIT, t.cancelled()).await.unwrap();
            timeout(LIMIT, t.clone().cancelled_owned()).await.unwrap();
        })
    });
}

#[test]
fn drop_guard_cancels_unless_disarmed() {
    let t = CancelToken::new();
    let g = t.clone().drop_guard();
    drop(g);
    assert!(t.is_cancelled());

    let t = CancelToken::new();
    let g = t.clone().drop_guard();
    let back = g.disarm();
    assert!(!t.is_cancelled());
    drop(back);
    assert!(!t.is_cancelled());
}

#[test]
fn run_until_cancelled() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let t = CancelToken::new();
            assert_eq!(t.run_until_cancelled(async { 5 }).await, Some(5));

            let (flag, dropped) = DropFlag::new();
            let t2 = t.clone();
            let h = tern_runtime::spawn(async move {
                t2.run_until_cancelled(async move {
                    let _f = flag;
                    pending::<u32>().await
                })
                .await
            });
            sleep(Duration::from_millis(10)).await;
            t.cancel();
            assert_eq!(timeout(LIMIT, h).await.unwrap().unwrap(), None);
            assert!(dropped.load(SeqCst), "the inner future is dropped on cancellation");

            // Both ready: cancellation wins.
            assert_eq!(t.run_until_cancelled(async { 1 }).await, None);
        })
    });
}

/// A pending `cancelled()` is dropped mid-wait (select against a timer), many
/// times; a later waiter is still woken by the cancel, and the drop released the
/// earlier registrations (no stale waker is woken into a finished task).
#[test]
fn cancelled_wait_can_be_dropped_mid_wait() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let t = CancelToken::new();
            for _ in 0..5 {
                let wait = pin!(t.cancelled());
                let tick = pin!(sleep(Duration::from_millis(2)));
                match select(wait, tick).await {
                    Either::Left(_) => panic!("not cancelled yet"),
                    Either::Right(_) => {}
                }
            }
            let t2 = t.clone();
            let waiter = tern_runtime::spawn(async move { t2.cancelled().await });
            sleep(Duration::from_millis(5)).await;
            t.cancel();
            timeout(LIMIT, waiter).await.unwrap().unwrap();
        })
    });
}
