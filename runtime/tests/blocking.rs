//! The blocking pool: `spawn_blocking`, `Handle::spawn_blocking` and the
//! standalone `BlockingPool`, on real threads.
//!
//! The CPU-time test reads process-wide getrusage, so it takes `EXCLUSIVE` for
//! writing and every other test takes it for reading: it never overlaps them.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Condvar, Mutex, RwLock, RwLockReadGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use tern_runtime::{BlockingPool, Builder, Handle, JoinHandle, Runtime};

static EXCLUSIVE: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().unwrap_or_else(|e| e.into_inner())
}

/// Longest any job here blocks on a gate; a failing test never leaves a thread
/// blocked for longer.
const GATE_LIMIT: Duration = Duration::from_secs(10);
const WAIT: Duration = Duration::from_secs(5);

/// A one-shot gate: jobs `wait` until the test `open`s it (or `GATE_LIMIT`).
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    fn wait(&self) {
        let (lock, cv) = &*self.0;
        let guard = lock.lock().unwrap();
        let _ = cv.wait_timeout_while(guard, GATE_LIMIT, |open| !*open).unwrap();
    }
}

/// Awaits a JoinHandle from a plain thread (no runtime needed).
fn join<T>(h: JoinHandle<T>) -> Result<T, tern_runtime::JoinError> {
    futures::executor::block_on(h)
}

fn small_pool(max: usize) -> BlockingPool {
    BlockingPool::builder().max_threads(max).build()
}

#[test]
fn results_and_panics_through_join_handle() {
    let _g = shared();
    each(ALL, |rt, _| {
        rt.block_on(async {
            assert_eq!(tern_runtime::spawn_blocking(|| 6 * 7).await.unwrap(), 42);
            let h = tern_runtime::spawn_blocking(|| -> u32 { panic!("boom in a blocking job") });
            let err = h.await.unwrap_err();
            assert!(err.is_panic(), "{err:?}");
            assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom in a blocking job");
            // The thread survived the panic and serves the next job.
            assert_eq!(tern_runtime::spawn_blocking(|| "after").await.unwrap(), "after");
        });
    });

    with_deadline("standalone", BODY_DEADLINE, || {
        let pool = small_pool(2);
        let h = pool.spawn(|| vec![1, 2, 3]);
        assert_eq!(join(h).unwrap(), vec![1, 2, 3]);
        let h = pool.spawn(|| panic!("standalone boom"));
        let err = join::<()>(h).unwrap_err();
        assert!(err.is_panic() && !err.is_cancelled());
        assert!(err.to_string().contains("standalone boom"), "{err}");
    });
}

#[test]
fn is_finished_tracks_the_closure() {
    let _g = shared();
    with_deadline("is_finished", BODY_DEADLINE, || {
        let pool = small_pool(1);
        let gate = Gate::default();
        let g = gate.clone();
        let h = pool.spawn(move || g.wait());
        thread::sleep(Duration::from_millis(20));
        assert!(!h.is_finished());
        gate.open();
        assert!(wait_until(WAIT, || h.is_finished()));
        join(h).unwrap();
    });
}

