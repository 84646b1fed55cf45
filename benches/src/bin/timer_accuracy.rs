//! Timer accuracy and timer scale, tern's reactor against tokio, in the same run.
//!
//! 1. Accuracy: on an otherwise idle runtime, one task awaits `sleep(10 ms)` 200 times in a
//!    row (after 5 unrecorded warm-up sleeps) and records how long each took; min / p50 /
//!    p90 / p99 / max per runtime and flavor (current-thread: the task is the `block_on`
//!    future; multi-thread with 2 workers: a spawned task on a worker). A
//!    `std::thread::sleep(10 ms)` row shows what the OS itself delivers.
//! 2. Scale: 1,000,000 tasks, each `sleep(d)` with `d` drawn uniformly from 1..=1000 ms by a
//!    seeded xorshift generator (the same sequence for both), spawned from a task on a
//!    2-worker multi-thread runtime. Each task's first poll arms its timer (counted as
//!    "registered"); it completes when the timer fires and its task is dropped. Reported:
//!    time until all are registered, time until the last one fired, process CPU time
//!    (user + system) over the whole run, and peak RSS (`VmHWM`), with the RSS right after
//!    the runtime was built as a baseline. Each runtime runs in its own child process (this
//!    binary re-executed with `--scale tern|tokio`), so their heaps do not mix.
//!
//! tern: `tern_reactor::time` on a `tern_runtime` runtime with `enable_all()`; tokio:
//! `tokio::time` with `enable_time()`.
//!
//! ```text
//! cargo run --release -p tern-benches --bin timer_accuracy
//! cargo run --release -p tern-benches --bin timer_accuracy -- --samples 500 --timers 100000
//! ```
//!
//! Flags: `--samples N` (200), `--timers N` (1,000,000), `--seed N`, `--skip-accuracy`,
//! `--skip-scale`.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::time::{Duration, Instant};

use tern_benches::{ratio, wait_for_count, WORKERS};

const SLEEP: Duration = Duration::from_millis(10);
const WARMUP_SLEEPS: usize = 5;
const MAX_DEADLINE_MS: u64 = 1000;

