//! Spawning and joining: outputs, many tasks, nested spawns, spawning from other
//! threads through a `Handle`, `Handle::current`/`try_current`/`enter`, and
//! cross-thread wakes.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use tern_runtime::{Handle, Runtime};

#[test]
fn spawn_returns_output() {
    each(ALL, |rt, _| {
        let v = rt.block_on(async { tern_runtime::spawn(async { 6 * 7 }).await.unwrap() });
        assert_eq!(v, 42);

        // Spawned from outside `block_on`, joined inside it.
        let jh = rt.spawn(async { String::from("hello") });
        assert_eq!(rt.block_on(jh).unwrap(), "hello");

        // A non-trivial output moves out intact.
        let jh = rt.spawn(async { (0..1000u32).collect::<Vec<_>>() });
        let v = rt.block_on(jh).unwrap();
        assert_eq!(v.len(), 1000);
        assert_eq!(v[999], 999);

        // Through the handle.
        let jh = rt.handle().spawn(async { 5u8 });
        assert_eq!(rt.block_on(jh).unwrap(), 5);
    });
}

#[test]
fn many_tasks_all_complete() {
    each(ALL, |rt, _| {
        let n = 10_000u64;
        let sum = rt.block_on(async move {
            let hs: Vec<_> = (0..n)
                .map(|i| {
                    tern_runtime::spawn(async move {
                        if i % 3 == 0 {
                            tern_runtime::yield_now().await;
                        }
                        i
                    })
                })
                .collect();
            let mut s = 0;
            for h in hs {
                s += h.await.unwrap();
            }
            s
        });
        assert_eq!(sum, n * (n - 1) / 2);
        assert_eq!(rt.metrics().num_alive_tasks(), 0);
    });
}

fn tree(depth: u32) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            return 1;
        }
        let l = tern_runtime::spawn(tree(depth - 1));
        let r = tern_runtime::spawn(tree(depth - 1));
        1 + l.await.unwrap() + r.await.unwrap()
    })
}

#[test]
fn spawn_from_inside_tasks() {
    each(ALL, |rt, _| {
        // A binary tree of tasks, each spawning its two children.
        let total = rt.block_on(rt.spawn(tree(10))).unwrap();
        assert_eq!(total, 2047);

        // Fire-and-forget children outlive their parent.
        let (tx, rx) = mpsc::unbounded::<usize>();
        let parent = rt.spawn(async move {
            for i in 0..100 {
                let tx = tx.clone();
                tern_runtime::spawn(async move {
                    tern_runtime::yield_now().await;
                    tx.unbounded_send(i).unwrap();
                });
            }
        });
        rt.block_on(parent).unwrap();
        let mut got: Vec<usize> = rt.block_on(rx.collect());
        got.sort_unstable();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    });
}

#[test]
fn spawn_from_std_thread_via_handle() {
    each(ALL, |rt, flavor| {
        // Spawned while nobody is inside `block_on`.
        let h = rt.handle().clone();
        let jh = thread::spawn(move || h.spawn(async { thread::current().name().map(str::to_owned) }))
            .join()
            .unwrap();
        let ran_on = rt.block_on(jh).unwrap();
        match flavor {
            // Tasks run on the thread inside `block_on`.
            Flavor::CurrentThread => {
                assert_eq!(ran_on, thread::current().name().map(str::to_owned))
            }
            Flavor::MultiThread(_) => assert_eq!(ran_on.as_deref(), Some("tern-worker")),
        }

        // Spawned while `block_on` is parked waiting for it.
        let h = rt.handle().clone();
        let v = rt.block_on(async move {
            let (tx, rx) = oneshot::channel();
            let t = thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                tx.send(h.spawn(async { 7 })).unwrap();
            });
            let v = rx.await.unwrap().await.unwrap();
            t.join().unwrap();
            v
        });
        assert_eq!(v, 7);

        // Several threads spawning at once.
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let h = rt.handle().clone();
                thread::spawn(move || {
                    (0..250u64).map(|i| h.spawn(async move { t * 1000 + i })).collect::<Vec<_>>()
                })
            })
            .collect();
        let handles: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        let sum = rt.block_on(async move {
            let mut s = 0;
            for h in handles {
                s += h.await.unwrap();
            }
            s
        });
        let expected: u64 = (0..4u64).map(|t| (0..250u64).map(|i| t * 1000 + i).sum::<u64>()).sum();
        assert_eq!(sum, expected);
    });
}

