//! `JoinHandle::abort`, `is_finished`, and detaching by dropping the handle.

mod common;

use std::future::pending;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use futures::channel::oneshot;
use tern_runtime::{yield_now, JoinHandle};

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn abort_idle_pending_task() {
    each(ALL, |rt, _| {
        let (flag, dropped) = DropFlag::new();
        let (started_tx, started_rx) = oneshot::channel();
        let mut jh = rt.spawn(async move {
            let _f = flag;
            started_tx.send(()).unwrap();
            pending::<()>().await;
        });
        rt.block_on(started_rx).unwrap();
        assert!(!jh.is_finished());
        assert!(!dropped.load(SeqCst));
        jh.abort();
        let err = rt.block_on(&mut jh).unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(err.id(), jh.id());
        assert!(dropped.load(SeqCst), "the aborted future was dropped before the join completed");
        assert!(jh.is_finished());
        // Aborting again is harmless.
        jh.abort();
        drop(jh);
        assert!(drive_until(&rt, LIMIT, || rt.metrics().num_alive_tasks() == 0));
    });
}

#[test]
fn abort_before_first_poll() {
    // Current-thread: tasks only run inside block_on, so the task below is
    // certainly never polled.
    with_deadline("current-thread", BODY_DEADLINE, || {
        let rt = Flavor::CurrentThread.build();
        let ran = Arc::new(AtomicBool::new(false));
        let (flag, dropped) = DropFlag::new();
        let r = ran.clone();
        let jh = rt.spawn(async move {
            let _f = flag;
            r.store(true, SeqCst);
        });
        jh.abort();
        let err = rt.block_on(jh).unwrap_err();
        assert!(err.is_cancelled());
        assert!(!ran.load(SeqCst), "an aborted task was polled");
        assert!(dropped.load(SeqCst));
    });

    // Multi-thread: keep the only worker blocked while spawning and aborting.
    with_deadline("multi-thread(1)", BODY_DEADLINE, || {
        let rt = Flavor::MultiThread(1).build();
        let (block_tx, block_rx) = std::sync::mpsc::channel::<()>();
        let (in_tx, in_rx) = std::sync::mpsc::channel::<()>();
        let blocker = rt.spawn(async move {
            in_tx.send(()).unwrap();
            block_rx.recv_timeout(LIMIT).unwrap();
        });
        in_rx.recv_timeout(LIMIT).unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let (flag, dropped) = DropFlag::new();
        let r = ran.clone();
        let jh = rt.spawn(async move {
            let _f = flag;
            r.store(true, SeqCst);
        });
        jh.abort();
        block_tx.send(()).unwrap();
        let err = rt.block_on(jh).unwrap_err();
        assert!(err.is_cancelled());
        assert!(!ran.load(SeqCst), "an aborted task was polled");
        assert!(dropped.load(SeqCst));
        rt.block_on(blocker).unwrap();
    });
}

#[test]
fn abort_after_completion_keeps_output() {
    each(ALL, |rt, _| {
        let jh = rt.spawn(async { 42 });
        assert!(drive_until(&rt, LIMIT, || jh.is_finished()));
        jh.abort();
        assert_eq!(rt.block_on(jh).unwrap(), 42);

        // Also for an output with a destructor: it is handed over, not dropped.
        let (flag, dropped) = DropFlag::new();
        let jh = rt.spawn(async move { flag });
        assert!(drive_until(&rt, LIMIT, || jh.is_finished()));
        jh.abort();
        let out = rt.block_on(jh).unwrap();
        assert!(!dropped.load(SeqCst));
        drop(out);
        assert!(dropped.load(SeqCst));
    });
}