#[test]
fn fifo_order_with_one_thread() {
    let _g = shared();
    with_deadline("fifo", BODY_DEADLINE, || {
        let pool = small_pool(1);
        let gate = Gate::default();
        let g = gate.clone();
        let first = pool.spawn(move || g.wait());
        let order = Arc::new(Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..20)
            .map(|i| {
                let order = order.clone();
                pool.spawn(move || order.lock().unwrap().push(i))
            })
            .collect();
        assert!(wait_until(WAIT, || pool.queue_depth() == 20), "depth {}", pool.queue_depth());
        assert_eq!(pool.num_threads(), 1);
        gate.open();
        join(first).unwrap();
        for h in hs {
            join(h).unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
        assert_eq!(pool.num_threads(), 1);
    });
}

#[test]
fn threads_start_on_demand_up_to_the_cap() {
    let _g = shared();
    with_deadline("cap 4", BODY_DEADLINE, || {
        let pool = small_pool(4);
        assert_eq!(pool.num_threads(), 0, "no thread before the first job");
        // Four jobs that can only finish together: they need four threads.
        let barrier = Arc::new(Barrier::new(5));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let b = barrier.clone();
                pool.spawn(move || {
                    b.wait();
                })
            })
            .collect();
        assert!(
            wait_until(WAIT, || pool.num_threads() == 4 && pool.queue_depth() == 0),
            "threads {} queued {}",
            pool.num_threads(),
            pool.queue_depth()
        );
        barrier.wait();
        for h in hs {
            join(h).unwrap();
        }
        assert_eq!(pool.num_threads(), 4);
    });

    with_deadline("cap 2", BODY_DEADLINE, || {
        let pool = small_pool(2);
        let gate = Gate::default();
        let started = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let (g, started) = (gate.clone(), started.clone());
                pool.spawn(move || {
                    started.fetch_add(1, SeqCst);
                    g.wait();
                })
            })
            .collect();
        assert!(wait_until(WAIT, || started.load(SeqCst) == 2 && pool.queue_depth() == 1));
        thread::sleep(Duration::from_millis(50));
        assert_eq!(started.load(SeqCst), 2, "the third job must wait for a free thread");
        assert_eq!(pool.num_threads(), 2);
        assert_eq!(pool.queue_depth(), 1);
        assert_eq!(pool.num_idle_threads(), 0);
        gate.open();
        for h in hs {
            join(h).unwrap();
        }
        assert_eq!(started.load(SeqCst), 3);
        assert_eq!(pool.num_threads(), 2);
    });
}

#[test]
fn idle_thread_is_reused() {
    let _g = shared();
    with_deadline("reuse", BODY_DEADLINE, || {
        let pool = small_pool(8);
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(join(pool.spawn(|| thread::current().id())).unwrap());
            assert!(wait_until(WAIT, || pool.num_idle_threads() == 1));
        }
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        assert_eq!(pool.num_threads(), 1);
    });
}

#[test]
fn idle_threads_exit_after_keep_alive_and_come_back() {
    let _g = shared();
    with_deadline("keep-alive", BODY_DEADLINE, || {
        let keep_alive = Duration::from_millis(100);
        let pool = BlockingPool::builder().max_threads(4).keep_alive(keep_alive).build();
        let barrier = Arc::new(Barrier::new(3));
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let b = barrier.clone();
                pool.spawn(move || {
                    b.wait();
                })
            })
            .collect();
        for h in hs {
            join(h).unwrap();
        }
        assert!(wait_until(WAIT, || pool.num_idle_threads() == 3));
        let idle_since = Instant::now();
        assert_eq!(pool.num_threads(), 3);
        assert!(wait_until(WAIT, || pool.num_threads() == 0), "threads {}", pool.num_threads());
        let waited = idle_since.elapsed();
        assert!(waited >= keep_alive - Duration::from_millis(20), "exited after {waited:?}");
        assert_eq!(pool.num_idle_threads(), 0);

        // Re-created on demand.
        assert_eq!(join(pool.spawn(|| 5)).unwrap(), 5);
        assert!(pool.num_threads() <= 1);
        assert!(wait_until(WAIT, || pool.num_threads() == 0));
    });
}

