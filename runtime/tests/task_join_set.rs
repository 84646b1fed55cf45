//! `task::JoinSet`: completion order, abort/shutdown/drop, panics, cancel safety.

mod common;

use std::future::pending;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::channel::oneshot;
use futures::future::{select, Either};
use tern_reactor::time::sleep;
use tern_runtime::task::JoinSet;

const LIMIT: Duration = Duration::from_secs(10);

/// Outputs come back in the order the tasks finish, not the order they were
/// spawned: the test releases them in a chosen order and checks each one.
#[test]
fn join_next_in_completion_order() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut set = JoinSet::new();
            let mut gates = Vec::new();
            for i in 0..5usize {
                let (tx, rx) = oneshot::channel::<()>();
                gates.push(Some(tx));
                set.spawn(async move {
                    rx.await.unwrap();
                    i
                });
            }
            assert_eq!(set.len(), 5);
            for &i in &[3usize, 0, 4, 1, 2] {
                gates[i].take().unwrap().send(()).unwrap();
                let got = timeout(LIMIT, set.join_next()).await.unwrap().unwrap().unwrap();
                assert_eq!(got, i);
            }
            assert!(set.is_empty());
            assert!(set.join_next().await.is_none());
        })
    });
}

#[test]
fn join_next_with_id_and_many_tasks() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut set = JoinSet::new();
            let mut ids = std::collections::HashMap::new();
            for i in 0..500u32 {
                let id = set.spawn(async move {
                    if i % 3 == 0 {
                        tern_runtime::yield_now().await;
                    }
                    i
                });
                ids.insert(id, i);
            }
            let mut seen = vec![false; 500];
            while let Some(r) = set.join_next_with_id().await {
                let (id, v) = r.unwrap();
                assert_eq!(ids[&id], v);
                assert!(!seen[v as usize], "output {v} delivered twice");
                seen[v as usize] = true;
            }
            assert!(seen.iter().all(|&s| s));
        })
    });
}

#[test]
fn try_join_next_does_not_wait() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut set = JoinSet::new();
            let (tx, rx) = oneshot::channel::<()>();
            set.spawn(async move {
                rx.await.unwrap();
                7
            });
            assert!(set.try_join_next().is_none());
            tx.send(()).unwrap();
            let mut got = None;
            for _ in 0..1000 {
                if let Some(r) = set.try_join_next() {
                    got = Some(r.unwrap());
                    break;
                }
                sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(got, Some(7));
            assert!(set.is_empty());
        })
    });
}

#[test]
fn abort_all_cancels_and_drops_futures() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut set = JoinSet::new();
            let mut flags = Vec::new();
            for _ in 0..8 {
                let (flag, dropped) = DropFlag::new();
                flags.push(dropped);
                set.spawn(async move {
                    let _f = flag;
                    pending::<u32>().await
                });
            }
            set.spawn(async { 1 });
            sleep(Duration::from_millis(5)).await;
            set.abort_all();
            let (mut cancelled, mut ok) = (0, 0);
            while let Some(r) = timeout(LIMIT, set.join_next()).await.unwrap() {
                match r {
                    Ok(1) => ok += 1,
                    Err(e) if e.is_cancelled() => cancelled += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!((cancelled, ok), (8, 1));
            assert!(flags.iter().all(|f| f.load(SeqCst)), "every aborted future was dropped");
        })
    });
}

#[test]
fn shutdown_waits_for_every_future_to_drop() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut set = JoinSet::new();
            let mut flags = Vec::new();
            for _ in 0..16 {
                let (flag, dropped) = DropFlag::new();
                flags.push(dropped);
                set.spawn(async move {
                    let _f = flag;
                    loop {
                        tern_runtime::yield_now().await;
                    }
                });
            }
            timeout(LIMIT, set.shutdown()).await.unwrap();
            assert!(set.is_empty());
            assert!(flags.iter().all(|f| f.load(SeqCst)), "shutdown returned with a future alive");
        })
    });
}

