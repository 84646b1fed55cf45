//! A live task table: a 2-worker runtime runs a few named tasks doing different
//! kinds of work, and a monitor task prints, every 500 ms for about 5 s, what
//! `RuntimeMetrics` and `Handle::live_tasks` say: per-worker busy %, polls,
//! steals, queue depths and poll-time percentiles (from the poll-time
//! histogram), then the live named tasks.
//!
//! `cargo run --example task_table`

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern::runtime::task::Builder as TaskBuilder;
use tern::runtime::{Builder, Handle, RuntimeMetrics};
use tern::time::sleep;

const PERIOD: Duration = Duration::from_millis(500);
const ROUNDS: usize = 10;

/// One worker's counters at one instant.
#[derive(Clone)]
struct Snapshot {
    busy: Duration,
    polls: u64,
    buckets: Vec<u64>,
}

fn snapshot(m: &RuntimeMetrics) -> Vec<Snapshot> {
    (0..m.num_workers())
        .map(|w| Snapshot {
            busy: m.worker_total_busy_duration(w),
            polls: m.worker_poll_count(w),
            buckets: (0..m.poll_time_histogram_num_buckets())
                .map(|b| m.poll_time_histogram_bucket_count(w, b))
                .collect(),
        })
        .collect()
}

/// The upper edge of the bucket where the `q` quantile of `counts` falls.
fn quantile(m: &RuntimeMetrics, counts: &[u64], q: f64) -> String {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return "-".into();
    }
    let target = (total as f64 * q).ceil() as u64;
    let mut seen = 0;
    for (b, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= target {
            let range = m.poll_time_histogram_bucket_range(b);
            return if range.end == Duration::MAX {
                format!(">{:.1?}", range.start)
            } else {
                format!("<{:.1?}", range.end)
            };
        }
    }
    "-".into()
}

fn print_table(handle: &Handle, round: usize, dt: Duration, before: &[Snapshot], now: &[Snapshot]) {
    let m = handle.metrics();
    if std::io::stdout().is_terminal() {
        print!("\x1b[2J\x1b[H");
    }
    println!(
        "round {round}/{ROUNDS}  alive tasks: {}  injection queue: {}",
        m.num_alive_tasks(),
        m.injection_queue_depth()
    );
    println!(
        "{:>6} {:>6} {:>8} {:>8} {:>7} {:>10} {:>10}",
        "worker", "busy%", "polls", "steals", "queue", "poll p50", "poll p99"
    );
    for (w, (b, n)) in before.iter().zip(now).enumerate() {
        // Busy time is added in chunks (when a worker parks, or every 61 ticks),
        // so one interval may receive a bit of the previous one: clamp.
        let busy = ((n.busy - b.busy).as_secs_f64() / dt.as_secs_f64() * 100.0).min(100.0);
        let delta: Vec<u64> = n.buckets.iter().zip(&b.buckets).map(|(n, b)| n - b).collect();
        println!(
            "{:>6} {:>6.1} {:>8} {:>8} {:>7} {:>10} {:>10}",
            w,
            busy,
            n.polls - b.polls,
            m.worker_steal_count(w),
            m.worker_local_queue_depth(w),
            quantile(&m, &delta, 0.5),
            quantile(&m, &delta, 0.99),
        );
    }
    let mut named: Vec<String> = handle
        .live_tasks()
        .into_iter()
        .filter_map(|(id, name)| name.map(|n| format!("{n} (id {id})")))
        .collect();
    named.sort();
    println!("live named tasks: {}", named.join(", "));
    println!();
}

/// Spins the CPU for `d` (a poll that really works, unlike a sleep).
fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn spawn_workload(stop: &Arc<AtomicBool>) {
    let s = stop.clone();
    TaskBuilder::new().name("ticker").spawn(async move {
        while !s.load(Relaxed) {
            sleep(Duration::from_millis(10)).await;
        }
    });
    let s = stop.clone();
    TaskBuilder::new().name("cruncher").spawn(async move {
        // CPU-bound, in 2 ms slices with a yield between them.
        while !s.load(Relaxed) {
            spin(Duration::from_millis(2));
            tern::runtime::yield_now().await;
        }
    });
    let s = stop.clone();
    TaskBuilder::new().name("fan-out").spawn(async move {
        // Bursts of short unnamed tasks, which idle workers steal.
        while !s.load(Relaxed) {
            let hs: Vec<_> = (0..200).map(|i| tern::runtime::spawn(async move { i * 2 })).collect();
            for h in hs {
                h.await.unwrap();
            }
            sleep(Duration::from_millis(50)).await;
        }
    });
    let s = stop.clone();
    TaskBuilder::new().name("blocking-io").spawn(async move {
        while !s.load(Relaxed) {
            tern::runtime::spawn_blocking(|| std::thread::sleep(Duration::from_millis(100))).await.unwrap();
        }
    });
    for i in 0..4u64 {
        // Short-lived tasks, to watch the list change.
        let name = format!("short-lived-{i}");
        TaskBuilder::new().name(&name).spawn(async move {
            sleep(Duration::from_millis(700 * (i + 1))).await;
        });
    }
}

fn main() {
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .enable_metrics_poll_time_histogram()
        .build()
        .expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        spawn_workload(&stop);
        let monitor = TaskBuilder::new().name("monitor").spawn(async {
            let handle = Handle::current();
            let mut before = snapshot(&handle.metrics());
            let mut at = Instant::now();
            for round in 1..=ROUNDS {
                sleep(PERIOD).await;
                let now = snapshot(&handle.metrics());
                print_table(&handle, round, at.elapsed(), &before, &now);
                (before, at) = (now, Instant::now());
            }
        });
        monitor.await.unwrap();
        stop.store(true, Relaxed);
    });
}