#[test]
fn abort_before_start_cancels_and_never_runs() {
    let _g = shared();
    with_deadline("abort", BODY_DEADLINE, || {
        let pool = small_pool(1);
        let gate = Gate::default();
        let g = gate.clone();
        let busy = pool.spawn(move || g.wait());
        let ran = Arc::new(AtomicBool::new(false));
        let (flag, dropped) = DropFlag::new();
        let r = ran.clone();
        let h = pool.spawn(move || {
            let _flag = flag;
            r.store(true, SeqCst);
        });
        assert!(wait_until(WAIT, || pool.queue_depth() == 1));
        h.abort();
        gate.open();
        join(busy).unwrap();
        let err = join(h).unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert!(!ran.load(SeqCst), "an aborted job ran");
        assert!(dropped.load(SeqCst), "the aborted closure was not dropped");

        // Abort after it started: too late, the closure finishes.
        let gate = Gate::default();
        let g = gate.clone();
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let h = pool.spawn(move || {
            s.store(true, SeqCst);
            g.wait();
            7
        });
        assert!(wait_until(WAIT, || started.load(SeqCst)));
        h.abort();
        gate.open();
        assert_eq!(join(h).unwrap(), 7);
    });
}

#[test]
fn shutdown_cancels_queued_and_does_not_wait_for_a_stuck_job() {
    let _g = shared();
    with_deadline("shutdown_timeout", BODY_DEADLINE, || {
        let pool = small_pool(1);
        let gate = Gate::default();
        let g = gate.clone();
        let stuck = pool.spawn(move || {
            g.wait();
            "done late"
        });
        let ran = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let queued: Vec<_> = (0..5)
            .map(|_| {
                let (ran, d) = (ran.clone(), DropCounter(dropped.clone()));
                pool.spawn(move || {
                    let _d = d;
                    ran.fetch_add(1, SeqCst);
                })
            })
            .collect();
        assert!(wait_until(WAIT, || pool.queue_depth() == 5));

        let t0 = Instant::now();
        pool.shutdown_timeout(Duration::from_millis(100));
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(90), "returned after {took:?}, before the timeout");
        assert!(took < Duration::from_secs(2), "shutdown_timeout hung for {took:?}");
        assert_eq!(dropped.load(SeqCst), 5, "queued closures are dropped by shutdown");
        for h in queued {
            assert!(join(h).unwrap_err().is_cancelled());
        }
        assert_eq!(ran.load(SeqCst), 0);
        // The detached job still finishes and reports its result.
        gate.open();
        assert_eq!(join(stuck).unwrap(), "done late");
    });
}

#[test]
fn dropping_the_pool_waits_for_running_jobs() {
    let _g = shared();
    with_deadline("drop", BODY_DEADLINE, || {
        let pool = small_pool(2);
        let done = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let (d, s) = (done.clone(), started.clone());
        let h = pool.spawn(move || {
            s.store(true, SeqCst);
            thread::sleep(Duration::from_millis(100));
            d.store(true, SeqCst);
        });
        assert!(wait_until(WAIT, || started.load(SeqCst)));
        drop(pool);
        assert!(done.load(SeqCst), "drop returned before the running job finished");
        join(h).unwrap();
    });
}

#[test]
fn dropping_the_pool_inside_its_own_job_does_not_deadlock() {
    let _g = shared();
    with_deadline("drop inside", BODY_DEADLINE, || {
        let slot = Arc::new(Mutex::new(None::<BlockingPool>));
        let pool = small_pool(2);
        let s = slot.clone();
        let h = pool.spawn(move || {
            let pool = s.lock().unwrap().take().expect("pool in the slot");
            drop(pool);
            "dropped"
        });
        *slot.lock().unwrap() = Some(pool);
        assert_eq!(join(h).unwrap(), "dropped");
    });
}