#[test]
fn dropping_the_set_aborts_its_tasks() {
    each(ALL, |rt, _| {
        let (flag, dropped) = DropFlag::new();
        let ran_after = Arc::new(AtomicUsize::new(0));
        let r2 = ran_after.clone();
        rt.block_on(async move {
            let mut set = JoinSet::new();
            set.spawn(async move {
                let _f = flag;
                sleep(Duration::from_millis(200)).await;
                r2.fetch_add(1, SeqCst);
            });
            tern_runtime::yield_now().await;
            drop(set);
        });
        assert!(drive_until(&rt, LIMIT, || dropped.load(SeqCst)), "the task was not aborted");
        rt.block_on(async { sleep(Duration::from_millis(250)).await });
        assert_eq!(ran_after.load(SeqCst), 0, "the task ran on after the set was dropped");
    });
}

#[test]
fn detach_all_lets_tasks_run_on() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut set = JoinSet::new();
            let (tx, rx) = oneshot::channel();
            set.spawn(async move {
                sleep(Duration::from_millis(10)).await;
                tx.send(5).unwrap();
            });
            set.detach_all();
            assert!(set.is_empty());
            drop(set);
            assert_eq!(timeout(LIMIT, rx).await.unwrap(), Ok(5));
        })
    });
}

#[test]
fn panics_are_join_errors_and_join_all_resumes_them() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async { panic!("boom in set") });
            let err = set.join_next().await.unwrap().unwrap_err();
            assert!(err.is_panic());
            assert_eq!(panic_message(&*err.into_panic()), "boom in set");

            // join_all: the panic resumes in the caller (here a task), and the
            // other member is aborted.
            let (flag, dropped) = DropFlag::new();
            let outer = tern_runtime::spawn(async move {
                let mut set = JoinSet::new();
                set.spawn(async move {
                    let _f = flag;
                    pending::<()>().await
                });
                set.spawn(async {
                    sleep(Duration::from_millis(5)).await;
                    panic!("second boom")
                });
                set.join_all().await
            });
            let err = outer.await.unwrap_err();
            assert_eq!(panic_message(&*err.into_panic()), "second boom");
            assert!(timeout(LIMIT, signal_when(LIMIT, move || dropped.load(SeqCst))).await.unwrap());
        })
    });
}

#[test]
fn join_all_returns_outputs_in_completion_order() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut set = JoinSet::new();
            let (tx, rx) = oneshot::channel::<()>();
            set.spawn(async move {
                rx.await.unwrap();
                "late"
            });
            set.spawn(async { "early" });
            let (done_tx, done_rx) = oneshot::channel();
            tern_runtime::spawn(async move {
                let _ = done_tx.send(set.join_all().await);
            });
            sleep(Duration::from_millis(20)).await;
            tx.send(()).unwrap();
            assert_eq!(timeout(LIMIT, done_rx).await.unwrap().unwrap(), vec!["early", "late"]);
        })
    });
}

#[test]
fn spawn_blocking_and_spawn_on() {
    each(ALL, |rt, _| {
        let handle = rt.handle().clone();
        rt.block_on(async move {
            let mut set = JoinSet::new();
            set.spawn_blocking(|| 40);
            set.spawn_on(async { 2 }, &handle);
            let mut sum = 0;
            while let Some(r) = set.join_next().await {
                sum += r.unwrap();
            }
            assert_eq!(sum, 42);
        })
    });
}

/// A pending `join_next` is dropped (cancelled) mid-wait; the output of the task
/// that finishes afterwards is not lost: the next `join_next` returns it.
#[test]
fn cancelled_join_next_loses_nothing() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let mut set = JoinSet::new();
            let (tx, rx) = oneshot::channel::<()>();
            set.spawn(async move {
                rx.await.unwrap();
                99
            });
            for _ in 0..3 {
                let next = pin!(set.join_next());
                let tick = pin!(sleep(Duration::from_millis(5)));
                match select(next, tick).await {
                    Either::Left(_) => panic!("nothing should be ready yet"),
                    Either::Right(_) => {} // the join_next future is dropped here
                }
            }
            tx.send(()).unwrap();
            sleep(Duration::from_millis(10)).await;
            // Also drop one that could have completed, never polled to the end.
            drop(set.join_next());
            assert_eq!(timeout(LIMIT, set.join_next()).await.unwrap().unwrap().unwrap(), 99);
            assert!(set.join_next().await.is_none());
        })
    });
}
