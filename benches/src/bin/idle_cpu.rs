//! CPU burned by an idle runtime.
//!
//! For each runtime (2 workers): start it, spawn 100,000 tasks that stay
//! pending forever (in chunks of 1,000, each chunk polled once before the next),
//! let it settle for 200 ms, then read the process's CPU time (user + system,
//! `getrusage(RUSAGE_SELF)`) before and after a 2-second window in which the
//! main thread only sleeps. Also measured with no tasks at all. Reported as
//! milliseconds of CPU per idle second; tern's goal is under 5 ms.
//!
//! Run with `cargo run --release -p tern-benches --bin idle_cpu`.

use std::thread;
use std::time::{Duration, Instant};

use tern_benches::{ratio, spawn_parked, AsyncExecutorRt, BenchRuntime, TernRt, TokioRt, WORKERS};

const TASKS: usize = 100_000;
const WINDOW: Duration = Duration::from_secs(2);
const GOAL_MS_PER_S: f64 = 5.0;

/// User + system CPU time of the whole process so far.
fn process_cpu() -> Duration {
    // SAFETY: `rusage` is plain old data, so all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`; RUSAGE_SELF is a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU milliseconds per wall-clock second over an idle window.
fn idle_window() -> f64 {
    let cpu0 = process_cpu();
    let wall0 = Instant::now();
    thread::sleep(WINDOW);
    let cpu = process_cpu() - cpu0;
    cpu.as_secs_f64() * 1e3 / wall0.elapsed().as_secs_f64()
}

struct Row {
    name: &'static str,
    empty: f64,
    parked: f64,
}

fn measure<R: BenchRuntime>() -> Row {
    let rt = R::with_workers(WORKERS);
    thread::sleep(Duration::from_millis(200));
    let empty = idle_window();

    spawn_parked(&rt.spawner(), TASKS, 1_000);
    thread::sleep(Duration::from_millis(200));
    let parked = idle_window();

    rt.shutdown();
    Row { name: R::NAME, empty, parked }
}

fn main() {
    let rows = [measure::<TernRt>(), measure::<TokioRt>(), measure::<AsyncExecutorRt>()];
    println!(
        "process CPU while idle, {WORKERS} workers, {}-second windows (ms of CPU per idle second; user + system)",
        WINDOW.as_secs()
    );
    println!();
    println!(
        "| {:<15} | {:>12} | {:>24} | {:>22} |",
        "runtime",
        "no tasks",
        format!("{TASKS} parked tasks"),
        "tern / this (parked)"
    );
    println!("|{:-<17}|{:->14}|{:->26}|{:->24}|", "", "", "", "");
    let tern = &rows[0];
    for row in &rows {
        println!(
            "| {:<15} | {:>12.3} | {:>24.3} | {:>22} |",
            row.name,
            row.empty,
            row.parked,
            ratio(tern.parked, row.parked)
        );
    }
    println!();
    let met = tern.parked < GOAL_MS_PER_S && tern.empty < GOAL_MS_PER_S;
    println!(
        "tern goal (< {GOAL_MS_PER_S} ms CPU per idle second): {} ({:.3} ms/s with no tasks, {:.3} ms/s with {TASKS} parked)",
        if met { "met" } else { "NOT met" },
        tern.empty,
        tern.parked
    );
}