#[test]
fn abort_running_task_cancels_at_next_yield() {
    each(ALL, |rt, flavor| {
        let iters = Arc::new(AtomicUsize::new(0));
        let (flag, dropped) = DropFlag::new();
        let it = iters.clone();
        let mut jh = rt.spawn(async move {
            let _f = flag;
            // Bounded so a broken abort fails the test instead of hanging it.
            for _ in 0..2_000_000 {
                it.fetch_add(1, SeqCst);
                yield_now().await;
            }
            panic!("the task was never cancelled");
        });
        assert!(drive_until(&rt, LIMIT, || iters.load(SeqCst) > 100));
        jh.abort();
        let err = rt.block_on(&mut jh).unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert!(dropped.load(SeqCst));
        let seen = iters.load(SeqCst);
        if flavor.is_multi() {
            thread::sleep(Duration::from_millis(20));
        } else {
            rt.block_on(sleep(Duration::from_millis(20)));
        }
        assert_eq!(iters.load(SeqCst), seen, "the task kept running after it was cancelled");
    });
}

#[test]
fn task_aborting_itself_stops_at_next_yield() {
    each(ALL, |rt, _| {
        let (jh_tx, jh_rx) = oneshot::channel::<Arc<JoinHandle<()>>>();
        let aborted = Arc::new(AtomicBool::new(false));
        let after = Arc::new(AtomicBool::new(false));
        let (a, b) = (aborted.clone(), after.clone());
        let jh = Arc::new(rt.spawn(async move {
            let me = jh_rx.await.unwrap();
            me.abort();
            // Still running: the abort only takes effect when the poll returns.
            a.store(true, SeqCst);
            assert!(!me.is_finished());
            yield_now().await;
            b.store(true, SeqCst);
        }));
        jh_tx.send(jh.clone()).unwrap();
        assert!(drive_until(&rt, LIMIT, || jh.is_finished()));
        assert!(aborted.load(SeqCst));
        assert!(!after.load(SeqCst), "the task ran past the yield after aborting itself");
        // The future (holding the other Arc) is gone, so the handle is ours again.
        let jh = Arc::try_unwrap(jh).expect("the cancelled future was not dropped");
        assert!(rt.block_on(jh).unwrap_err().is_cancelled());
    });
}

#[test]
fn abort_from_another_thread_during_a_poll() {
    each(MULTI, |rt, _| {
        let in_poll = Arc::new(AtomicBool::new(false));
        let go = Arc::new(AtomicBool::new(false));
        let after = Arc::new(AtomicBool::new(false));
        let (i, g, a) = (in_poll.clone(), go.clone(), after.clone());
        let jh = rt.spawn(async move {
            i.store(true, SeqCst);
            assert!(wait_until(LIMIT, || g.load(SeqCst)));
            yield_now().await;
            a.store(true, SeqCst);
        });
        assert!(wait_until(LIMIT, || in_poll.load(SeqCst)));
        jh.abort();
        assert!(!jh.is_finished(), "abort does not wait for the running poll");
        go.store(true, SeqCst);
        let err = rt.block_on(jh).unwrap_err();
        assert!(err.is_cancelled());
        assert!(!after.load(SeqCst));

        // Aborted during the poll that completes it: the output wins.
        let in_poll = Arc::new(AtomicBool::new(false));
        let go = Arc::new(AtomicBool::new(false));
        let (i, g) = (in_poll.clone(), go.clone());
        let jh = rt.spawn(async move {
            i.store(true, SeqCst);
            assert!(wait_until(LIMIT, || g.load(SeqCst)));
            7
        });
        assert!(wait_until(LIMIT, || in_poll.load(SeqCst)));
        jh.abort();
        go.store(true, SeqCst);
        assert_eq!(rt.block_on(jh).unwrap(), 7);
    });
}

