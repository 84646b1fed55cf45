//! `task::AbortHandle`: aborting through it before and after completion, from
//! another task or thread, after the `JoinHandle` is gone, and `is_finished`/`id`.

mod common;

use std::future::pending;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use futures::channel::oneshot;
use tern_runtime::task::AbortHandle;
use tern_runtime::yield_now;

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn abort_handle_is_clone_send_sync_and_static() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<AbortHandle>();
    // Whatever the output: here one that is not `Sync`.
    let rt = Flavor::CurrentThread.build();
    let jh = rt.spawn(async { std::cell::Cell::new(1u8) });
    let ah = jh.abort_handle();
    thread::spawn(move || drop(ah)).join().unwrap();
    assert_eq!(rt.block_on(jh).unwrap().get(), 1);
}

#[test]
fn abort_handle_cancels_a_pending_task() {
    each(ALL, |rt, _| {
        let (flag, dropped) = DropFlag::new();
        let (started_tx, started_rx) = oneshot::channel();
        let mut jh = rt.spawn(async move {
            let _f = flag;
            started_tx.send(()).unwrap();
            pending::<()>().await;
        });
        let ah = jh.abort_handle();
        assert_eq!(ah.id(), jh.id());
        rt.block_on(started_rx).unwrap();
        assert!(!ah.is_finished());
        ah.abort();
        let err = rt.block_on(&mut jh).unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(err.id(), ah.id());
        assert!(dropped.load(SeqCst), "the aborted future was dropped before the join completed");
        assert!(ah.is_finished() && jh.is_finished());
        // Aborting again, through either handle, is harmless.
        ah.abort();
        jh.abort();
        drop(jh);
        assert!(ah.is_finished(), "the AbortHandle still reads the task after the JoinHandle is gone");
        drop(ah);
        assert!(drive_until(&rt, LIMIT, || rt.metrics().num_alive_tasks() == 0));
    });
}

#[test]
fn abort_handle_before_first_poll() {
    // Current-thread: tasks only run inside block_on, so the task is never polled.
    with_deadline("current-thread", BODY_DEADLINE, || {
        let rt = Flavor::CurrentThread.build();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let jh = rt.spawn(async move { r.store(true, SeqCst) });
        let ah = jh.abort_handle();
        ah.abort();
        assert!(rt.block_on(jh).unwrap_err().is_cancelled());
        assert!(!ran.load(SeqCst), "an aborted task was polled");
        assert!(ah.is_finished());
    });
}

#[test]
fn abort_handle_after_completion_keeps_output() {
    each(ALL, |rt, _| {
        let (flag, dropped) = DropFlag::new();
        let jh = rt.spawn(async move { flag });
        let ah = jh.abort_handle();
        assert!(drive_until(&rt, LIMIT, || ah.is_finished()));
        assert!(jh.is_finished());
        ah.abort();
        let out = rt.block_on(jh).expect("a finished task keeps its output after an abort");
        assert!(!dropped.load(SeqCst));
        drop(out);
        assert!(dropped.load(SeqCst));
        assert!(ah.is_finished());
    });
}

#[test]
fn abort_from_another_task() {
    each(ALL, |rt, _| {
        let (flag, dropped) = DropFlag::new();
        let victim = rt.spawn(async move {
            let _f = flag;
            loop {
                yield_now().await;
            }
        });
        let ah = victim.abort_handle();
        let aborter = rt.spawn(async move {
            yield_now().await;
            ah.abort();
        });
        let err = rt.block_on(async move {
            aborter.await.unwrap();
            timeout(LIMIT, victim).await.expect("the aborted task did not end").unwrap_err()
        });
        assert!(err.is_cancelled(), "{err:?}");
        assert!(dropped.load(SeqCst));
    });
}

#[test]
fn clones_abort_from_other_threads() {
    each(ALL, |rt, _| {
        let jh = rt.spawn(pending::<()>());
        let ah = jh.abort_handle();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let ah = ah.clone();
                thread::spawn(move || {
                    ah.abort();
                    ah.id()
                })
            })
            .collect();
        drop(ah);
        for t in threads {
            assert_eq!(t.join().unwrap(), jh.id());
        }
        assert!(rt.block_on(jh).unwrap_err().is_cancelled());
    });
}

#[test]
fn abort_handle_cancels_a_detached_task() {
    each(ALL, |rt, _| {
        let (flag, dropped) = DropFlag::new();
        let jh = rt.spawn(async move {
            let _f = flag;
            pending::<()>().await;
        });
        let ah = jh.abort_handle();
        drop(jh); // detach: the AbortHandle is the only way left to stop it
        rt.block_on(yield_now());
        assert!(!ah.is_finished());
        ah.abort();
        assert!(drive_until(&rt, LIMIT, || ah.is_finished()), "the detached task was not cancelled");
        assert!(dropped.load(SeqCst));
        assert!(drive_until(&rt, LIMIT, || rt.metrics().num_alive_tasks() == 0));
    });
}

#[test]
fn abort_handle_of_a_blocking_job_before_it_starts() {
    // One blocking thread, kept busy, so the second job is still queued when aborted.
    with_deadline("blocking", BODY_DEADLINE, || {
        let rt = tern_runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .build()
            .expect("runtime builds");
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let busy = rt.spawn_blocking(move || go_rx.recv_timeout(LIMIT).unwrap());
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let queued = rt.spawn_blocking(move || r.store(true, SeqCst));
        queued.abort_handle().abort();
        go_tx.send(()).unwrap();
        rt.block_on(busy).unwrap();
        assert!(rt.block_on(queued).unwrap_err().is_cancelled());
        assert!(!ran.load(SeqCst), "an aborted blocking job ran");
    });
}
