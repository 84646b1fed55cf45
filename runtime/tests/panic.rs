//! Panicking tasks: the `JoinError`, its payload and Display, and the worker
//! (and runtime) surviving.

mod common;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use futures::channel::oneshot;
use tern_runtime::{task, yield_now};

/// Panics with a `&'static str` payload.
fn explode(msg: &'static str) -> u32 {
    std::panic::panic_any(msg)
}

#[test]
fn panic_gives_join_error_with_payload() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            // &'static str payload.
            let jh = tern_runtime::spawn(async { explode("boom") });
            let id = jh.id();
            let err = jh.await.unwrap_err();
            assert!(err.is_panic());
            assert!(!err.is_cancelled());
            assert_eq!(err.id(), id);
            assert_eq!(err.task_name(), None);
            let shown = err.to_string();
            assert!(shown.contains("boom"), "Display: {shown}");
            assert!(shown.contains("panicked"), "Display: {shown}");
            assert!(format!("{err:?}").contains("boom"));
            let payload = err.into_panic();
            assert_eq!(*payload.downcast_ref::<&'static str>().unwrap(), "boom");

            // Formatted message: String payload.
            let err = tern_runtime::spawn(async {
                let n = 7;
                if n == 7 {
                    panic!("code {n}");
                }
                n
            })
            .await
            .unwrap_err();
            assert!(err.to_string().contains("code 7"), "{err}");
            let payload = err.try_into_panic().expect("a panic");
            assert_eq!(payload.downcast_ref::<String>().unwrap(), "code 7");

            // Arbitrary payload: Display still says it panicked.
            let err = tern_runtime::spawn(async {
                std::panic::panic_any(42u32);
            })
            .await
            .unwrap_err();
            assert!(err.is_panic());
            assert!(err.to_string().contains("panicked"), "{err}");
            assert_eq!(*err.into_panic().downcast::<u32>().unwrap(), 42);

            // A panic after a suspension point, woken from another thread.
            let err = tern_runtime::spawn(async {
                sleep(Duration::from_millis(5)).await;
                explode("late boom")
            })
            .await
            .unwrap_err();
            assert_eq!(*err.into_panic().downcast::<&'static str>().unwrap(), "late boom");
        });
    });
}

#[test]
fn named_task_panic_mentions_name() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let jh = task::Builder::new().name("exploder").spawn(async { explode("kaboom") });
            let id = jh.id();
            let err = jh.await.unwrap_err();
            assert_eq!(err.task_name(), Some("exploder"));
            assert_eq!(err.id(), id);
            let shown = err.to_string();
            assert!(shown.contains("exploder"), "Display: {shown}");
            assert!(shown.contains("kaboom"), "Display: {shown}");
            let dbg = format!("{err:?}");
            assert!(dbg.contains("exploder") && dbg.contains("kaboom"), "Debug: {dbg}");
            // The io::Error conversion keeps the message.
            let io: std::io::Error = err.into();
            assert!(io.to_string().contains("kaboom"));
        });
    });
}

#[test]
fn cancelled_error_is_not_a_panic() {
    each(ALL, |rt, _| {
        let jh = rt.spawn(std::future::pending::<()>());
        jh.abort();
        let err = rt.block_on(jh).unwrap_err();
        assert!(err.is_cancelled());
        assert!(!err.is_panic());
        assert!(err.to_string().contains("cancelled"), "{err}");
        let err = err.try_into_panic().expect_err("a cancellation is not a panic");
        assert!(err.is_cancelled());
        let r = catch_unwind(AssertUnwindSafe(|| err.into_panic()));
        assert!(r.is_err(), "into_panic on a cancellation panics");
    });
}