#[test]
fn is_finished_tracks_completion() {
    each(ALL, |rt, _| {
        let (tx, rx) = oneshot::channel::<u8>();
        let jh = rt.spawn(async move { rx.await.unwrap() });
        assert!(!jh.is_finished());
        rt.block_on(sleep(Duration::from_millis(5)));
        assert!(!jh.is_finished(), "finished while still waiting");
        tx.send(3).unwrap();
        assert!(drive_until(&rt, LIMIT, || jh.is_finished()));
        assert_eq!(rt.block_on(jh).unwrap(), 3);

        let jh = rt.spawn(async { panic!("finished by panicking") });
        assert!(drive_until(&rt, LIMIT, || jh.is_finished()));
        assert!(rt.block_on(jh).unwrap_err().is_panic());
    });
}

#[test]
fn dropping_join_handle_detaches() {
    each(ALL, |rt, _| {
        let (tx, rx) = oneshot::channel();
        let (gate_tx, gate_rx) = oneshot::channel::<()>();
        let (out_flag, out_dropped) = DropFlag::new();
        let jh = rt.spawn(async move {
            gate_rx.await.unwrap();
            tx.send(5).unwrap();
            out_flag
        });
        drop(jh);
        // The task is still alive and runs to completion once released.
        assert_eq!(rt.metrics().num_alive_tasks(), 1);
        gate_tx.send(()).unwrap();
        assert_eq!(rt.block_on(rx).unwrap(), 5);
        // Nobody will read the output: it is dropped when the task completes.
        assert!(drive_until(&rt, LIMIT, || out_dropped.load(SeqCst)));
        assert!(drive_until(&rt, LIMIT, || rt.metrics().num_alive_tasks() == 0));

        // Dropping the handle of a finished task drops the output right there.
        let (flag, dropped) = DropFlag::new();
        let jh = rt.spawn(async move { flag });
        assert!(drive_until(&rt, LIMIT, || jh.is_finished()));
        assert!(!dropped.load(SeqCst));
        drop(jh);
        assert!(dropped.load(SeqCst));

        // Many detached tasks, woken from other threads, all finish.
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..500 {
            let done = done.clone();
            drop(rt.spawn(async move {
                sleep(Duration::from_millis(1)).await;
                done.fetch_add(1, SeqCst);
            }));
        }
        assert!(drive_until(&rt, LIMIT, || done.load(SeqCst) == 500));
    });
}

#[test]
fn abort_racing_with_polls_and_completion() {
    // Aborts land at every point of a task's life: queued, running, idle,
    // complete. Each outcome is a clean Ok or a cancellation, and every future
    // (and output) is dropped exactly once.
    each(ALL, |rt, _| {
        let n = 5_000;
        let futures_dropped = Arc::new(AtomicUsize::new(0));
        let outputs_dropped = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let f = DropCounter(futures_dropped.clone());
                let out = outputs_dropped.clone();
                rt.spawn(async move {
                    let _f = f;
                    for _ in 0..i % 3 {
                        yield_now().await;
                    }
                    DropCounter(out)
                })
            })
            .collect();
        // Abort from another thread while the runtime works through them.
        let aborter = thread::spawn(move || {
            for (i, h) in handles.iter().enumerate() {
                if i % 2 == 0 {
                    h.abort();
                }
            }
            handles
        });
        // Current-thread: let some tasks run while the aborts come in.
        rt.block_on(sleep(Duration::from_millis(5)));
        let handles = aborter.join().unwrap();
        let (ok, cancelled) = rt.block_on(async move {
            let (mut ok, mut cancelled) = (0, 0);
            for (i, h) in handles.into_iter().enumerate() {
                match h.await {
                    Ok(out) => {
                        ok += 1;
                        drop(out);
                    }
                    Err(e) => {
                        assert!(e.is_cancelled(), "{e:?}");
                        assert_eq!(i % 2, 0, "a task that was not aborted got cancelled");
                        cancelled += 1;
                    }
                }
            }
            (ok, cancelled)
        });
        assert_eq!(ok + cancelled, n);
        assert_eq!(futures_dropped.load(SeqCst), n, "each future dropped exactly once");
        assert_eq!(outputs_dropped.load(SeqCst), ok, "each output dropped exactly once");
    });
}
