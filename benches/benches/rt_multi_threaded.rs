//! Multi-thread scheduler benches, in the shapes of tokio's own
//! `benches/rt_multi_threaded.rs`, run side by side on tern, tokio and
//! async-executor with 2 worker threads each.
//!
//! Each criterion group is one workload; its functions are the runtimes
//! (`spawn_many_local/tern`, `spawn_many_local/tokio`, ...). Every runtime is
//! started once per group, outside the measured loop, and shut down after.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use futures::channel::oneshot;
use tern_benches::{AsyncExecutorRt, BenchRuntime, Spawner, TernRt, TokioRt, WORKERS};

/// Tasks spawned per iteration by the `spawn_many_*` benches.
const NUM_SPAWN: usize = 10_000;
/// Ping-pong rounds per iteration.
const NUM_PINGS: usize = 1_000;
/// Tasks in `yield_many`, and how often each yields.
const YIELD_TASKS: usize = 200;
const NUM_YIELD: usize = 1_000;
/// Depth of the chain in `chained_spawn`.
const CHAIN_DEPTH: usize = 1_000;

fn configure<'a>(c: &'a mut Criterion, name: &str, elements: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(elements as u64));
    group
}

/// 10,000 spawns from inside a task running on a worker; each spawned task
/// decrements a counter and the last one signals the bench thread.
fn spawn_many_local<R: BenchRuntime>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let rt = R::with_workers(WORKERS);
    let spawner = rt.spawner();
    let (done_tx, done_rx) = mpsc::sync_channel::<()>(1);
    let remaining = Arc::new(AtomicUsize::new(0));

    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            remaining.store(NUM_SPAWN, Relaxed);
            let inner = spawner.clone();
            let done_tx = done_tx.clone();
            let remaining = remaining.clone();
            spawner.spawn_detached(async move {
                for _ in 0..NUM_SPAWN {
                    let done_tx = done_tx.clone();
                    let remaining = remaining.clone();
                    inner.spawn_detached(async move {
                        if remaining.fetch_sub(1, AcqRel) == 1 {
                            done_tx.send(()).unwrap();
                        }
                    });
                }
            });
            done_rx.recv().unwrap();
        })
    });
    rt.shutdown();
}

/// 10,000 spawns from outside the runtime onto idle workers, then all the
/// join handles are awaited inside `block_on`.
fn spawn_many_remote_idle<R: BenchRuntime>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let rt = R::with_workers(WORKERS);
    let spawner = rt.spawner();
    let mut handles = Vec::with_capacity(NUM_SPAWN);

    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            for _ in 0..NUM_SPAWN {
                handles.push(spawner.spawn(async {}));
            }
            rt.block_on(async {
                for handle in handles.drain(..) {
                    handle.await;
                }
            });
        })
    });
    rt.shutdown();
}

/// 1,000 rounds, each one task that spawns a partner and exchanges a message
/// each way with it through two `futures::channel::oneshot`s.
fn ping_pong<R: BenchRuntime>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let rt = R::with_workers(WORKERS);
    let spawner = rt.spawner();
    let (done_tx, done_rx) = mpsc::sync_channel::<()>(1);
    let remaining = Arc::new(AtomicUsize::new(0));

    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            remaining.store(NUM_PINGS, Relaxed);
            let outer = spawner.clone();
            let done_tx = done_tx.clone();
            let remaining = remaining.clone();
            spawner.spawn_detached(async move {
                for _ in 0..NUM_PINGS {
                    let pinger = outer.clone();
                    let done_tx = done_tx.clone();
                    let remaining = remaining.clone();
                    outer.spawn_detached(async move {
                        let (ping_tx, ping_rx) = oneshot::channel::<()>();
                        let (pong_tx, pong_rx) = oneshot::channel::<()>();
                        pinger.spawn_detached(async move {
                            ping_rx.await.unwrap();
                            pong_tx.send(()).unwrap();
                        });
                        ping_tx.send(()).unwrap();
                        pong_rx.await.unwrap();
                        if remaining.fetch_sub(1, AcqRel) == 1 {
                            done_tx.send(()).unwrap();
                        }
                    });
                }
            });
            done_rx.recv().unwrap();
        })
    });
    rt.shutdown();
}

/// 200 tasks spawned from outside, each yielding to the scheduler 1,000 times.
fn yield_many<R: BenchRuntime>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let rt = R::with_workers(WORKERS);
    let spawner = rt.spawner();
    let (done_tx, done_rx) = mpsc::sync_channel::<()>(YIELD_TASKS);

    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            for _ in 0..YIELD_TASKS {
                let done_tx = done_tx.clone();
                spawner.spawn_detached(async move {
                    for _ in 0..NUM_YIELD {
                        <R::Spawner as Spawner>::yield_now().await;
                    }
                    done_tx.send(()).unwrap();
                });
            }
            for _ in 0..YIELD_TASKS {
                done_rx.recv().unwrap();
            }
        })
    });
    rt.shutdown();
}

fn chain<S: Spawner>(spawner: S, done_tx: mpsc::SyncSender<()>, depth: usize) {
    if depth == 0 {
        done_tx.send(()).unwrap();
    } else {
        spawner.clone().spawn_detached(async move { chain(spawner, done_tx, depth - 1) });
    }
}

/// A chain of 1,000 tasks, each spawning the next from inside the runtime.
fn chained_spawn<R: BenchRuntime>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let rt = R::with_workers(WORKERS);
    let spawner = rt.spawner();
    let (done_tx, done_rx) = mpsc::sync_channel::<()>(1);

    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            let inner = spawner.clone();
            let done_tx = done_tx.clone();
            spawner.spawn_detached(async move { chain(inner, done_tx, CHAIN_DEPTH) });
            done_rx.recv().unwrap();
        })
    });
    rt.shutdown();
}

macro_rules! side_by_side {
    ($fn_name:ident, $bench:ident, $elements:expr) => {
        fn $fn_name(c: &mut Criterion) {
            let mut group = configure(c, stringify!($bench), $elements);
            $bench::<TernRt>(&mut group);
            $bench::<TokioRt>(&mut group);
            $bench::<AsyncExecutorRt>(&mut group);
            group.finish();
        }
    };
}

side_by_side!(bench_spawn_many_local, spawn_many_local, NUM_SPAWN);
side_by_side!(bench_spawn_many_remote_idle, spawn_many_remote_idle, NUM_SPAWN);
side_by_side!(bench_ping_pong, ping_pong, NUM_PINGS);
side_by_side!(bench_yield_many, yield_many, YIELD_TASKS * NUM_YIELD);
side_by_side!(bench_chained_spawn, chained_spawn, CHAIN_DEPTH);

criterion_group!(
    rt_multi_threaded,
    bench_spawn_many_local,
    bench_spawn_many_remote_idle,
    bench_ping_pong,
    bench_yield_many,
    bench_chained_spawn
);
criterion_main!(rt_multi_threaded);
