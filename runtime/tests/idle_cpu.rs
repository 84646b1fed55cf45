//! Waiting costs no CPU: `block_on` and idle workers park instead of spinning.
//!
//! Process CPU time (getrusage) is only meaningful when nothing else in the
//! process is busy, so this file is its own test binary and its tests take a
//! lock for their whole body.

mod common;

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

static SERIAL: Mutex<()> = Mutex::new(());

const WAIT: Duration = Duration::from_millis(200);
/// Budget for 200 ms of waiting; a spinning thread burns all 200 ms.
const MAX_CPU: Duration = Duration::from_millis(50);

/// (wall time, process CPU time) spent in `f`.
fn measure<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (w0, c0) = (Instant::now(), cpu_time());
    let v = f();
    (v, w0.elapsed(), cpu_time() - c0)
}

fn check(what: &str, wall: Duration, cpu: Duration) {
    assert!(wall >= WAIT - Duration::from_millis(10), "{what}: returned after {wall:?}, before the wake");
    assert!(cpu < MAX_CPU, "{what}: {cpu:?} of CPU for {wall:?} of waiting: something spins");
}

fn flavors() -> Vec<Flavor> {
    vec![
        Flavor::CurrentThread,
        Flavor::MultiThread(1),
        Flavor::MultiThread(2),
        Flavor::MultiThread(4),
        Flavor::MultiThread(8),
    ]
}

#[test]
fn block_on_waiting_for_a_std_thread_wake_parks() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for flavor in flavors() {
        with_deadline(&format!("{flavor:?}"), BODY_DEADLINE, move || {
            let rt = flavor.build();
            // Warm up, then give the workers time to go idle.
            assert_eq!(rt.block_on(async { tern_runtime::spawn(async { 1 }).await.unwrap() }), 1);
            thread::sleep(Duration::from_millis(50));

            // The block_on future itself waits on a wake from a std thread.
            let ((), wall, cpu) = measure(|| rt.block_on(sleep(WAIT)));
            check(&format!("{flavor:?} block_on(sleep)"), wall, cpu);

            // A task waits on that wake; block_on waits on the task.
            let (r, wall, cpu) = measure(|| rt.block_on(rt.spawn(sleep(WAIT))));
            r.unwrap();
            check(&format!("{flavor:?} block_on(spawned sleep)"), wall, cpu);

            // Several tasks waiting at once, block_on waiting on all of them.
            let (r, wall, cpu) = measure(|| {
                rt.block_on(async {
                    let hs: Vec<_> = (0..16).map(|_| tern_runtime::spawn(sleep(WAIT))).collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                })
            });
            let () = r;
            check(&format!("{flavor:?} 16 sleeping tasks"), wall, cpu);
        });
    }
}

#[test]
fn idle_workers_park() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for flavor in flavors().into_iter().filter(|f| f.is_multi()) {
        with_deadline(&format!("{flavor:?}"), BODY_DEADLINE, move || {
            let rt = flavor.build();
            // A burst of work, then nothing: the workers must go back to sleep.
            let sum = rt.block_on(async {
                let hs: Vec<_> = (0..10_000u64)
                    .map(|i| {
                        tern_runtime::spawn(async move {
                            tern_runtime::yield_now().await;
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
            assert_eq!(sum, 10_000 * 9_999 / 2);
            thread::sleep(Duration::from_millis(50));
            // Tasks parked on wakers that fire later, nobody inside block_on.
            let hs: Vec<_> = (0..8).map(|_| rt.spawn(sleep(WAIT * 2))).collect();
            let ((), wall, cpu) = measure(|| thread::sleep(WAIT));
            check(&format!("{flavor:?} idle workers"), wall, cpu);
            let m = rt.metrics();
            for w in 0..m.num_workers() {
                assert!(m.worker_park_count(w) > 0, "{flavor:?}: worker {w} never parked");
            }
            rt.block_on(async {
                for h in hs {
                    h.await.unwrap();
                }
            });
        });
    }
}

/// Waiting on the runtime's own timers and I/O driver: `block_on(sleep)`, tasks
/// sleeping, an interval ticking. The driver's thread waits in `epoll_wait`.
#[test]
fn waiting_on_timers_parks_in_the_driver() {
    use tern_reactor::time;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for flavor in flavors() {
        with_deadline(&format!("{flavor:?}"), BODY_DEADLINE, move || {
            let rt = flavor.build();
            rt.block_on(async { time::sleep(Duration::from_millis(1)).await });
            thread::sleep(Duration::from_millis(50));

            let ((), wall, cpu) = measure(|| rt.block_on(async { time::sleep(WAIT).await }));
            check(&format!("{flavor:?} block_on(time::sleep)"), wall, cpu);

            let ((), wall, cpu) = measure(|| {
                rt.block_on(async {
                    let hs: Vec<_> = (0..16).map(|_| tern_runtime::spawn(time::sleep(WAIT))).collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                })
            });
            check(&format!("{flavor:?} 16 tasks in time::sleep"), wall, cpu);

            let ((), wall, cpu) = measure(|| {
                rt.block_on(rt.spawn(async {
                    let mut iv = time::interval(WAIT / 10);
                    for _ in 0..=10 {
                        iv.tick().await;
                    }
                }))
                .unwrap()
            });
            check(&format!("{flavor:?} interval"), wall, cpu);
        });
    }
}