#[test]
fn handle_current_inside_tasks() {
    each(ALL, |rt, _| {
        let outer = rt.handle().clone();
        let other = Runtime::new_current_thread();
        let other_handle = other.handle().clone();
        let (same, same_as_other, v) = rt.block_on(async move {
            assert!(Handle::current().ptr_eq(&outer), "inside block_on");
            tern_runtime::spawn(async move {
                let h = Handle::current();
                let same = h.ptr_eq(&outer);
                let same_as_other = h.ptr_eq(&other_handle);
                // Spawning through the current handle lands on the same runtime.
                let outer2 = outer.clone();
                let v = h.spawn(async move { Handle::current().ptr_eq(&outer2) }).await.unwrap();
                (same, same_as_other, v)
            })
            .await
            .unwrap()
        });
        assert!(same);
        assert!(!same_as_other);
        assert!(v);
        drop(other);
    });
}

#[test]
fn try_current_outside_is_err() {
    with_deadline("try_current", BODY_DEADLINE, || {
        let err = Handle::try_current().unwrap_err();
        assert!(err.to_string().contains("no tern runtime"), "{err}");

        let rt = Runtime::new_current_thread();
        assert!(Handle::try_current().is_err(), "building a runtime does not enter it");
        rt.block_on(async { assert!(Handle::try_current().is_ok()) });
        assert!(Handle::try_current().is_err(), "block_on restores the context");

        let mt = tern_runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        mt.block_on(async { assert!(Handle::try_current().unwrap().ptr_eq(mt.handle())) });
        assert!(Handle::try_current().is_err());

        // A plain thread never has a runtime.
        thread::spawn(|| assert!(Handle::try_current().is_err())).join().unwrap();
    });
}

#[test]
#[should_panic(expected = "no tern runtime is running on this thread")]
fn handle_current_outside_panics() {
    with_deadline("Handle::current", BODY_DEADLINE, || {
        let _ = Handle::current();
    });
}

#[test]
#[should_panic(expected = "no tern runtime")]
fn free_spawn_outside_panics() {
    with_deadline("spawn", BODY_DEADLINE, || {
        drop(tern_runtime::spawn(async {}));
    });
}

#[test]
fn enter_makes_spawn_work() {
    each(ALL, |rt, _| {
        let jh = {
            let _guard = rt.handle().enter();
            assert!(Handle::current().ptr_eq(rt.handle()));
            tern_runtime::spawn(async { 5 })
        };
        assert!(Handle::try_current().is_err(), "the guard restores the previous context");
        assert_eq!(rt.block_on(jh).unwrap(), 5);

        // Nested guards restore in order.
        let rt2 = Runtime::new_current_thread();
        let g1 = rt.handle().enter();
        {
            let _g2 = rt2.handle().enter();
            assert!(Handle::current().ptr_eq(rt2.handle()));
        }
        assert!(Handle::current().ptr_eq(rt.handle()));
        // `enter` is not "driving" a runtime: block_on still works under it.
        assert_eq!(rt.block_on(async { tern_runtime::spawn(async { 9 }).await.unwrap() }), 9);
        drop(g1);
        assert!(Handle::try_current().is_err());

        // On another std thread.
        let h = rt.handle().clone();
        let jh = thread::spawn(move || {
            let _g = h.enter();
            tern_runtime::task::Builder::new().name("entered").spawn(async { 11 })
        })
        .join()
        .unwrap();
        assert_eq!(rt.block_on(jh).unwrap(), 11);
    });
}

