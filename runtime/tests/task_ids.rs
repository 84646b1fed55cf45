//! Task names (`task::Builder`, `Handle::task_name`) and ids (`task::id`,
//! `try_id`, `JoinHandle::id`, uniqueness).

mod common;

use std::collections::HashSet;
use std::thread;

use common::*;
use futures::channel::oneshot;
use futures::future::FutureExt;
use tern_runtime::{task, Handle};

#[test]
fn named_task_name_visible_while_alive() {
    each(ALL, |rt, _| {
        let (tx, rx) = oneshot::channel::<()>();
        let (seen_tx, seen_rx) = oneshot::channel();
        let jh = {
            let _g = rt.handle().enter();
            task::Builder::new().name("x").spawn(async move {
                // Inside the task, its own name is visible through the handle.
                let me = task::id();
                seen_tx.send(Handle::current().task_name(me)).unwrap();
                rx.await.unwrap();
                me
            })
        };
        let id = jh.id();
        assert_eq!(rt.handle().task_name(id).as_deref(), Some("x"));
        assert_eq!(rt.block_on(seen_rx).unwrap().as_deref(), Some("x"));
        tx.send(()).unwrap();
        assert_eq!(rt.block_on(jh).unwrap(), id);
        // Gone with the task.
        assert_eq!(rt.handle().task_name(id), None);

        // Unnamed tasks have no name; spawn_on works from another thread.
        let jh = rt.spawn(std::future::pending::<()>());
        assert_eq!(rt.handle().task_name(jh.id()), None);
        jh.abort();
        let h = rt.handle().clone();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let named = thread::spawn(move || {
            task::Builder::new().name("remote").spawn_on(
                async move {
                    go_rx.await.unwrap();
                    1
                },
                &h,
            )
        })
        .join()
        .unwrap();
        assert_eq!(rt.handle().task_name(named.id()).as_deref(), Some("remote"));
        go_tx.send(()).unwrap();
        assert_eq!(rt.block_on(named).unwrap(), 1);
        let _ = rt.block_on(jh);
    });
}

#[test]
fn many_named_tasks() {
    each(ALL, |rt, _| {
        let (gate_tx, gate_rx) = oneshot::channel::<()>();
        let gate = gate_rx.shared();
        let hs: Vec<_> = (0..1000)
            .map(|i| {
                let g = gate.clone();
                task::Builder::new().name(&format!("t-{i}")).spawn_on(
                    async move {
                        let _ = g.await;
                    },
                    rt.handle(),
                )
            })
            .collect();
        for (i, h) in hs.iter().enumerate() {
            assert_eq!(rt.handle().task_name(h.id()).as_deref(), Some(format!("t-{i}").as_str()));
        }
        let ids: Vec<_> = hs.iter().map(|h| h.id()).collect();
        gate_tx.send(()).unwrap();
        rt.block_on(async {
            for h in hs {
                h.await.unwrap();
            }
        });
        // (Right after the joins a name may linger briefly: see the next test.)
        assert!(drive_until(&rt, std::time::Duration::from_secs(10), || ids
            .iter()
            .all(|&id| rt.handle().task_name(id).is_none())));
    });
}

#[test]
fn task_name_is_gone_once_the_join_handle_returns() {
    // `Handle::task_name` is "the name of a live task". A task whose JoinHandle
    // has returned is no longer alive (num_alive_tasks already excludes it), so
    // its name must be gone too.
    each(&[Flavor::MultiThread(2), Flavor::MultiThread(4)], |rt, flavor| {
        let (stale, alive_after_join) = rt
            .block_on(rt.spawn(async {
                let (mut stale, mut alive) = (0, 0);
                for _ in 0..50 {
                    let hs: Vec<_> =
                        (0..1000).map(|_| task::Builder::new().name("short").spawn(async {})).collect();
                    for h in hs {
                        let id = h.id();
                        h.await.unwrap();
                        if Handle::current().task_name(id).is_some() {
                            stale += 1;
                        }
                    }
                    // Only this task is alive between batches.
                    if Handle::current().metrics().num_alive_tasks() != 1 {
                        alive += 1;
                    }
                }
                (stale, alive)
            }))
            .unwrap();
        assert_eq!(alive_after_join, 0, "{flavor:?}: finished tasks still counted alive");
        assert_eq!(
            stale, 0,
            "{flavor:?}: {stale} of 50000 names still visible after the task's JoinHandle returned"
        );
    });
}

