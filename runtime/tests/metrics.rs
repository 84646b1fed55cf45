//! Work stealing and `RuntimeMetrics`: spawn counts, polls, parks, queue depths,
//! overflow, and the LIFO slot as the metrics show it.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use tern_runtime::{yield_now, Handle, JoinHandle, Runtime, RuntimeMetrics};

const LIMIT: Duration = Duration::from_secs(10);

fn sum(m: &RuntimeMetrics, f: impl Fn(&RuntimeMetrics, usize) -> u64) -> u64 {
    (0..m.num_workers()).map(|w| f(m, w)).sum()
}

/// Blocks every worker of a multi-thread runtime inside a task until the
/// returned sender is dropped or sent to.
fn block_workers(rt: &Runtime, n: usize) -> (std_mpsc::Sender<()>, Vec<JoinHandle<()>>) {
    let (release_tx, release_rx) = std_mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let running = Arc::new(AtomicUsize::new(0));
    let handles = (0..n)
        .map(|_| {
            let (rx, running) = (release_rx.clone(), running.clone());
            rt.spawn(async move {
                running.fetch_add(1, SeqCst);
                // Each blocker waits for a message or the sender to go away.
                let _ = rx.lock().unwrap().recv_timeout(LIMIT);
            })
        })
        .collect();
    // A blocker holds the receiver's lock while it waits; the others wait for
    // the lock. Either way every worker is stuck inside a poll.
    assert!(wait_until(LIMIT, || running.load(SeqCst) == n), "not every worker picked up a blocker");
    (release_tx, handles)
}

#[test]
fn work_is_stolen_by_idle_workers() {
    each(&[Flavor::MultiThread(2), Flavor::MultiThread(4)], |rt, flavor| {
        let m = rt.metrics();
        assert_eq!(m.num_workers(), flavor.workers());

        // Fewer tasks than a local queue holds, all spawned from one worker:
        // another worker can only get them by stealing. Retried a few times in
        // case the spawning worker gets through them before anyone wakes.
        let mut stolen = false;
        for _ in 0..10 {
            let threads = rt
                .block_on(rt.spawn(async {
                    let hs: Vec<_> = (0..200)
                        .map(|_| {
                            tern_runtime::spawn(async {
                                spin_for(Duration::from_micros(50));
                                thread::current().id()
                            })
                        })
                        .collect();
                    let mut ids = HashSet::new();
                    for h in hs {
                        ids.insert(h.await.unwrap());
                    }
                    ids
                }))
                .unwrap();
            let steals = sum(&m, RuntimeMetrics::worker_steal_count);
            let ops = sum(&m, RuntimeMetrics::worker_steal_operations);
            assert!(steals >= ops, "{steals} tasks stolen in {ops} operations");
            if steals > 0 && threads.len() > 1 {
                assert!(ops > 0);
                stolen = true;
                break;
            }
        }
        assert!(stolen, "{flavor:?}: no worker ever stole work");

        // A thousand tasks: all complete, on more than one worker.
        let before: Vec<u64> = (0..m.num_workers()).map(|w| m.worker_poll_count(w)).collect();
        let (n, threads) = rt
            .block_on(rt.spawn(async {
                let hs: Vec<_> = (0..1000)
                    .map(|_| {
                        tern_runtime::spawn(async {
                            spin_for(Duration::from_micros(50));
                            thread::current().id()
                        })
                    })
                    .collect();
                let mut ids = HashSet::new();
                let mut n = 0;
                for h in hs {
                    ids.insert(h.await.unwrap());
                    n += 1;
                }
                (n, ids)
            }))
            .unwrap();
        assert_eq!(n, 1000);
        assert!(threads.len() > 1, "{flavor:?}: 1000 tasks all ran on one worker");
        let busy = (0..m.num_workers()).filter(|&w| m.worker_poll_count(w) > before[w]).count();
        assert!(busy > 1, "{flavor:?}: only {busy} worker(s) polled tasks");
    });
}

