//! Latency of a single `spawn` call made from inside a task, on a 2-worker
//! runtime: tern (`tern_runtime::spawn`), tokio (`tokio::spawn`) and, for
//! reference, async-executor (`Executor::spawn` through an `Arc`).
//!
//! A task running on a worker spawns 10,000 trivial tasks as warm-up, then
//! 100,000 more, reading `Instant::now()` right before and right after each
//! call; the returned handle is dropped (async-executor: detached) after the
//! second reading, so only the call itself is timed. The spawned tasks run on
//! the other worker (stolen) or after the spawning task finishes, so the
//! percentiles include the local queue's overflow into the global queue.
//!
//! A second table breaks tern's tail down: the same loop on 1 and 2 workers,
//! with the runtime's own counters of worker parks (each one later costs a
//! spawning thread an unpark syscall) and local-queue overflows (128 tasks moved
//! to the injector in one spawn) during the measured spawns.
//!
//! Run with `cargo run --release -p tern-benches --bin spawn_latency`.

use std::time::Instant;

use tern_benches::{ratio, AsyncExecutorRt, BenchRuntime, Spawner, TernRt, TokioRt, WORKERS};

const WARMUP: usize = 10_000;
const SAMPLES: usize = 100_000;

/// Times `SAMPLES` calls of `spawn_one` (after `WARMUP` untimed ones), passing
/// each returned handle to `release` once the clock has stopped. Returns the
/// sorted durations in nanoseconds.
fn time_spawns<H>(mut spawn_one: impl FnMut() -> H, mut release: impl FnMut(H)) -> Vec<u64> {
    for _ in 0..WARMUP {
        release(spawn_one());
    }
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        let handle = spawn_one();
        let elapsed = start.elapsed();
        release(handle);
        samples.push(elapsed.as_nanos() as u64);
    }
    samples.sort_unstable();
    samples
}

/// The cost of the two clock readings alone, same loop.
fn clock_floor() -> Vec<u64> {
    time_spawns(|| (), |()| ())
}

struct Stats {
    name: &'static str,
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
    mean: f64,
}

fn stats(name: &'static str, sorted: &[u64]) -> Stats {
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    Stats {
        name,
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: *sorted.last().unwrap(),
        mean: sorted.iter().sum::<u64>() as f64 / sorted.len() as f64,
    }
}

/// Runs `measure` inside a task on a fresh `R` with [`WORKERS`] workers.
fn on_worker<R: BenchRuntime>(measure: fn(&R::Spawner) -> Vec<u64>) -> Stats {
    let rt = R::with_workers(WORKERS);
    let spawner = rt.spawner();
    let inner = spawner.clone();
    let samples = rt.block_on(spawner.spawn(async move { measure(&inner) }));
    rt.shutdown();
    stats(R::NAME, &samples)
}

fn tern(_: &<TernRt as BenchRuntime>::Spawner) -> Vec<u64> {
    time_spawns(|| tern_runtime::spawn(async {}), drop)
}

fn tokio(_: &<TokioRt as BenchRuntime>::Spawner) -> Vec<u64> {
    time_spawns(|| tokio::spawn(async {}), drop)
}

fn async_executor(spawner: &<AsyncExecutorRt as BenchRuntime>::Spawner) -> Vec<u64> {
    let ex = spawner.executor().clone();
    time_spawns(move || ex.spawn(async {}), |task| task.detach())
}

/// tern's percentiles with `workers` workers, and the parks and overflows that
/// happened while the measured spawns ran.
fn tern_breakdown(workers: usize) {
    let rt = tern_runtime::Builder::new_multi_thread().worker_threads(workers).build().expect("tern runtime");
    let m = rt.metrics();
    let count = |f: &dyn Fn(usize) -> u64| (0..workers).map(f).sum::<u64>();
    let samples = rt.block_on(async {
        tern_runtime::spawn(async { time_spawns(|| tern_runtime::spawn(async {}), drop) })
            .await
            .expect("spawn loop")
    });
    let s = stats("tern", &samples);
    let at = |q: f64| samples[(samples.len() as f64 * q) as usize];
    println!(
        "| {workers:>7} | {:>5} | {:>5} | {:>6} | {:>6} | {:>15} | {:>19} |",
        s.p50,
        at(0.90),
        s.p99,
        s.p999,
        count(&|w| m.worker_park_count(w)),
        count(&|w| m.worker_overflow_count(w))
    );
}

fn main() {
    let floor = stats("(clock only)", &clock_floor());
    let rows = [
        on_worker::<TernRt>(tern),
        on_worker::<TokioRt>(tokio),
        on_worker::<AsyncExecutorRt>(async_executor),
    ];

    println!("spawn() latency from inside a task, {WORKERS} workers, {SAMPLES} samples after {WARMUP} warm-up spawns (ns)");
    println!();
    println!(
        "| {:<15} | {:>7} | {:>7} | {:>7} | {:>9} | {:>8} |",
        "runtime", "p50", "p99", "p99.9", "max", "mean"
    );
    println!("|{:-<17}|{:->9}|{:->9}|{:->9}|{:->11}|{:->10}|", "", "", "", "", "", "");
    for s in rows.iter().chain(std::iter::once(&floor)) {
        println!(
            "| {:<15} | {:>7} | {:>7} | {:>7} | {:>9} | {:>8.1} |",
            s.name, s.p50, s.p99, s.p999, s.max, s.mean
        );
    }
    println!();
    let tern = &rows[0];
    for other in &rows[1..] {
        println!(
            "tern / {}: p50 {}, p99 {}, p99.9 {}  [< 1 means tern is faster]",
            other.name,
            ratio(tern.p50 as f64, other.p50 as f64),
            ratio(tern.p99 as f64, other.p99 as f64),
            ratio(tern.p999 as f64, other.p999 as f64)
        );
    }

    println!();
    println!(
        "where tern's tail comes from ({} spawns incl. warm-up; counters cover the whole loop):",
        WARMUP + SAMPLES
    );
    println!();
    println!("| workers |   p50 |   p90 |    p99 |  p99.9 | worker parks    | local queue overflows |");
    println!("|---------|-------|-------|--------|--------|-----------------|---------------------|");
    for workers in [1, 2] {
        tern_breakdown(workers);
    }
}