#[test]
fn task_id_inside_equals_join_handle_id() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            // The block_on future is not a task.
            assert_eq!(task::try_id(), None);
            let jh = tern_runtime::spawn(async {
                let me = task::id();
                assert_eq!(task::try_id(), Some(me));
                // A child has its own id, and ours is restored after awaiting it.
                let child = tern_runtime::spawn(async { task::id() });
                let child_id = child.id();
                let inner = child.await.unwrap();
                assert_eq!(inner, child_id);
                assert_ne!(inner, me);
                assert_eq!(task::id(), me);
                tern_runtime::yield_now().await;
                assert_eq!(task::id(), me, "same id after a yield");
                me
            });
            let id = jh.id();
            assert_eq!(jh.await.unwrap(), id);
            assert_eq!(task::try_id(), None);
        });
        assert_eq!(task::try_id(), None);
        assert_eq!(thread::spawn(task::try_id).join().unwrap(), None);
    });
}

#[test]
#[should_panic(expected = "task::id() called outside a task")]
fn task_id_outside_a_task_panics() {
    let _ = task::id();
}

#[test]
fn ids_are_unique_among_live_tasks() {
    each(ALL, |rt, _| {
        let (gate_tx, gate_rx) = oneshot::channel::<()>();
        let gate = gate_rx.shared();
        let hs: Vec<_> = (0..10_000)
            .map(|_| {
                let g = gate.clone();
                rt.spawn(async move {
                    let _ = g.await;
                    task::id()
                })
            })
            .collect();
        let ids: HashSet<_> = hs.iter().map(|h| h.id()).collect();
        assert_eq!(ids.len(), 10_000, "duplicate ids among live tasks");
        let nums: HashSet<u64> = ids.iter().map(|id| id.as_u64()).collect();
        assert_eq!(nums.len(), 10_000);
        for id in ids.iter().take(10) {
            assert_eq!(id.to_string(), id.as_u64().to_string());
            assert!(format!("{id:?}").contains(&id.as_u64().to_string()));
        }
        gate_tx.send(()).unwrap();
        let expected: Vec<_> = hs.iter().map(|h| h.id()).collect();
        let inner = rt.block_on(async {
            let mut v = Vec::new();
            for h in hs {
                v.push(h.await.unwrap());
            }
            v
        });
        assert_eq!(inner, expected, "task::id() inside differs from JoinHandle::id()");

        // Ids of live tasks spawned from several threads at once are unique too.
        let (gate_tx, gate_rx) = oneshot::channel::<()>();
        let gate = gate_rx.shared();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let h = rt.handle().clone();
                let g = gate.clone();
                thread::spawn(move || {
                    (0..1000)
                        .map(|_| {
                            let g = g.clone();
                            h.spawn(async move {
                                let _ = g.await;
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let hs: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        let ids: HashSet<_> = hs.iter().map(|h| h.id()).collect();
        assert_eq!(ids.len(), 4000);
        gate_tx.send(()).unwrap();
        rt.block_on(async {
            for h in hs {
                h.await.unwrap();
            }
        });
    });
}

#[test]
fn join_error_carries_the_task_id() {
    each(ALL, |rt, _| {
        let jh = rt.spawn(std::future::pending::<()>());
        let id = jh.id();
        jh.abort();
        assert_eq!(rt.block_on(jh).unwrap_err().id(), id);
        let jh = task::Builder::new().name("p").spawn_on(async { panic!("id check") }, rt.handle());
        let id = jh.id();
        let err = rt.block_on(jh).unwrap_err();
        assert_eq!(err.id(), id);
        assert!(err.to_string().contains(&id.to_string()), "{err}");
    });
}

#[test]
fn ids_differ_across_runtimes_running_at_once() {
    // `task::Id` documents ids as "unique among all tasks alive in the process
    // at the same time", not just within one runtime.
    with_deadline("several runtimes", BODY_DEADLINE, || {
        let rts = [
            Flavor::CurrentThread.build(),
            Flavor::CurrentThread.build(),
            Flavor::MultiThread(2).build(),
            Flavor::MultiThread(2).build(),
        ];
        let mut all = Vec::new();
        for rt in &rts {
            for _ in 0..100 {
                all.push((rt, rt.spawn(std::future::pending::<()>())));
            }
        }
        let ids: HashSet<_> = all.iter().map(|(_, h)| h.id()).collect();
        let dup = all.len() - ids.len();
        let first = (all[0].1.id(), all[100].1.id());
        for (rt, h) in all {
            h.abort();
            assert!(rt.block_on(h).unwrap_err().is_cancelled());
        }
        assert_eq!(
            dup, 0,
            "{dup} of 400 ids are shared by tasks alive at the same time on different runtimes \
             (e.g. the first task of two current-thread runtimes: {:?} and {:?})",
            first.0, first.1
        );
    });
}