#[test]
fn worker_survives_panics() {
    let flavors = [Flavor::CurrentThread, Flavor::MultiThread(1), Flavor::MultiThread(2)];
    for flavor in flavors {
        with_deadline(&format!("{flavor:?}"), BODY_DEADLINE, move || {
            let started = Arc::new(AtomicUsize::new(0));
            let stopped = Arc::new(AtomicUsize::new(0));
            let (s1, s2) = (started.clone(), stopped.clone());
            let rt = flavor
                .builder()
                .on_thread_start(move || {
                    s1.fetch_add(1, SeqCst);
                })
                .on_thread_stop(move || {
                    s2.fetch_add(1, SeqCst);
                })
                .build()
                .unwrap();
            let mut threads = HashSet::new();
            for round in 0..3 {
                let panics: Vec<_> = (0..50).map(|_| rt.spawn(async { explode("x") })).collect();
                let oks: Vec<_> = (0..50u32)
                    .map(|i| {
                        rt.spawn(async move {
                            yield_now().await;
                            (i, thread::current().id())
                        })
                    })
                    .collect();
                // Detached panicking tasks must not take anything down either.
                for _ in 0..10 {
                    drop(rt.spawn(async { explode("detached") }));
                }
                rt.block_on(async {
                    for p in panics {
                        assert!(p.await.unwrap_err().is_panic(), "round {round}");
                    }
                    for (i, h) in oks.into_iter().enumerate() {
                        let (v, t) = h.await.unwrap();
                        assert_eq!(v as usize, i);
                        threads.insert(t);
                    }
                });
            }
            assert!(drive_until(&rt, Duration::from_secs(5), || rt.metrics().num_alive_tasks() == 0));
            if let Flavor::MultiThread(n) = flavor {
                // No worker died and none was replaced.
                assert_eq!(started.load(SeqCst), n);
                assert_eq!(stopped.load(SeqCst), 0);
                assert!(threads.len() <= n, "tasks ran on {} threads with {n} workers", threads.len());
            } else {
                assert_eq!(threads.len(), 1);
            }
            // Still fully working after all that.
            assert_eq!(rt.block_on(async { tern_runtime::spawn(async { 5 }).await.unwrap() }), 5);
            drop(rt);
            if let Flavor::MultiThread(n) = flavor {
                assert_eq!(stopped.load(SeqCst), n);
            }
        });
    }
}

#[test]
fn panic_in_block_on_future_propagates_and_runtime_survives() {
    each(ALL, |rt, _| {
        let r = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                let _ = tern_runtime::spawn(async { 1 }).await;
                explode("main future")
            })
        }));
        let payload = r.expect_err("the panic reaches the block_on caller");
        assert_eq!(panic_message(&*payload), "main future");
        // The runtime (and, for current-thread, its core) is still usable.
        let v = rt.block_on(async {
            let hs: Vec<_> = (0..10).map(|i| tern_runtime::spawn(async move { i })).collect();
            let mut s = 0;
            for h in hs {
                s += h.await.unwrap();
            }
            s
        });
        assert_eq!(v, 45);
    });
}

struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !thread::panicking() {
            std::panic::panic_any(self.0);
        }
    }
}

#[test]
fn panic_while_dropping_an_aborted_future_is_reported() {
    each(ALL, |rt, _| {
        let (tx, rx) = oneshot::channel();
        let jh = rt.spawn(async move {
            let _bomb = PanicOnDrop("drop bomb");
            tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        rt.block_on(rx).unwrap();
        jh.abort();
        let err = rt.block_on(jh).unwrap_err();
        assert!(err.is_panic(), "a panic in the future's drop is reported as a panic: {err:?}");
        assert_eq!(*err.into_panic().downcast::<&'static str>().unwrap(), "drop bomb");
        // The runtime still works.
        assert_eq!(rt.block_on(rt.spawn(async { 3 })).unwrap(), 3);
    });
}

#[test]
fn panic_while_dropping_output_or_future_at_shutdown_is_contained() {
    each(ALL, |rt, _| {
        let (tx, rx) = oneshot::channel();
        let (flag, dropped) = DropFlag::new();
        rt.spawn(async move {
            let _bomb = PanicOnDrop("shutdown bomb");
            tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        let other = rt.spawn(async move {
            let _f = flag;
            std::future::pending::<()>().await;
        });
        rt.block_on(rx).unwrap();
        // A detached task whose output panics when dropped.
        drop(rt.spawn(async { PanicOnDrop("output bomb") }));
        let r = catch_unwind(AssertUnwindSafe(move || rt.shutdown_timeout(Duration::from_secs(5))));
        assert!(r.is_ok(), "a panicking drop escaped shutdown");
        assert!(dropped.load(SeqCst), "the other pending future was dropped too");
        let err = futures::executor::block_on(other).unwrap_err();
        assert!(err.is_cancelled());
    });
}
