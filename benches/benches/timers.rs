//! Timer benches, tern's reactor (`tern_reactor::time` on a `tern_runtime` runtime built with
//! `enable_all()`) against `tokio::time` (on a tokio runtime with `enable_time()`), side by
//! side in the same run.
//!
//! Each criterion group is one workload on one runtime flavor; its functions are `tern` and
//! `tokio`. The workloads are written once, generically over [`TimerRt`]. Runtimes are built
//! once per group, outside the measured loop, and shut down after it.
//!
//! ```text
//! cargo bench -p tern-benches --bench timers
//! cargo bench -p tern-benches --bench timers -- --test    # each once, as a smoke test
//! ```

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use tern_benches::{Flavor, WORKERS};

/// Tasks per iteration in `timeout_ready` and `sleep_1ms`.
const TASKS: usize = 1_000;
/// `timeout`s per iteration in `timeout_ready_inline`.
const INLINE_TIMEOUTS: usize = 1_000;
/// Re-arms of the one sleep in `sleep_reset`.
const RESETS: usize = 10_000;
/// Ready ticks per iteration in `interval_burst`.
const BURST_TICKS: usize = 10_000;
/// Ticks (after the immediate first one) per iteration in `interval_1ms`.
const TIMED_TICKS: usize = 10;

/// A runtime with timers, and the calls the workloads make on it.
trait TimerRt: Sized {
    const NAME: &'static str;
    type Sleep: Future<Output = ()> + Send;
    type Interval: Send;

    fn build(flavor: Flavor) -> Self;
    fn block_on<F: Future>(&self, future: F) -> F::Output;
    /// Spawns from inside the runtime; the returned future resolves when the task is done.
    fn spawn<F>(future: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static;
    fn sleep(duration: Duration) -> Self::Sleep;
    fn reset(sleep: Pin<&mut Self::Sleep>, deadline: Instant);
    /// `timeout(duration, future)`, its result checked (the future must win).
    fn timeout<F: Future<Output = ()> + Send + 'static>(
        duration: Duration,
        future: F,
    ) -> impl Future<Output = ()> + Send + 'static;
    fn interval_at(start: Instant, period: Duration) -> Self::Interval;
    fn tick(interval: &mut Self::Interval) -> impl Future<Output = ()> + Send + '_;
    fn shutdown(self);
}

struct Tern(tern_runtime::Runtime);

impl TimerRt for Tern {
    const NAME: &'static str = "tern";
    type Sleep = tern_reactor::time::Sleep;
    type Interval = tern_reactor::time::Interval;

    fn build(flavor: Flavor) -> Self {
        let mut builder = match flavor {
            Flavor::CurrentThread => tern_runtime::Builder::new_current_thread(),
            Flavor::MultiThread => {
                let mut b = tern_runtime::Builder::new_multi_thread();
                b.worker_threads(WORKERS);
                b
            }
        };
        Tern(builder.enable_all().build().expect("failed to start tern"))
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tern_runtime::spawn(future);
        async move { handle.await.expect("tern task failed") }
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        tern_reactor::time::sleep(duration)
    }

    fn reset(sleep: Pin<&mut Self::Sleep>, deadline: Instant) {
        sleep.reset(deadline);
    }

    fn timeout<F: Future<Output = ()> + Send + 'static>(
        duration: Duration,
        future: F,
    ) -> impl Future<Output = ()> + Send + 'static {
        let t = tern_reactor::time::timeout(duration, future);
        async move { t.await.expect("the ready future lost to its timeout") }
    }

    fn interval_at(start: Instant, period: Duration) -> Self::Interval {
        tern_reactor::time::interval_at(start, period)
    }

    async fn tick(interval: &mut Self::Interval) {
        interval.tick().await;
    }

    fn shutdown(self) {
        self.0.shutdown_timeout(Duration::from_secs(10));
    }
}

struct Tokio(tokio::runtime::Runtime);

impl TimerRt for Tokio {
    const NAME: &'static str = "tokio";
    type Sleep = tokio::time::Sleep;
    type Interval = tokio::time::Interval;

    fn build(flavor: Flavor) -> Self {
        let mut builder = match flavor {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Flavor::MultiThread => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(WORKERS);
                b
            }
        };
        Tokio(builder.enable_time().build().expect("failed to start tokio"))
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(future);
        async move { handle.await.expect("tokio task failed") }
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    fn reset(sleep: Pin<&mut Self::Sleep>, deadline: Instant) {
        sleep.reset(tokio::time::Instant::from_std(deadline));
    }

    fn timeout<F: Future<Output = ()> + Send + 'static>(
        duration: Duration,
        future: F,
    ) -> impl Future<Output = ()> + Send + 'static {
        let t = tokio::time::timeout(duration, future);
        async move { t.await.expect("the ready future lost to its timeout") }
    }

    fn interval_at(start: Instant, period: Duration) -> Self::Interval {
        tokio::time::interval_at(tokio::time::Instant::from_std(start), period)
    }

    async fn tick(interval: &mut Self::Interval) {
        interval.tick().await;
    }

    fn shutdown(self) {
        self.0.shutdown_timeout(Duration::from_secs(10));
    }
}

fn configure<'a>(c: &'a mut Criterion, name: &str, elements: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(elements as u64));
    group
}