#[test]
fn spawn_and_poll_counts() {
    each(ALL, |rt, flavor| {
        let m = rt.metrics();
        assert_eq!(m.num_workers(), flavor.workers());
        let spawned0 = m.spawned_tasks_count();
        let polls0 = sum(&m, RuntimeMetrics::worker_poll_count);

        // 100 from outside, 100 from inside a task (plus that task itself).
        let outside: Vec<_> = (0..100)
            .map(|_| {
                rt.spawn(async {
                    yield_now().await;
                })
            })
            .collect();
        rt.block_on(rt.spawn(async move {
            let inside: Vec<_> = (0..100)
                .map(|_| {
                    tern_runtime::spawn(async {
                        yield_now().await;
                    })
                })
                .collect();
            for h in inside.into_iter().chain(outside) {
                h.await.unwrap();
            }
        }))
        .unwrap();
        assert_eq!(m.spawned_tasks_count() - spawned0, 201);
        // Each of the 200 tasks was polled twice (it yields once).
        let polls = sum(&m, RuntimeMetrics::worker_poll_count) - polls0;
        assert!(polls >= 401, "{flavor:?}: {polls} polls");
        assert_eq!(m.num_alive_tasks(), 0);
        assert_eq!(m.injection_queue_depth(), 0);
        for w in 0..m.num_workers() {
            assert_eq!(m.worker_local_queue_depth(w), 0);
        }
        // The handle's metrics are the same counters.
        assert_eq!(rt.handle().metrics().spawned_tasks_count(), m.spawned_tasks_count());
    });
}

#[test]
fn alive_tasks_count() {
    each(ALL, |rt, _| {
        let m = rt.metrics();
        let (gate_tx, gate_rx) = futures::channel::oneshot::channel::<()>();
        let gate = futures::future::FutureExt::shared(gate_rx);
        let hs: Vec<_> = (0..50)
            .map(|_| {
                let g = gate.clone();
                rt.spawn(async move {
                    let _ = g.await;
                })
            })
            .collect();
        assert_eq!(m.num_alive_tasks(), 50);
        rt.block_on(sleep(Duration::from_millis(5)));
        assert_eq!(m.num_alive_tasks(), 50, "waiting tasks are alive");
        gate_tx.send(()).unwrap();
        rt.block_on(async {
            for h in hs {
                h.await.unwrap();
            }
        });
        // A task leaves the registry before its JoinHandle is woken.
        assert_eq!(m.num_alive_tasks(), 0);
    });
}

#[test]
fn park_counts_increase_when_idle() {
    each(ALL, |rt, flavor| {
        let m = rt.metrics();
        if flavor.is_multi() {
            // Freshly started workers find nothing and park.
            assert!(wait_until(LIMIT, || (0..m.num_workers()).all(|w| m.worker_park_count(w) > 0)));
        }
        let parks0 = sum(&m, RuntimeMetrics::worker_park_count);
        rt.block_on(rt.spawn(async {
            for _ in 0..5 {
                sleep(Duration::from_millis(2)).await;
            }
        }))
        .unwrap();
        let parks = sum(&m, RuntimeMetrics::worker_park_count) - parks0;
        assert!(parks >= 1, "{flavor:?}: nothing parked while the task waited");
        // Not a spin either: a handful of parks per wait, not thousands.
        assert!(parks < 1000, "{flavor:?}: {parks} parks for 5 waits");
    });
}

#[test]
fn injection_queue_depth_with_busy_workers() {
    each(MULTI, |rt, flavor| {
        let n = flavor.workers();
        let (release, blockers) = block_workers(&rt, n);
        let m = rt.metrics();
        // Every worker is stuck in a poll; tasks from outside wait in the injector.
        assert_eq!(m.injection_queue_depth(), 0);
        let hs: Vec<_> = (0..10).map(|i| rt.spawn(async move { i })).collect();
        assert_eq!(m.injection_queue_depth(), 10, "{flavor:?}");
        thread::sleep(Duration::from_millis(10));
        assert_eq!(m.injection_queue_depth(), 10, "{flavor:?}: a blocked worker took tasks");
        drop(release);
        let s = rt.block_on(async {
            let mut s = 0;
            for h in hs {
                s += h.await.unwrap();
            }
            for b in blockers {
                b.await.unwrap();
            }
            s
        });
        assert_eq!(s, 45);
        assert_eq!(m.injection_queue_depth(), 0);
    });

    // Current-thread: tasks spawned while nobody is inside block_on wait in the
    // remote queue.
    each(&[Flavor::CurrentThread], |rt, _| {
        let m = rt.metrics();
        let hs: Vec<_> = (0..10).map(|i| rt.spawn(async move { i })).collect();
        assert_eq!(m.injection_queue_depth(), 10);
        let h = rt.handle().clone();
        let more = thread::spawn(move || h.spawn(async { 100 })).join().unwrap();
        assert_eq!(m.injection_queue_depth(), 11);
        let s = rt.block_on(async {
            let mut s = more.await.unwrap();
            for h in hs {
                s += h.await.unwrap();
            }
            s
        });
        assert_eq!(s, 145);
        assert_eq!(m.injection_queue_depth(), 0);
    });
}