#[test]
fn spawn_blocking_from_a_task_and_from_block_on() {
    let _g = shared();
    each(ALL, |rt, _| {
        let from_block_on = rt.block_on(async { tern_runtime::spawn_blocking(|| 1).await.unwrap() });
        assert_eq!(from_block_on, 1);
        let from_task = rt.block_on(async {
            tern_runtime::spawn(async { tern_runtime::spawn_blocking(|| 2).await.unwrap() }).await.unwrap()
        });
        assert_eq!(from_task, 2);
        // Through the handle and the runtime, from a plain thread.
        let h = rt.handle().spawn_blocking(|| 3);
        assert_eq!(rt.block_on(h).unwrap(), 3);
        assert_eq!(rt.block_on(rt.spawn_blocking(|| 4)).unwrap(), 4);
        // Many at once, awaited from a task.
        let sum = rt.block_on(async {
            let hs: Vec<_> = (0..64u64).map(|i| tern_runtime::spawn_blocking(move || i)).collect();
            let mut sum = 0;
            for h in hs {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 64 * 63 / 2);
    });
}

#[test]
fn spawn_blocking_outside_a_runtime_panics() {
    let _g = shared();
    let r = std::panic::catch_unwind(|| tern_runtime::spawn_blocking(|| ()));
    assert!(r.is_err());
}

#[test]
fn blocking_job_sees_its_runtime_and_may_block_on() {
    let _g = shared();
    each(ALL, |rt, _| {
        let outer = rt.handle().clone();
        let v = rt
            .block_on(rt.spawn_blocking(move || {
                let h = Handle::current();
                assert!(h.ptr_eq(&outer), "Handle::current() in a job is not its runtime");
                // Spawn onto the runtime and wait for it: block_on is allowed here.
                let task = h.spawn(async { tern_runtime::spawn(async { 20 }).await.unwrap() + 1 });
                let a = Runtime::new_current_thread().block_on(task).unwrap();
                // The thread is not "entered": a fresh runtime's block_on works too,
                // and the job's handle is current again afterwards.
                let b = Builder::new_multi_thread()
                    .worker_threads(1)
                    .build()
                    .unwrap()
                    .block_on(async { tern_runtime::spawn(async { 21 }).await.unwrap() });
                assert!(Handle::current().ptr_eq(&outer));
                // Nested blocking job from a blocking job.
                let c = Runtime::new_current_thread().block_on(h.spawn_blocking(|| 0)).unwrap();
                a + b + c
            }))
            .unwrap();
        assert_eq!(v, 42);
    });
}

#[test]
fn runtime_builder_options_reach_its_pool() {
    let _g = shared();
    with_deadline("builder", BODY_DEADLINE, || {
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rtb")
            .max_blocking_threads(1)
            .thread_keep_alive(Duration::from_millis(100))
            .build()
            .unwrap();
        let name = rt.block_on(rt.spawn_blocking(|| thread::current().name().map(str::to_owned))).unwrap();
        assert_eq!(name.as_deref(), Some("rtb-blocking"));

        // max_blocking_threads(1): FIFO, one at a time.
        let order = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let (order, running) = (order.clone(), running.clone());
                rt.spawn_blocking(move || {
                    assert_eq!(running.fetch_add(1, SeqCst), 0, "two jobs at once with a cap of 1");
                    thread::sleep(Duration::from_millis(2));
                    order.lock().unwrap().push(i);
                    running.fetch_sub(1, SeqCst);
                    thread::current().id()
                })
            })
            .collect();
        let ids: Vec<_> = hs.into_iter().map(|h| rt.block_on(h).unwrap()).collect();
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
        assert!(ids.iter().all(|id| *id == ids[0]));

        // thread_keep_alive(100 ms): after it, the next job runs on a new thread.
        thread::sleep(Duration::from_millis(400));
        let later = rt.block_on(rt.spawn_blocking(|| thread::current().id())).unwrap();
        assert_ne!(later, ids[0], "the idle thread outlived its keep-alive");
    });
}

