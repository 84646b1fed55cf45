//! `task::Nursery`: first error cancels siblings, wait_any, drop cancels every
//! child, no child outlives the nursery, cancel safety of the waits.

mod common;

use std::future::pending;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::channel::oneshot;
use futures::future::{select, Either};
use tern_reactor::time::sleep;
use tern_runtime::task::Nursery;

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn wait_all_returns_outputs_in_spawn_order() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut n: Nursery<u64, String> = Nursery::new();
            for i in 0..6u64 {
                n.spawn(async move {
                    sleep(Duration::from_millis(12 - 2 * i)).await;
                    Ok(i)
                });
            }
            assert_eq!(n.len(), 6);
            assert_eq!(timeout(LIMIT, n.wait_all()).await.unwrap(), Ok(vec![0, 1, 2, 3, 4, 5]));
            assert!(n.is_empty());
            assert_eq!(n.wait_all().await, Ok(vec![]));
        })
    });
}

/// The first error is returned, and by then every sibling's future was dropped
/// (drop flags set before `wait_all` returns, not eventually).
#[test]
fn first_error_cancels_siblings() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut n: Nursery<(), &'static str> = Nursery::new();
            let mut flags = Vec::new();
            for _ in 0..5 {
                let (flag, dropped) = DropFlag::new();
                flags.push(dropped);
                n.spawn(async move {
                    let _f = flag;
                    loop {
                        sleep(Duration::from_millis(1)).await;
                    }
                });
            }
            n.spawn(async {
                sleep(Duration::from_millis(10)).await;
                Err("first")
            });
            n.spawn(async {
                sleep(Duration::from_millis(300)).await;
                Err("second")
            });
            assert_eq!(timeout(LIMIT, n.wait_all()).await.unwrap(), Err("first"));
            for f in &flags {
                assert!(f.load(SeqCst), "a sibling's future was still alive after wait_all returned");
            }
            assert!(n.is_empty());
        })
    });
}

#[test]
fn child_panic_propagates_after_cancelling_siblings() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (flag, dropped) = DropFlag::new();
            let outer = tern_runtime::spawn(async move {
                let mut n: Nursery<(), ()> = Nursery::new();
                n.spawn(async move {
                    let _f = flag;
                    pending().await
                });
                n.spawn(async {
                    sleep(Duration::from_millis(5)).await;
                    panic!("child blew up")
                });
                n.wait_all().await
            });
            let err = timeout(LIMIT, outer).await.unwrap().unwrap_err();
            assert_eq!(panic_message(&*err.into_panic()), "child blew up");
            assert!(dropped.load(SeqCst), "the sibling outlived the panicking wait_all");
        })
    });
}

#[test]
fn wait_any_returns_first_success_and_cancels_the_rest() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut n: Nursery<&'static str, &'static str> = Nursery::new();
            let (flag, dropped) = DropFlag::new();
            n.spawn(async move {
                let _f = flag;
                sleep(Duration::from_secs(30)).await;
                Ok("slow")
            });
            n.spawn(async { Err("fails fast") });
            n.spawn(async {
                sleep(Duration::from_millis(10)).await;
                Ok("winner")
            });
            assert_eq!(timeout(LIMIT, n.wait_any()).await.unwrap(), Ok("winner"));
            assert!(dropped.load(SeqCst), "the loser outlived wait_any");
            assert!(n.is_empty());

            // All fail: every error, in spawn order.
            for (i, ms) in [(0, 15u64), (1, 1), (2, 8)] {
                n.spawn(async move {
                    sleep(Duration::from_millis(ms)).await;
                    Err(["e0", "e1", "e2"][i])
                });
            }
            assert_eq!(timeout(LIMIT, n.wait_any()).await.unwrap(), Err(vec!["e0", "e1", "e2"]));
        })
    });
}