#[test]
fn local_queue_depth_and_lifo_slot() {
    // Read from inside the spawning task, right after spawning five tasks: with
    // the LIFO slot the last one sits in the slot, not in the queue.
    for lifo in [true, false] {
        each(&[Flavor::CurrentThread, Flavor::MultiThread(1)], move |_, flavor| {
            let mut b = flavor.builder();
            if !lifo {
                b.disable_lifo_slot();
            }
            let rt = b.build().unwrap();
            let depth = rt
                .block_on(rt.spawn(async {
                    let hs: Vec<_> = (0..5).map(|i| tern_runtime::spawn(async move { i })).collect();
                    let depth = Handle::current().metrics().worker_local_queue_depth(0);
                    (depth, hs)
                }))
                .unwrap();
            let (depth, hs) = depth;
            let expected = if flavor.is_multi() && lifo { 4 } else { 5 };
            assert_eq!(depth, expected, "{flavor:?} lifo={lifo}");
            rt.block_on(async {
                for h in hs {
                    h.await.unwrap();
                }
            });
        });
    }
}

#[test]
fn lifo_slot_runs_the_last_spawned_task_first() {
    for lifo in [true, false] {
        each(&[Flavor::MultiThread(1)], move |_, flavor| {
            let mut b = flavor.builder();
            if !lifo {
                b.disable_lifo_slot();
            }
            let rt = b.build().unwrap();
            let order = Arc::new(std::sync::Mutex::new(Vec::new()));
            let o = order.clone();
            let hs = rt
                .block_on(rt.spawn(async move {
                    (0..4)
                        .map(|i| {
                            let o = o.clone();
                            tern_runtime::spawn(async move { o.lock().unwrap().push(i) })
                        })
                        .collect::<Vec<_>>()
                }))
                .unwrap();
            rt.block_on(async {
                for h in hs {
                    h.await.unwrap();
                }
            });
            let order = order.lock().unwrap().clone();
            if lifo {
                assert_eq!(order, vec![3, 0, 1, 2]);
            } else {
                assert_eq!(order, vec![0, 1, 2, 3], "disable_lifo_slot: plain FIFO");
            }
        });
    }
}

#[test]
fn local_queue_overflow_spills_into_the_injector() {
    each(&[Flavor::MultiThread(1)], |rt, _| {
        let m = rt.metrics();
        let (depth, inject, hs) = rt
            .block_on(rt.spawn(async {
                let hs: Vec<_> = (0..600).map(|i| tern_runtime::spawn(async move { i })).collect();
                let m = Handle::current().metrics();
                (m.worker_local_queue_depth(0), m.injection_queue_depth(), hs)
            }))
            .unwrap();
        assert!(m.worker_overflow_count(0) >= 1, "no overflow after 600 local spawns");
        assert!(depth <= 256, "local queue holds {depth} tasks, more than its capacity");
        assert!(inject >= 128, "only {inject} tasks spilled into the injector");
        let s: usize = rt.block_on(async {
            let mut s = 0;
            for h in hs {
                s += h.await.unwrap();
            }
            s
        });
        assert_eq!(s, 600 * 599 / 2);
        assert_eq!(m.injection_queue_depth(), 0);
        assert_eq!(m.worker_local_queue_depth(0), 0);
    });
}

#[test]
#[should_panic]
fn worker_metric_out_of_range_panics() {
    let rt = Flavor::MultiThread(2).build();
    let _ = rt.metrics().worker_poll_count(2);
}

fn total_busy(m: &RuntimeMetrics) -> Duration {
    (0..m.num_workers()).map(|w| m.worker_total_busy_duration(w)).sum()
}