#[test]
fn runtime_shutdown_cancels_queued_jobs_and_does_not_hang() {
    let _g = shared();
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread(2)] {
        with_deadline(&format!("{flavor:?}"), BODY_DEADLINE, move || {
            let rt = flavor.builder().max_blocking_threads(1).build().unwrap();
            let handle = rt.handle().clone();
            let gate = Gate::default();
            let g = gate.clone();
            let started = Arc::new(AtomicBool::new(false));
            let s = started.clone();
            let stuck = rt.spawn_blocking(move || {
                s.store(true, SeqCst);
                g.wait();
            });
            let (flag, dropped) = DropFlag::new();
            let queued = rt.spawn_blocking(move || drop(flag));
            assert!(wait_until(WAIT, || started.load(SeqCst)));

            let t0 = Instant::now();
            rt.shutdown_timeout(Duration::from_millis(100));
            let took = t0.elapsed();
            assert!(took < Duration::from_secs(2), "{flavor:?}: shutdown_timeout hung for {took:?}");
            assert!(dropped.load(SeqCst), "{flavor:?}: the queued closure was not dropped");
            assert!(join(queued).unwrap_err().is_cancelled());

            // Spawning through a kept handle after shutdown: cancelled at once.
            let late = handle.spawn_blocking(|| unreachable!("ran after shutdown"));
            assert!(late.is_finished());
            assert!(join(late).unwrap_err().is_cancelled());

            gate.open();
            join(stuck).unwrap();
        });
    }
}

#[test]
fn runtime_drop_waits_for_running_blocking_jobs() {
    let _g = shared();
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread(2)] {
        with_deadline(&format!("{flavor:?}"), BODY_DEADLINE, move || {
            let rt = flavor.build();
            let done = Arc::new(AtomicBool::new(false));
            let started = Arc::new(AtomicBool::new(false));
            let (d, s) = (done.clone(), started.clone());
            let h = rt.spawn_blocking(move || {
                s.store(true, SeqCst);
                thread::sleep(Duration::from_millis(100));
                d.store(true, SeqCst);
            });
            assert!(wait_until(WAIT, || started.load(SeqCst)));
            drop(rt);
            assert!(done.load(SeqCst), "{flavor:?}: drop returned before the job finished");
            join(h).unwrap();
        });
    }
}

#[test]
fn dropping_a_runtime_inside_its_blocking_job_does_not_deadlock() {
    let _g = shared();
    with_deadline("drop rt inside job", BODY_DEADLINE, || {
        let rt = Flavor::MultiThread(2).build();
        let slot = Arc::new(Mutex::new(None::<Runtime>));
        let s = slot.clone();
        let gate = Gate::default();
        let g = gate.clone();
        let h = rt.spawn_blocking(move || {
            g.wait();
            drop(s.lock().unwrap().take());
            "dropped"
        });
        *slot.lock().unwrap() = Some(rt);
        gate.open();
        assert_eq!(join(h).unwrap(), "dropped");
    });
}

#[test]
fn idle_pool_threads_use_no_cpu() {
    let _exclusive = EXCLUSIVE.write().unwrap_or_else(|e| e.into_inner());
    with_deadline("idle cpu", BODY_DEADLINE, || {
        let pool = BlockingPool::builder().max_threads(8).build();
        let rt = Flavor::MultiThread(2).builder().max_blocking_threads(8).build().unwrap();
        let barrier = Arc::new(Barrier::new(8));
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let b = barrier.clone();
                let f = move || {
                    b.wait();
                };
                if i % 2 == 0 {
                    pool.spawn(f)
                } else {
                    rt.spawn_blocking(f)
                }
            })
            .collect();
        for h in hs {
            join(h).unwrap();
        }
        assert!(wait_until(WAIT, || pool.num_idle_threads() == 4));
        thread::sleep(Duration::from_millis(50));

        let (c0, w0) = (cpu_time(), Instant::now());
        thread::sleep(Duration::from_millis(200));
        let (cpu, wall) = (cpu_time() - c0, w0.elapsed());
        assert!(cpu < Duration::from_millis(50), "{cpu:?} of CPU in {wall:?} with idle pool threads");
        assert_eq!(pool.num_threads(), 4, "threads left before their 10 s keep-alive");
    });
}
