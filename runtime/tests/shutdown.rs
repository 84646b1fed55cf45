//! Shutdown: every future is dropped (pending, never-polled, in a reference
//! cycle, stuck in a poll), it returns promptly, and a kept `Handle` spawns
//! only cancelled tasks afterwards.

mod common;

use std::future::pending;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use tern_runtime::{task, yield_now, Handle, Runtime};

const LIMIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
enum How {
    Timeout,
    Background,
    Drop,
}

fn shut(rt: Runtime, how: How) -> Duration {
    let start = Instant::now();
    match how {
        How::Timeout => rt.shutdown_timeout(Duration::from_secs(5)),
        How::Background => rt.shutdown_background(),
        How::Drop => drop(rt),
    }
    start.elapsed()
}

/// Spawns `n` pending tasks that have been polled (they hold `DropCounter`s) and
/// `n` that may never have been polled; returns the join handles of the first.
fn spawn_pending(rt: &Runtime, n: usize, dropped: &Arc<AtomicUsize>) -> Vec<tern_runtime::JoinHandle<()>> {
    let (tx, mut rx) = mpsc::unbounded::<()>();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let c = DropCounter(dropped.clone());
            let tx = tx.clone();
            rt.spawn(async move {
                let _c = c;
                tx.unbounded_send(()).unwrap();
                pending::<()>().await;
            })
        })
        .collect();
    rt.block_on(async {
        for _ in 0..n {
            rx.next().await.unwrap();
        }
    });
    for _ in 0..n {
        let c = DropCounter(dropped.clone());
        drop(rt.handle().spawn(async move {
            let _c = c;
            pending::<()>().await;
        }));
    }
    handles
}

#[test]
fn shutdown_drops_pending_futures() {
    for how in [How::Timeout, How::Background, How::Drop] {
        each(ALL, move |rt, flavor| {
            let n = 100;
            let dropped = Arc::new(AtomicUsize::new(0));
            let handles = spawn_pending(&rt, n, &dropped);
            let h = rt.handle().clone();
            let took = shut(rt, how);
            assert!(took < Duration::from_secs(1), "{how:?} took {took:?}");
            assert_eq!(dropped.load(SeqCst), 2 * n, "{flavor:?} {how:?}: futures left undropped");
            assert_eq!(h.metrics().num_alive_tasks(), 0);
            for jh in handles {
                assert!(jh.is_finished());
                let err = futures::executor::block_on(jh).unwrap_err();
                assert!(err.is_cancelled(), "{err:?}");
            }
        });
    }
}

#[test]
fn shutdown_cancels_busy_tasks_at_their_next_yield() {
    each(ALL, |rt, _| {
        let dropped = Arc::new(AtomicUsize::new(0));
        let iters = Arc::new(AtomicUsize::new(0));
        for _ in 0..8 {
            let c = DropCounter(dropped.clone());
            let it = iters.clone();
            rt.spawn(async move {
                let _c = c;
                for _ in 0..5_000_000 {
                    it.fetch_add(1, SeqCst);
                    yield_now().await;
                }
            });
        }
        assert!(drive_until(&rt, LIMIT, || iters.load(SeqCst) > 1000));
        let took = shut(rt, How::Timeout);
        assert!(took < Duration::from_secs(1), "took {took:?}");
        assert_eq!(dropped.load(SeqCst), 8);
        let seen = iters.load(SeqCst);
        thread::sleep(Duration::from_millis(20));
        assert_eq!(iters.load(SeqCst), seen, "a task kept running after shutdown returned");
    });
}