struct Args {
    samples: usize,
    timers: usize,
    seed: u64,
    accuracy: bool,
    scale: bool,
    child: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        samples: 200,
        timers: 1_000_000,
        seed: 0x7465_726e_2d74_696d,
        accuracy: true,
        scale: true,
        child: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = || -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a non-negative number"))
        };
        match flag.as_str() {
            "--samples" => args.samples = number() as usize,
            "--timers" => args.timers = number() as usize,
            "--seed" => args.seed = number(),
            "--skip-accuracy" => args.accuracy = false,
            "--skip-scale" => args.scale = false,
            "--scale" => args.child = it.next(),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

fn main() {
    let args = parse_args();
    if let Some(peer) = &args.child {
        scale_child(peer, args.timers, args.seed);
        return;
    }
    if args.accuracy {
        accuracy(args.samples);
    }
    if args.scale {
        scale(args.timers, args.seed);
    }
}

// ---------------------------------------------------------------- accuracy

fn build_tern(multi: bool) -> tern_runtime::Runtime {
    let mut builder = if multi {
        let mut b = tern_runtime::Builder::new_multi_thread();
        b.worker_threads(WORKERS);
        b
    } else {
        tern_runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().expect("failed to start tern")
}

fn build_tokio(multi: bool) -> tokio::runtime::Runtime {
    let mut builder = if multi {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(WORKERS);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_time().build().expect("failed to start tokio")
}

/// `samples` sequential sleeps through `sleep`, after the warm-up ones; the measured durations.
async fn sleep_loop<F, S>(samples: usize, sleep: F) -> Vec<Duration>
where
    F: Fn(Duration) -> S,
    S: Future<Output = ()>,
{
    for _ in 0..WARMUP_SLEEPS {
        sleep(SLEEP).await;
    }
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        sleep(SLEEP).await;
        out.push(start.elapsed());
    }
    out
}

fn accuracy_tern(samples: usize, multi: bool) -> Vec<Duration> {
    let rt = build_tern(multi);
    let out = if multi {
        rt.block_on(async move {
            tern_runtime::spawn(sleep_loop(samples, tern_reactor::time::sleep)).await.expect("tern task")
        })
    } else {
        rt.block_on(sleep_loop(samples, tern_reactor::time::sleep))
    };
    rt.shutdown_timeout(Duration::from_secs(10));
    out
}

fn accuracy_tokio(samples: usize, multi: bool) -> Vec<Duration> {
    let rt = build_tokio(multi);
    let out = if multi {
        rt.block_on(async move {
            tokio::spawn(sleep_loop(samples, tokio::time::sleep)).await.expect("tokio task")
        })
    } else {
        rt.block_on(sleep_loop(samples, tokio::time::sleep))
    };
    rt.shutdown_timeout(Duration::from_secs(10));
    out
}

fn accuracy_thread(samples: usize) -> Vec<Duration> {
    (0..WARMUP_SLEEPS).for_each(|_| std::thread::sleep(SLEEP));
    (0..samples)
        .map(|_| {
            let start = Instant::now();
            std::thread::sleep(SLEEP);
            start.elapsed()
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

fn accuracy(samples: usize) {
    println!(
        "sleep(10 ms) accuracy: {samples} sequential sleeps after {WARMUP_SLEEPS} warm-up ones, idle runtime"
    );
    println!();
    println!(
        "| {:<6} | {:<24} | {:>8} | {:>8} | {:>8} | {:>8} | {:>8} | {:>15} |",
        "peer", "flavor", "min (ms)", "p50", "p90", "p99", "max", "tern / this p99"
    );
    println!(
        "|{:-<8}|{:-<26}|{:->10}|{:->10}|{:->10}|{:->10}|{:->10}|{:->17}|",
        "", "", "", "", "", "", "", ""
    );
    type Run = Box<dyn Fn() -> Vec<Duration>>;
    let runs: [(&str, &str, Run); 5] = [
        ("tern", "current_thread", Box::new(move || accuracy_tern(samples, false))),
        ("tokio", "current_thread", Box::new(move || accuracy_tokio(samples, false))),
        ("tern", "multi_thread (2 workers)", Box::new(move || accuracy_tern(samples, true))),
        ("tokio", "multi_thread (2 workers)", Box::new(move || accuracy_tokio(samples, true))),
        ("thread", "std::thread::sleep", Box::new(move || accuracy_thread(samples))),
    ];
    let mut tern_p99 = 0.0;
    for (peer, flavor, run) in &runs {
        let mut durations = run();
        durations.sort();
        let p99 = percentile(&durations, 0.99);
        if *peer == "tern" {
            tern_p99 = p99;
        }
        println!(
            "| {:<6} | {:<24} | {:>8.3} | {:>8.3} | {:>8.3} | {:>8.3} | {:>8.3} | {:>15} |",
            peer,
            flavor,
            durations[0].as_secs_f64() * 1e3,
            percentile(&durations, 0.5),
            percentile(&durations, 0.9),
            p99,
            durations[durations.len() - 1].as_secs_f64() * 1e3,
            if *peer == "tokio" { ratio(tern_p99, p99) } else { String::new() }
        );
    }
    println!();
}

// ---------------------------------------------------------------- scale

/// The deadlines (ms) for `n` timers: xorshift64*, uniform in 1..=MAX_DEADLINE_MS.
fn deadlines(n: usize, seed: u64) -> Vec<u64> {
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            1 + state.wrapping_mul(0x2545_f491_4f6c_dd1d) % MAX_DEADLINE_MS
        })
        .collect()
}

/// One timer task: arm the sleep (first poll), count it, wait for it to fire, count that.
async fn timer_task<S: Future<Output = ()>>(sleep: S, counts: Arc<Counts>) {
    let mut sleep = pin!(sleep);
    let fired_at_once = poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx).is_ready())).await;
    counts.registered.fetch_add(1, Ordering::Release);
    if !fired_at_once {
        sleep.await;
    }
    if counts.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
        let _ = counts.done.lock().expect("done lock").send(());
    }
}

struct Counts {
    registered: AtomicUsize,
    remaining: AtomicUsize,
    done: std::sync::Mutex<mpsc::Sender<()>>,
}

/// `(user + system CPU time of this process, VmRSS KiB, VmHWM KiB)`.
fn usage() -> (Duration, u64, u64) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (tv(ru.ru_utime) + tv(ru.ru_stime), field("VmRSS:"), field("VmHWM:"))
}