#[test]
fn busy_time_grows_with_a_spinning_task() {
    each(ALL, |rt, flavor| {
        let m = rt.metrics();
        let before = total_busy(&m);
        let start = std::time::Instant::now();
        rt.block_on(rt.spawn(async { spin_for(Duration::from_millis(50)) })).unwrap();
        // Multi-thread workers add the busy period when they park, just after.
        let grew = wait_until(LIMIT, || total_busy(&m) >= before + Duration::from_millis(50));
        let busy = total_busy(&m) - before;
        assert!(grew, "{flavor:?}: busy time grew by {busy:?} around a 50 ms poll");
        let wall = start.elapsed() * flavor.workers() as u32;
        assert!(busy <= wall, "{flavor:?}: {busy:?} busy in {wall:?} of worker time");
    });
}

fn histogram_runtime(flavor: Flavor) -> Runtime {
    let rt = flavor.builder().enable_all().enable_metrics_poll_time_histogram().build().unwrap();
    assert!(rt.metrics().poll_time_histogram_enabled());
    rt
}

fn bucket_counts(m: &RuntimeMetrics, w: usize) -> Vec<u64> {
    (0..m.poll_time_histogram_num_buckets()).map(|b| m.poll_time_histogram_bucket_count(w, b)).collect()
}

#[test]
fn poll_time_histogram_buckets_are_log_scale_and_contiguous() {
    let m = Flavor::CurrentThread.build().metrics();
    assert!(!m.poll_time_histogram_enabled());
    let n = m.poll_time_histogram_num_buckets();
    assert!(n >= 10);
    assert_eq!(m.poll_time_histogram_bucket_range(0).start, Duration::ZERO);
    let first = m.poll_time_histogram_bucket_range(1);
    assert!(first.start >= Duration::from_nanos(500) && first.start <= Duration::from_micros(2), "{first:?}");
    for b in 1..n {
        let (prev, cur) = (m.poll_time_histogram_bucket_range(b - 1), m.poll_time_histogram_bucket_range(b));
        assert_eq!(prev.end, cur.start, "buckets {} and {b} are not contiguous", b - 1);
        if b < n - 1 {
            assert_eq!(cur.end, cur.start * 2, "bucket {b} is not twice as wide as it starts");
        }
    }
    assert_eq!(m.poll_time_histogram_bucket_range(n - 1).end, Duration::MAX);
}

#[test]
fn poll_time_histogram_counts_every_poll() {
    each(ALL, |_, flavor| {
        let rt = histogram_runtime(flavor);
        let m = rt.metrics();
        rt.block_on(async {
            let hs: Vec<_> = (0..100)
                .map(|_| {
                    tern_runtime::spawn(async {
                        for _ in 0..3 {
                            yield_now().await;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        });
        let polls = sum(&m, RuntimeMetrics::worker_poll_count);
        assert!(polls >= 400, "{flavor:?}: only {polls} polls");
        // A worker bumps its poll count before a poll and its histogram after.
        let equal = wait_until(LIMIT, || {
            (0..m.num_workers()).all(|w| bucket_counts(&m, w).iter().sum::<u64>() == m.worker_poll_count(w))
        });
        let counts: Vec<_> =
            (0..m.num_workers()).map(|w| (m.worker_poll_count(w), bucket_counts(&m, w))).collect();
        assert!(equal, "{flavor:?}: polls and histogram buckets differ: {counts:?}");
    });
}

#[test]
fn a_5ms_poll_lands_in_the_5ms_bucket() {
    each(ALL, |_, flavor| {
        let rt = histogram_runtime(flavor);
        let m = rt.metrics();
        let n = m.poll_time_histogram_num_buckets();
        let bucket = (0..n)
            .find(|&b| m.poll_time_histogram_bucket_range(b).contains(&Duration::from_millis(5)))
            .expect("some bucket holds 5 ms");
        let range = m.poll_time_histogram_bucket_range(bucket);
        assert!(range.start > Duration::from_millis(2) && range.end < Duration::from_millis(12), "{range:?}");
        let in_bucket = |m: &RuntimeMetrics| sum(m, |m, w| m.poll_time_histogram_bucket_count(w, bucket));
        // The machine may preempt the spinning thread past the bucket's end:
        // retry a few times, and demand that most attempts land.
        let mut landed = 0;
        for _ in 0..5 {
            let before = in_bucket(&m);
            rt.block_on(rt.spawn(async { spin_for(Duration::from_millis(5)) })).unwrap();
            if wait_until(Duration::from_secs(1), || in_bucket(&m) > before) {
                landed += 1;
            }
        }
        assert!(landed >= 3, "{flavor:?}: a 5 ms poll landed in {range:?} only {landed} times in 5");
    });
}