#[test]
fn shutdown_timeout_does_not_wait_for_a_stuck_poll() {
    each(&[Flavor::MultiThread(1), Flavor::MultiThread(4)], |_, flavor| {
        let stopped = Arc::new(AtomicUsize::new(0));
        let s = stopped.clone();
        let rt = flavor
            .builder()
            .on_thread_stop(move || {
                s.fetch_add(1, SeqCst);
            })
            .build()
            .unwrap();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (stuck_flag, stuck_dropped) = DropFlag::new();
        let after_sleep = Arc::new(AtomicBool::new(false));
        let a = after_sleep.clone();
        rt.spawn(async move {
            let _f = stuck_flag;
            started_tx.send(()).unwrap();
            thread::sleep(Duration::from_secs(2));
            a.store(true, SeqCst);
            yield_now().await;
            panic!("polled again after shutdown");
        });
        started_rx.recv_timeout(LIMIT).unwrap();
        let dropped = Arc::new(AtomicUsize::new(0));
        for _ in 0..20 {
            let c = DropCounter(dropped.clone());
            rt.spawn(async move {
                let _c = c;
                pending::<()>().await;
            });
        }
        let start = Instant::now();
        rt.shutdown_timeout(Duration::from_millis(100));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(90), "returned after {took:?} with a worker still stuck");
        assert!(took < Duration::from_millis(1000), "shutdown_timeout(100ms) took {took:?}");
        assert_eq!(dropped.load(SeqCst), 20, "idle futures are dropped at once");
        let n = flavor.workers();
        assert_eq!(stopped.load(SeqCst), n - 1, "every worker but the stuck one has stopped");
        assert!(!stuck_dropped.load(SeqCst));
        // When the stuck poll returns, its future is dropped and the thread exits.
        assert!(wait_until(LIMIT, || stuck_dropped.load(SeqCst)), "the stuck future was never dropped");
        assert!(after_sleep.load(SeqCst));
        assert!(wait_until(LIMIT, || stopped.load(SeqCst) == n), "the stuck worker never exited");
    });
}

#[test]
fn shutdown_background_returns_at_once_with_a_stuck_poll() {
    with_deadline("background", BODY_DEADLINE, || {
        let rt = Flavor::MultiThread(2).build();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (flag, dropped) = DropFlag::new();
        rt.spawn(async move {
            let _f = flag;
            started_tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(500));
            yield_now().await;
        });
        started_rx.recv_timeout(LIMIT).unwrap();
        let start = Instant::now();
        rt.shutdown_background();
        assert!(start.elapsed() < Duration::from_millis(300), "took {:?}", start.elapsed());
        assert!(wait_until(LIMIT, || dropped.load(SeqCst)));
    });
}

#[test]
fn shutdown_breaks_reference_cycles() {
    each(ALL, |rt, flavor| {
        // Task A owns the sender B waits on, and B the sender A waits on. Each
        // waits, so each waker sits in a channel the other task's future owns.
        let pairs = 100;
        let dropped = Arc::new(AtomicUsize::new(0));
        let (started_tx, mut started_rx) = mpsc::unbounded::<()>();
        let mut tokens = Vec::new();
        for _ in 0..pairs {
            let (tx_a, rx_a) = oneshot::channel::<()>();
            let (tx_b, rx_b) = oneshot::channel::<()>();
            let token = Arc::new(());
            tokens.push(Arc::downgrade(&token));
            let (ca, cb) = (DropCounter(dropped.clone()), DropCounter(dropped.clone()));
            let (sa, sb) = (started_tx.clone(), started_tx.clone());
            let t2 = token.clone();
            rt.spawn(async move {
                let _c = (ca, token);
                let _keep = tx_b;
                sa.unbounded_send(()).unwrap();
                let _ = rx_a.await;
                pending::<()>().await;
            });
            rt.spawn(async move {
                let _c = (cb, t2);
                let _keep = tx_a;
                sb.unbounded_send(()).unwrap();
                let _ = rx_b.await;
                pending::<()>().await;
            });
        }
        rt.block_on(async {
            for _ in 0..2 * pairs {
                started_rx.next().await.unwrap();
            }
        });
        assert_eq!(rt.metrics().num_alive_tasks(), 2 * pairs);
        let took = shut(rt, How::Timeout);
        assert!(took < Duration::from_secs(1));
        assert_eq!(dropped.load(SeqCst), 2 * pairs, "{flavor:?}: futures in the cycle were not dropped");
        assert!(tokens.iter().all(|w| w.upgrade().is_none()), "{flavor:?}: a future's state is still alive");
    });
}

struct SpawnOnDrop {
    result: Arc<AtomicUsize>,
}

const SPAWN_CANCELLED: usize = 1;
const SPAWN_NO_HANDLE: usize = 2;
const SPAWN_OTHER: usize = 3;

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        let r = match Handle::try_current() {
            Ok(h) => {
                let (flag, dropped) = DropFlag::new();
                let jh = h.spawn(async move {
                    let _f = flag;
                    1
                });
                if jh.is_finished() && dropped.load(SeqCst) {
                    match futures::executor::block_on(jh) {
                        Err(e) if e.is_cancelled() => SPAWN_CANCELLED,
                        _ => SPAWN_OTHER,
                    }
                } else {
                    SPAWN_OTHER
                }
            }
            Err(_) => SPAWN_NO_HANDLE,
        };
        self.result.store(r, SeqCst);
    }
}