/// (a) 1,000 spawned tasks, each awaiting `timeout(1 s, ready)`: the timer is created and
/// dropped but never armed (both runtimes poll the inner future first).
fn timeout_ready<R: TimerRt>(group: &mut BenchmarkGroup<'_, WallTime>, flavor: Flavor) {
    let rt = R::build(flavor);
    let mut handles = Vec::with_capacity(TASKS);
    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..TASKS {
                    handles.push(R::spawn(R::timeout(Duration::from_secs(1), std::future::ready(()))));
                }
                for handle in handles.drain(..) {
                    handle.await;
                }
            })
        })
    });
    rt.shutdown();
}

/// (a') The same 1,000 `timeout(1 s, ready)` awaited in a loop inside one `block_on`, with
/// no spawn: the timer layer's own cost per `timeout`.
fn timeout_ready_inline<R: TimerRt>(group: &mut BenchmarkGroup<'_, WallTime>, flavor: Flavor) {
    let rt = R::build(flavor);
    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..INLINE_TIMEOUTS {
                    R::timeout(Duration::from_secs(1), std::future::ready(())).await;
                }
            })
        })
    });
    rt.shutdown();
}

/// (b) 1,000 spawned tasks, each `sleep(1 ms)` then done: insert 1,000 timers, fire them in
/// the same millisecond, wake 1,000 tasks.
fn sleep_1ms<R: TimerRt>(group: &mut BenchmarkGroup<'_, WallTime>, flavor: Flavor) {
    let rt = R::build(flavor);
    let mut handles = Vec::with_capacity(TASKS);
    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..TASKS {
                    handles.push(R::spawn(async {
                        R::sleep(Duration::from_millis(1)).await;
                    }));
                }
                for handle in handles.drain(..) {
                    handle.await;
                }
            })
        })
    });
    rt.shutdown();
}

/// (c) hyper's keep-alive pattern: one registered `sleep(30 s)` re-armed 10,000 times to
/// `Instant::now() + 30 s`, then reset to now and awaited until it fires; in a task on a
/// worker.
fn sleep_reset<R: TimerRt>(group: &mut BenchmarkGroup<'_, WallTime>, flavor: Flavor) {
    let rt = R::build(flavor);
    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            rt.block_on(async {
                R::spawn(async {
                    let mut sleep = pin!(R::sleep(Duration::from_secs(30)));
                    // Register it: the first poll arms the timer on both runtimes.
                    poll_fn(|cx| {
                        assert!(sleep.as_mut().poll(cx).is_pending());
                        Poll::Ready(())
                    })
                    .await;
                    for _ in 0..RESETS {
                        R::reset(sleep.as_mut(), Instant::now() + Duration::from_secs(30));
                    }
                    R::reset(sleep.as_mut(), Instant::now());
                    sleep.await;
                })
                .await
            })
        })
    });
    rt.shutdown();
}

/// (d) An interval started 10 s in the past with a 1 ms period (`Burst`, the default on
/// both): 10,000 ticks that are all already due.
fn interval_burst<R: TimerRt>(group: &mut BenchmarkGroup<'_, WallTime>, flavor: Flavor) {
    let rt = R::build(flavor);
    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut interval =
                    R::interval_at(Instant::now() - Duration::from_secs(10), Duration::from_millis(1));
                for _ in 0..BURST_TICKS {
                    R::tick(&mut interval).await;
                }
            })
        })
    });
    rt.shutdown();
}

/// (d') A 1 ms interval ticking for real: the immediate first tick, then 10 more (ideal:
/// 10 ms per iteration; the excess is wake-up lateness).
fn interval_1ms<R: TimerRt>(group: &mut BenchmarkGroup<'_, WallTime>, flavor: Flavor) {
    let rt = R::build(flavor);
    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut interval = R::interval_at(Instant::now(), Duration::from_millis(1));
                for _ in 0..=TIMED_TICKS {
                    R::tick(&mut interval).await;
                }
            })
        })
    });
    rt.shutdown();
}

macro_rules! side_by_side {
    ($fn_name:ident, $bench:ident, $flavor:expr, $elements:expr) => {
        fn $fn_name(c: &mut Criterion) {
            let flavor = $flavor;
            let mut group = configure(c, &format!("{}/{}", stringify!($bench), flavor.suffix()), $elements);
            $bench::<Tern>(&mut group, flavor);
            $bench::<Tokio>(&mut group, flavor);
            group.finish();
        }
    };
}

side_by_side!(timeout_ready_ct, timeout_ready, Flavor::CurrentThread, TASKS);
side_by_side!(timeout_ready_mt, timeout_ready, Flavor::MultiThread, TASKS);
side_by_side!(timeout_ready_inline_ct, timeout_ready_inline, Flavor::CurrentThread, INLINE_TIMEOUTS);
side_by_side!(sleep_1ms_ct, sleep_1ms, Flavor::CurrentThread, TASKS);
side_by_side!(sleep_1ms_mt, sleep_1ms, Flavor::MultiThread, TASKS);
side_by_side!(sleep_reset_mt, sleep_reset, Flavor::MultiThread, RESETS);
side_by_side!(interval_burst_ct, interval_burst, Flavor::CurrentThread, BURST_TICKS);
side_by_side!(interval_1ms_ct, interval_1ms, Flavor::CurrentThread, TIMED_TICKS);

criterion_group!(
    timers,
    timeout_ready_ct,
    timeout_ready_mt,
    timeout_ready_inline_ct,
    sleep_1ms_ct,
    sleep_1ms_mt,
    sleep_reset_mt,
    interval_burst_ct,
    interval_1ms_ct
);
criterion_main!(timers);
