//! `task_local!` / `task::LocalKey`: isolation between concurrent tasks, values
//! that follow a task across workers, scopes, and visibility rules.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tern_reactor::time::sleep;
use tern_runtime::task::{JoinSet, LocalKey};

tern_runtime::task_local! {
    static ID: usize;
    static NAME: String;
}

const LIMIT: Duration = Duration::from_secs(10);

/// Many tasks, each in its own scope, yield and sleep repeatedly (so they run
/// interleaved and, on the multi-thread runtime, move between workers): each
/// always sees its own value. On 4 workers, at least one task must have been
/// polled on more than one thread, so the value really followed it.
#[test]
fn isolation_across_tasks_and_workers() {
    each(ALL, |rt, flavor| {
        let migrated = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let mut set = JoinSet::new();
            for i in 0..64usize {
                let migrated = migrated.clone();
                set.spawn(ID.scope(i, async move {
                    let mut threads = HashSet::new();
                    for round in 0..20 {
                        threads.insert(std::thread::current().id());
                        assert_eq!(ID.get(), i);
                        if round % 2 == 0 {
                            tern_runtime::yield_now().await;
                        } else {
                            sleep(Duration::from_millis(1)).await;
                        }
                        ID.with(|v| assert_eq!(*v, i));
                    }
                    if threads.len() > 1 {
                        migrated.fetch_add(1, SeqCst);
                    }
                    i
                }));
            }
            let mut sum = 0;
            while let Some(r) = timeout(LIMIT, set.join_next()).await.unwrap() {
                sum += r.unwrap();
            }
            assert_eq!(sum, (0..64).sum::<usize>());
        });
        if flavor == Flavor::MultiThread(4) {
            assert!(migrated.load(SeqCst) > 0, "no task moved between workers; the test proved nothing");
        }
    });
}

#[test]
fn not_visible_outside_the_scope() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            assert!(ID.try_with(|_| ()).is_err());
            let inner = ID
                .scope(7, async {
                    // A task spawned inside the scope does not inherit the value.
                    let child = tern_runtime::spawn(async { ID.try_with(|v| *v).is_err() });
                    assert!(child.await.unwrap());
                    ID.get()
                })
                .await;
            assert_eq!(inner, 7);
            assert!(ID.try_with(|_| ()).is_err(), "the value leaked out of its scope");
            // The thread that polled the scope does not see it either, in another task.
            let other = tern_runtime::spawn(async { ID.try_with(|v| *v).ok() });
            assert_eq!(other.await.unwrap(), None);
        })
    });
}

#[test]
fn nested_scopes_shadow_and_restore() {
    each(SINGLE, |rt, _| {
        rt.block_on(async {
            ID.scope(1, async {
                assert_eq!(ID.get(), 1);
                ID.scope(2, async {
                    tern_runtime::yield_now().await;
                    assert_eq!(ID.get(), 2);
                })
                .await;
                assert_eq!(ID.get(), 1);
                let s = ID.sync_scope(3, || ID.get());
                assert_eq!(s, 3);
                assert_eq!(ID.get(), 1);
                NAME.scope("x".into(), async {
                    assert_eq!(NAME.get(), "x");
                    assert_eq!(ID.get(), 1);
                })
                .await;
            })
            .await;
        })
    });
}

#[test]
fn with_panics_outside_a_scope() {
    let r = std::panic::catch_unwind(|| ID.with(|v| *v));
    assert!(r.is_err());
    let _: &LocalKey<usize> = &ID;
}

/// The inner future's destructor runs inside the scope (sees the value), and a
/// scope future dropped before completion leaks nothing into the thread.
#[test]
fn drop_runs_inside_the_scope() {
    struct SeesValue(Arc<Mutex<Option<usize>>>);
    impl Drop for SeesValue {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = ID.try_with(|v| *v).ok();
        }
    }
    each(SINGLE, |rt, _| {
        rt.block_on(async {
            let seen = Arc::new(Mutex::new(None));
            let s = SeesValue(seen.clone());
            let fut = ID.scope(9, async move {
                let _s = s;
                std::future::pending::<()>().await
            });
            let mut fut = Box::pin(fut);
            assert!(futures::poll!(fut.as_mut()).is_pending());
            drop(fut);
            assert_eq!(*seen.lock().unwrap(), Some(9));
            assert!(ID.try_with(|_| ()).is_err());
        })
    });
}
