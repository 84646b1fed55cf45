//! Spawn-and-complete throughput on 2 workers.
//!
//! One run: a driver task spawns 1,000 batch tasks; each batch task spawns
//! 1,000 trivial tasks (1,000,000 in all) from inside the runtime. Each trivial
//! task decrements a shared counter; the last one signals the main thread. The
//! run is timed from the driver's spawn to that signal. Each runtime does one
//! warm-up run and then `RUNS` timed runs; the median and best are reported in
//! tasks per second.
//!
//! Run with `cargo run --release -p tern-benches --bin throughput`.

use std::sync::atomic::{AtomicUsize, Ordering::AcqRel};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_benches::{ratio, AsyncExecutorRt, BenchRuntime, Spawner, TernRt, TokioRt, WORKERS};

const BATCHES: usize = 1_000;
const BATCH: usize = 1_000;
const TASKS: usize = BATCHES * BATCH;
const RUNS: usize = 5;

struct Done {
    remaining: AtomicUsize,
    tx: mpsc::SyncSender<()>,
}

fn one_run<S: Spawner>(spawner: &S) -> Duration {
    let (tx, rx) = mpsc::sync_channel(1);
    let done = Arc::new(Done { remaining: AtomicUsize::new(TASKS), tx });
    let start = Instant::now();
    let driver = spawner.clone();
    spawner.spawn_detached(async move {
        for _ in 0..BATCHES {
            let batch_spawner = driver.clone();
            let done = done.clone();
            driver.spawn_detached(async move {
                for _ in 0..BATCH {
                    let done = done.clone();
                    batch_spawner.spawn_detached(async move {
                        if done.remaining.fetch_sub(1, AcqRel) == 1 {
                            done.tx.send(()).unwrap();
                        }
                    });
                }
            });
        }
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("throughput run did not finish in 60 s");
    start.elapsed()
}

struct Row {
    name: &'static str,
    median: f64,
    best: f64,
}

fn measure<R: BenchRuntime>() -> Row {
    let rt = R::with_workers(WORKERS);
    let spawner = rt.spawner();
    one_run(&spawner);
    let mut rates: Vec<f64> = (0..RUNS).map(|_| TASKS as f64 / one_run(&spawner).as_secs_f64()).collect();
    rt.shutdown();
    rates.sort_by(f64::total_cmp);
    Row { name: R::NAME, median: rates[RUNS / 2], best: rates[RUNS - 1] }
}

fn main() {
    let rows = [measure::<TernRt>(), measure::<TokioRt>(), measure::<AsyncExecutorRt>()];
    println!(
        "spawn + complete throughput, {WORKERS} workers, {TASKS} trivial tasks per run spawned in {BATCHES} batches of {BATCH} from inside the runtime, {RUNS} runs"
    );
    println!();
    println!(
        "| {:<15} | {:>21} | {:>21} | {:>18} |",
        "runtime", "median (M tasks/s)", "best (M tasks/s)", "tern / this (med)"
    );
    println!("|{:-<17}|{:->23}|{:->23}|{:->20}|", "", "", "", "");
    let tern = rows[0].median;
    for row in &rows {
        println!(
            "| {:<15} | {:>21.2} | {:>21.2} | {:>18} |",
            row.name,
            row.median / 1e6,
            row.best / 1e6,
            ratio(tern, row.median)
        );
    }
    println!();
    println!("[tern / this > 1 means tern completes more tasks per second]");
}
