//! `tern demo`: a runtime workload (fan-out, spawn chains, yields) with throughput and
//! per-worker scheduler counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tern::runtime::{self, Builder, RuntimeMetrics};

pub(crate) fn demo(workers: Option<usize>, tasks: u64) {
    let mut builder = Builder::new_multi_thread();
    if let Some(n) = workers {
        if n == 0 {
            eprintln!("error: --workers must be at least 1");
            std::process::exit(2);
        }
        builder.worker_threads(n);
    }
    builder.thread_name_fn(runtime::numbered_thread_names("tern-worker"));
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start worker threads: {e}");
            std::process::exit(1);
        }
    };
    let metrics = rt.metrics();
    println!("tern demo: {} worker threads", metrics.num_workers());

    rt.block_on(async move {
        // Fan-out / fan-in: spawn every task, then await every handle.
        let start = Instant::now();
        let sum = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..tasks)
            .map(|i| {
                let sum = sum.clone();
                runtime::spawn(async move {
                    sum.fetch_add(i, Ordering::Relaxed);
                })
            })
            .collect();
        for h in handles {
            h.await.expect("demo task failed");
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(sum.load(Ordering::Relaxed), tasks * tasks.saturating_sub(1) / 2);
        println!(
            "fan-out:  {tasks} tasks spawned and joined in {:.1} ms ({:.2} M tasks/s)",
            secs * 1e3,
            tasks as f64 / secs / 1e6
        );

        // A chain: each task spawns the next and awaits it.
        let start = Instant::now();
        let depth = chain(1000).await;
        println!("chain:    depth {depth} in {:.2} ms", start.elapsed().as_secs_f64() * 1e3);

        // Yields: 200 tasks x 1,000 yield_now.
        let start = Instant::now();
        let handles: Vec<_> = (0..200)
            .map(|_| {
                runtime::spawn(async {
                    for _ in 0..1000 {
                        runtime::yield_now().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("yield task failed");
        }
        println!("yields:   200 x 1000 yield_now in {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
    });
    print_metrics(&metrics);
}

fn chain(depth: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            return 0;
        }
        1 + runtime::spawn(chain(depth - 1)).await.expect("chain task failed")
    })
}

fn print_metrics(m: &RuntimeMetrics) {
    println!("spawned {} tasks; {} still alive", m.spawned_tasks_count(), m.num_alive_tasks());
    println!("worker      polls     steals  steal-ops      parks  overflows");
    for w in 0..m.num_workers() {
        println!(
            "{w:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
            m.worker_poll_count(w),
            m.worker_steal_count(w),
            m.worker_steal_operations(w),
            m.worker_park_count(w),
            m.worker_overflow_count(w)
        );
    }
}
