//! `task::shield` and `task::wait_for`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::channel::oneshot;
use tern_reactor::time::sleep;
use tern_runtime::task::{shield, wait_for};

const LIMIT: Duration = Duration::from_secs(10);

/// The caller is cancelled (its task aborted) while awaiting a shielded future:
/// the shielded future still runs to completion.
#[test]
fn shield_survives_caller_cancellation() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let finished = Arc::new(AtomicBool::new(false));
            let (caller_dropped_flag, caller_dropped) = DropFlag::new();
            let (started_tx, started_rx) = oneshot::channel();
            // The shielded future only finishes once released, after the abort, so
            // the order does not depend on timing.
            let (release_tx, release_rx) = oneshot::channel::<()>();
            let f2 = finished.clone();
            let caller = tern_runtime::spawn(async move {
                let _c = caller_dropped_flag;
                shield(async move {
                    let _ = started_tx.send(());
                    let _ = release_rx.await;
                    f2.store(true, SeqCst);
                    1
                })
                .await
            });
            started_rx.await.unwrap();
            caller.abort();
            assert!(caller.await.unwrap_err().is_cancelled());
            assert!(caller_dropped.load(SeqCst));
            assert!(!finished.load(SeqCst));
            release_tx.send(()).unwrap();
            let f3 = finished.clone();
            assert!(timeout(LIMIT, signal_when(LIMIT, move || f3.load(SeqCst))).await.unwrap());
        })
    });
}

/// Same, with the caller cancelled by a time limit instead of an abort.
#[test]
fn shield_under_wait_for() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, rx) = oneshot::channel();
            let r = wait_for(
                Duration::from_millis(5),
                shield(async move {
                    sleep(Duration::from_millis(30)).await;
                    tx.send("done").unwrap();
                }),
            )
            .await;
            assert!(r.is_err());
            assert_eq!(timeout(LIMIT, rx).await.unwrap(), Ok("done"));
        })
    });
}

#[test]
fn shield_returns_output_and_propagates_panics() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            assert_eq!(shield(async { 41 + 1 }).await, 42);
            let h = tern_runtime::spawn(async { shield(async { panic!("shielded boom") }).await });
            let err = h.await.unwrap_err();
            assert_eq!(panic_message(&*err.into_panic()), "shielded boom");
        })
    });
}

#[test]
fn wait_for_ok_and_elapsed() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            assert_eq!(wait_for(Duration::from_secs(5), async { 3 }).await, Ok(3));
            let (flag, dropped) = DropFlag::new();
            let r = wait_for(Duration::from_millis(5), async move {
                let _f = flag;
                std::future::pending::<()>().await
            })
            .await;
            let _: tern_runtime::task::Elapsed = r.unwrap_err();
            assert!(dropped.load(SeqCst));
        })
    });
}