#[test]
fn join_handle_awaited_outside_its_runtime() {
    each(MULTI, |rt, _| {
        // From a plain thread with another executor.
        let jh = rt.spawn(async {
            sleep(Duration::from_millis(10)).await;
            11
        });
        let v = thread::spawn(move || futures::executor::block_on(jh)).join().unwrap();
        assert_eq!(v.unwrap(), 11);

        // From another runtime's block_on and from a task on it.
        let other = Runtime::new_current_thread();
        let jh = rt.spawn(async {
            sleep(Duration::from_millis(10)).await;
            12
        });
        assert_eq!(other.block_on(jh).unwrap(), 12);
        let jh = rt.spawn(async {
            sleep(Duration::from_millis(10)).await;
            Handle::current()
        });
        let (v, ran_on) = other.block_on(async move {
            tern_runtime::spawn(async move { (13, jh.await.unwrap()) }).await.unwrap()
        });
        assert_eq!(v, 13);
        assert!(ran_on.ptr_eq(rt.handle()), "the task ran on its own runtime");
    });
}

#[test]
fn wakes_from_std_threads() {
    each(ALL, |rt, _| {
        // One consumer, woken by four producer threads racing with it.
        let (tx, mut rx) = mpsc::unbounded::<u64>();
        let consumer = rt.spawn(async move {
            let (mut n, mut sum) = (0u64, 0u64);
            while let Some(v) = rx.next().await {
                n += 1;
                sum += v;
            }
            (n, sum)
        });
        let producers: Vec<_> = (0..4)
            .map(|_| {
                let tx = tx.clone();
                thread::spawn(move || {
                    for i in 0..20_000u64 {
                        tx.unbounded_send(i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let (n, sum) = rt.block_on(consumer).unwrap();
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(n, 80_000);
        assert_eq!(sum, 4 * (20_000 * 19_999 / 2));

        // A thousand tasks, each woken once from one of four threads.
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for i in 0..1000u32 {
            let (tx, rx) = oneshot::channel::<u32>();
            senders.push(tx);
            handles.push(rt.spawn(async move { rx.await.unwrap() + i }));
        }
        let fired = Arc::new(AtomicUsize::new(0));
        let mut chunks: Vec<Vec<_>> = (0..4).map(|_| Vec::new()).collect();
        for (i, s) in senders.into_iter().enumerate() {
            chunks[i % 4].push(s);
        }
        let threads: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let fired = fired.clone();
                thread::spawn(move || {
                    for s in chunk {
                        s.send(1).unwrap();
                        fired.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        let sum = rt.block_on(async move {
            let mut s = 0u64;
            for h in handles {
                s += u64::from(h.await.unwrap());
            }
            s
        });
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(fired.load(SeqCst), 1000);
        assert_eq!(sum, 1000 + 999 * 1000 / 2);
    });
}

#[test]
fn free_block_on_and_spawn() {
    with_deadline("tern_runtime::block_on", BODY_DEADLINE, || {
        let v = tern_runtime::block_on(async {
            let hs: Vec<_> = (0..100u64).map(|i| tern_runtime::spawn(async move { i })).collect();
            let mut s = 0;
            for h in hs {
                s += h.await.unwrap();
            }
            s
        });
        assert_eq!(v, 4950);
        // The thread is usable again afterwards.
        assert_eq!(tern_runtime::block_on(async { 1 }), 1);
    });
}

#[test]
fn concurrent_block_on_on_current_thread_runtime() {
    // Two threads inside `block_on` of one current-thread runtime: one drives the
    // tasks, the other drives only its own future; a task spawned from the second
    // still runs (on the first) while the first is inside `block_on`.
    with_deadline("concurrent block_on", BODY_DEADLINE, || {
        let rt = Arc::new(Runtime::new_current_thread());
        let (in_tx, in_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let rt1 = rt.clone();
        let driver = thread::spawn(move || {
            rt1.block_on(async move {
                in_tx.send(()).unwrap();
                release_rx.await.unwrap();
            })
        });
        in_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let v = rt.block_on(async {
            let a = sleep(Duration::from_millis(5));
            a.await;
            tern_runtime::spawn(async { 21 * 2 }).await.unwrap()
        });
        assert_eq!(v, 42);
        release_tx.send(()).unwrap();
        driver.join().unwrap();
    });
}

#[test]
fn concurrent_block_on_takes_over_when_the_driver_leaves() {
    with_deadline("hand-off", BODY_DEADLINE, || {
        let rt = Arc::new(Runtime::new_current_thread());
        let (in_tx, in_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let rt1 = rt.clone();
        let driver = thread::spawn(move || {
            rt1.block_on(async move {
                in_tx.send(()).unwrap();
                release_rx.await.unwrap();
            })
        });
        in_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        // A second thread waits in block_on for a task while the first drives.
        let (gate_tx, gate_rx) = oneshot::channel::<()>();
        let (b_in_tx, b_in_rx) = std::sync::mpsc::channel();
        let rt2 = rt.clone();
        let waiter = thread::spawn(move || {
            rt2.block_on(async move {
                let jh = tern_runtime::spawn(async move {
                    gate_rx.await.unwrap();
                    5
                });
                b_in_tx.send(()).unwrap();
                timeout(Duration::from_secs(2), jh).await
            })
        });
        b_in_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        thread::sleep(Duration::from_millis(20));
        // The driver leaves; only then is the task able to finish.
        release_tx.send(()).unwrap();
        driver.join().unwrap();
        gate_tx.send(()).unwrap();
        let r = waiter.join().unwrap();
        assert_eq!(r.map(|r| r.unwrap()), Ok(5), "the remaining block_on never ran the runtime's tasks");
    });
}

#[test]
fn wake_storm_from_many_threads() {
    // Four threads hammer a task's waker (wake_by_ref, clone + wake, drop)
    // while it is being polled, idle and queued; it must simply be polled
    // again until it is done, with no lost or doubled state.
    each(ALL, |rt, _| {
        use std::sync::atomic::AtomicBool;
        use std::sync::Mutex;
        let slot: Arc<Mutex<Option<std::task::Waker>>> = Arc::default();
        let polls = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, p) = (slot.clone(), polls.clone());
        let jh = rt.spawn(std::future::poll_fn(move |cx| {
            *s.lock().unwrap() = Some(cx.waker().clone());
            if p.fetch_add(1, SeqCst) >= 2_000 {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        }));
        let wakers: Vec<_> = (0..4)
            .map(|k| {
                let (slot, stop) = (slot.clone(), stop.clone());
                thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        let w = slot.lock().unwrap().clone();
                        match (w, k % 2) {
                            (Some(w), 0) => w.wake_by_ref(),
                            (Some(w), _) => w.wake(),
                            (None, _) => thread::yield_now(),
                        }
                    }
                })
            })
            .collect();
        let r = rt.block_on(timeout(Duration::from_secs(20), jh));
        stop.store(true, SeqCst);
        for w in wakers {
            w.join().unwrap();
        }
        assert_eq!(r.map(|r| r.unwrap()), Ok(()), "the task stopped being polled");
        assert!(polls.load(SeqCst) > 2_000);
        // Wakes after completion are no-ops.
        let w = slot.lock().unwrap().take().unwrap();
        w.wake_by_ref();
        w.wake();
        assert!(drive_until(&rt, Duration::from_secs(10), || rt.metrics().num_alive_tasks() == 0));
    });
}

#[test]
#[should_panic(expected = "JoinHandle polled after it returned Ready")]
fn join_handle_polled_after_ready_panics() {
    with_deadline("poll after ready", BODY_DEADLINE, || {
        use futures::FutureExt;
        let rt = Runtime::new_current_thread();
        let mut jh = rt.spawn(async { 1 });
        assert_eq!(rt.block_on(&mut jh).unwrap(), 1);
        let waker = futures::task::noop_waker();
        let _ = jh.poll_unpin(&mut std::task::Context::from_waker(&waker));
    });
}