/// The child process: runs the scale workload on one runtime and prints one `RESULT` line.
fn scale_child(peer: &str, n: usize, seed: u64) {
    let deadlines = deadlines(n, seed);
    let (tx, rx) = mpsc::channel();
    let counts =
        Arc::new(Counts { registered: AtomicUsize::new(0), remaining: AtomicUsize::new(n), done: tx.into() });
    let (cpu0, _, _) = usage();
    match peer {
        "tern" => {
            let rt = build_tern(true);
            let (_, base, _) = usage();
            let start = Instant::now();
            let c = counts.clone();
            rt.spawn(async move {
                for d in deadlines {
                    let sleep = tern_reactor::time::sleep(Duration::from_millis(d));
                    tern_runtime::spawn(timer_task(sleep, c.clone()));
                }
            });
            wait_for_count(&counts.registered, n, Duration::from_secs(120));
            let registered = start.elapsed();
            rx.recv_timeout(Duration::from_secs(120)).expect("tern: timers did not all fire in 120 s");
            report(peer, start.elapsed(), registered, cpu0, base);
            rt.shutdown_timeout(Duration::from_secs(10));
        }
        "tokio" => {
            let rt = build_tokio(true);
            let (_, base, _) = usage();
            let start = Instant::now();
            let c = counts.clone();
            rt.spawn(async move {
                for d in deadlines {
                    let sleep = tokio::time::sleep(Duration::from_millis(d));
                    tokio::spawn(timer_task(sleep, c.clone()));
                }
            });
            wait_for_count(&counts.registered, n, Duration::from_secs(120));
            let registered = start.elapsed();
            rx.recv_timeout(Duration::from_secs(120)).expect("tokio: timers did not all fire in 120 s");
            report(peer, start.elapsed(), registered, cpu0, base);
            rt.shutdown_timeout(Duration::from_secs(10));
        }
        other => panic!("unknown peer {other}"),
    }
}

fn report(peer: &str, total: Duration, registered: Duration, cpu0: Duration, base_rss: u64) {
    let (cpu1, _, hwm) = usage();
    println!(
        "RESULT {peer} {} {} {} {} {}",
        registered.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        (cpu1 - cpu0).as_secs_f64() * 1e3,
        hwm,
        base_rss
    );
}

fn scale(n: usize, seed: u64) {
    println!(
        "{n} concurrent sleeps, deadlines uniform in 1..={MAX_DEADLINE_MS} ms (seed {seed:#x}), one task each, \
         spawned from a task on {WORKERS} workers; each runtime in its own child process"
    );
    println!();
    println!(
        "| {:<6} | {:>15} | {:>14} | {:>12} | {:>14} | {:>14} | {:>17} | {:>15} |",
        "peer",
        "registered (ms)",
        "all fired (ms)",
        "CPU (ms)",
        "peak RSS (MiB)",
        "base RSS (MiB)",
        "tern / this fired",
        "tern / this RSS"
    );
    println!(
        "|{:-<8}|{:->17}|{:->16}|{:->14}|{:->16}|{:->16}|{:->19}|{:->17}|",
        "", "", "", "", "", "", "", ""
    );
    let exe = std::env::current_exe().expect("current_exe");
    let mut tern: Option<(f64, f64)> = None;
    for peer in ["tern", "tokio"] {
        let out = Command::new(&exe)
            .args(["--scale", peer, "--timers", &n.to_string(), "--seed", &seed.to_string()])
            .output()
            .expect("failed to run the scale child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT ")) else {
            println!("| {peer:<6} | child failed: {} |", String::from_utf8_lossy(&out.stderr).trim());
            continue;
        };
        let f: Vec<f64> = line.split_whitespace().skip(2).map(|v| v.parse().unwrap_or(f64::NAN)).collect();
        let (reg, total, cpu, hwm, base) = (f[0], f[1], f[2], f[3] / 1024.0, f[4] / 1024.0);
        let (r_total, r_rss) = match tern {
            None => {
                tern = Some((total, hwm));
                (String::new(), String::new())
            }
            Some((t_total, t_hwm)) => (ratio(t_total, total), ratio(t_hwm, hwm)),
        };
        println!(
            "| {peer:<6} | {reg:>15.0} | {total:>14.0} | {cpu:>12.0} | {hwm:>14.1} | {base:>14.1} | {r_total:>17} | {r_rss:>15} |"
        );
    }
    println!();
    println!("[tern / this < 1: tern took less time / less peak memory]");
}