/// Dropping the nursery drops every child future before `drop` returns, even one
/// that is busy on another worker, and no child is polled after that.
#[test]
fn drop_cancels_all_and_nothing_outlives_it() {
    each(ALL, |rt, flavor| {
        rt.block_on(async move {
            let polls = Arc::new(AtomicUsize::new(0));
            let mut flags = Vec::new();
            let mut n: Nursery<(), ()> = Nursery::new();
            for i in 0..8 {
                let (flag, dropped) = DropFlag::new();
                flags.push(dropped);
                let polls = polls.clone();
                n.spawn(async move {
                    let _f = flag;
                    loop {
                        polls.fetch_add(1, SeqCst);
                        if i % 2 == 0 {
                            // busy children: a little CPU per poll
                            spin_for(Duration::from_micros(200));
                            tern_runtime::yield_now().await;
                        } else {
                            sleep(Duration::from_millis(1)).await;
                        }
                    }
                });
            }
            // Let them run a while (on other workers, for the multi-thread flavours).
            let deadline = std::time::Instant::now() + LIMIT;
            while polls.load(SeqCst) < 50 && std::time::Instant::now() < deadline {
                sleep(Duration::from_millis(1)).await;
            }
            assert!(polls.load(SeqCst) >= 50, "children did not run");
            drop(n);
            for f in &flags {
                assert!(f.load(SeqCst), "[{flavor:?}] a child future outlived the nursery's drop");
            }
            let after = polls.load(SeqCst);
            sleep(Duration::from_millis(30)).await;
            assert_eq!(polls.load(SeqCst), after, "a child was polled after the nursery was dropped");
        })
    });
}

/// Cancelling the task that owns the nursery (its future is dropped) cancels the
/// children too.
#[test]
fn cancelling_the_owner_cancels_the_children() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (flag, dropped) = DropFlag::new();
            let (started_tx, started_rx) = oneshot::channel();
            let owner = tern_runtime::spawn(async move {
                let mut n: Nursery<(), ()> = Nursery::new();
                n.spawn(async move {
                    let _f = flag;
                    let _ = started_tx.send(());
                    pending().await
                });
                n.wait_all().await
            });
            started_rx.await.unwrap();
            owner.abort();
            assert!(owner.await.unwrap_err().is_cancelled());
            assert!(dropped.load(SeqCst));
        })
    });
}

/// A pending `wait_all` is dropped mid-wait; nothing is lost: outputs that were
/// collected before and those that arrive later are all returned by the next call.
#[test]
fn cancelled_wait_all_loses_nothing() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut n: Nursery<u32, ()> = Nursery::new();
            n.spawn(async { Ok(0) });
            let (tx, rx) = oneshot::channel::<()>();
            n.spawn(async move {
                rx.await.unwrap();
                Ok(1)
            });
            n.spawn(async { Ok(2) });
            {
                let wait = pin!(n.wait_all());
                let tick = pin!(sleep(Duration::from_millis(20)));
                match select(wait, tick).await {
                    Either::Left(_) => panic!("child 1 is still blocked"),
                    Either::Right(_) => {}
                }
            }
            // The cancelled wait has collected children 0 and 2; they are kept.
            assert_eq!(n.len(), 3);
            tx.send(()).unwrap();
            assert_eq!(timeout(LIMIT, n.wait_all()).await.unwrap(), Ok(vec![0, 1, 2]));
        })
    });
}

/// Same for wait_any: cancelled while no child has succeeded yet, the errors
/// collected so far are not lost.
#[test]
fn cancelled_wait_any_loses_nothing() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut n: Nursery<u32, u32> = Nursery::new();
            n.spawn(async { Err(0) });
            let (tx, rx) = oneshot::channel::<()>();
            n.spawn(async move {
                rx.await.unwrap();
                Err(1)
            });
            let cancelled = AtomicBool::new(false);
            {
                let wait = pin!(n.wait_any());
                let tick = pin!(sleep(Duration::from_millis(20)));
                if let Either::Right(_) = select(wait, tick).await {
                    cancelled.store(true, SeqCst);
                }
            }
            assert!(cancelled.load(SeqCst));
            tx.send(()).unwrap();
            assert_eq!(timeout(LIMIT, n.wait_any()).await.unwrap(), Err(vec![0, 1]));
        })
    });
}