#[test]
fn spawning_from_a_future_dropped_by_shutdown_is_cancelled() {
    each(ALL, |rt, _| {
        let result = Arc::new(AtomicUsize::new(0));
        let guard = SpawnOnDrop { result: result.clone() };
        let (tx, rx) = oneshot::channel();
        rt.spawn(async move {
            let _g = guard;
            tx.send(()).unwrap();
            pending::<()>().await;
        });
        rt.block_on(rx).unwrap();
        shut(rt, How::Timeout);
        assert_eq!(result.load(SeqCst), SPAWN_CANCELLED, "1 = cancelled, 2 = no current handle, 3 = other");
    });
}

#[test]
fn spawn_after_shutdown_via_kept_handle_is_cancelled() {
    for how in [How::Timeout, How::Background, How::Drop] {
        each(ALL, move |rt, flavor| {
            let h = rt.handle().clone();
            let before = h.metrics().spawned_tasks_count();
            shut(rt, how);
            let ran = Arc::new(AtomicBool::new(false));
            let (flag, dropped) = DropFlag::new();
            let r = ran.clone();
            let jh = h.spawn(async move {
                let _f = flag;
                r.store(true, SeqCst);
                1
            });
            assert!(jh.is_finished(), "{flavor:?} {how:?}");
            assert!(dropped.load(SeqCst), "the refused future is dropped at once");
            let err = futures::executor::block_on(jh).unwrap_err();
            assert!(err.is_cancelled(), "{err:?}");
            assert!(!ran.load(SeqCst));

            // Named, through `enter` + free spawn, from another thread.
            let jh = task::Builder::new().name("late").spawn_on(async { 2 }, &h);
            assert_eq!(h.task_name(jh.id()), None);
            assert!(futures::executor::block_on(jh).unwrap_err().is_cancelled());
            let jh = {
                let _g = h.enter();
                tern_runtime::spawn(async { 3 })
            };
            assert!(futures::executor::block_on(jh).unwrap_err().is_cancelled());
            let h2 = h.clone();
            let jh = thread::spawn(move || h2.spawn(async { 4 })).join().unwrap();
            assert!(futures::executor::block_on(jh).unwrap_err().is_cancelled());

            let m = h.metrics();
            assert_eq!(m.num_alive_tasks(), 0);
            assert!(m.spawned_tasks_count() >= before);
        });
    }
}

#[test]
fn spawning_concurrently_with_shutdown_drops_every_future() {
    each(ALL, |rt, flavor| {
        let dropped = Arc::new(AtomicUsize::new(0));
        let spawned = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let spawners: Vec<_> = (0..2)
            .map(|_| {
                let (h, dropped, spawned, stop) =
                    (rt.handle().clone(), dropped.clone(), spawned.clone(), stop.clone());
                thread::spawn(move || {
                    let mut handles = Vec::new();
                    while !stop.load(SeqCst) {
                        let c = DropCounter(dropped.clone());
                        let jh = h.spawn(async move {
                            let _c = c;
                            pending::<()>().await;
                        });
                        spawned.fetch_add(1, SeqCst);
                        // Keep some handles, detach the others.
                        if spawned.load(SeqCst) % 2 == 0 {
                            handles.push(jh);
                        }
                    }
                    handles
                })
            })
            .collect();
        assert!(drive_until(&rt, LIMIT, || spawned.load(SeqCst) > 2000));
        shut(rt, How::Timeout);
        // Keep spawning for a moment after shutdown, then stop.
        thread::sleep(Duration::from_millis(20));
        stop.store(true, SeqCst);
        let handles: Vec<_> = spawners.into_iter().flat_map(|t| t.join().unwrap()).collect();
        assert_eq!(dropped.load(SeqCst), spawned.load(SeqCst), "{flavor:?}: some futures were never dropped");
        for jh in handles {
            assert!(futures::executor::block_on(jh).unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn dropping_runtime_inside_one_of_its_tasks_does_not_deadlock() {
    each(MULTI, |rt, _| {
        let rt = Arc::new(rt);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let r2 = rt.clone();
        rt.spawn(async move {
            // Wait until the outside reference is gone, then drop the last one
            // here, on a worker of this very runtime.
            let _keep = tx;
            assert!(wait_until(LIMIT, || Arc::strong_count(&r2) == 1));
            drop(r2);
        });
        drop(rt);
        // The task's sender is dropped with its future once the runtime is gone.
        let r = rx.recv_timeout(LIMIT);
        assert!(matches!(r, Err(std::sync::mpsc::RecvTimeoutError::Disconnected)), "{r:?}");
    });
}
