//! Shared setup for tern's side-by-side benches.
//!
//! Every bench and bench binary in this crate runs the same workload on three
//! runtimes, each with the same number of worker threads:
//!
//! * [`TernRt`]: `tern_runtime`'s multi-thread scheduler,
//! * [`TokioRt`]: tokio's `multi_thread` scheduler,
//! * [`AsyncExecutorRt`]: an `async_executor::Executor` driven by N threads each
//!   running `futures_lite::future::block_on(ex.run(shutdown))`, as smol does.
//!
//! The workloads are written once, generically over [`BenchRuntime`] and
//! [`Spawner`], so the three runtimes run exactly the same code; only the
//! spawn / join / yield calls differ.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Worker threads used by every side-by-side comparison (the bench machine has 2 cores).
pub const WORKERS: usize = 2;

/// Which scheduler a side-by-side bench group runs on (the group name's suffix).
#[derive(Clone, Copy, Debug)]
pub enum Flavor {
    /// Everything on the thread in `block_on`.
    CurrentThread,
    /// [`WORKERS`] worker threads.
    MultiThread,
}

impl Flavor {
    /// `current_thread` / `multi_thread`.
    pub fn suffix(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current_thread",
            Flavor::MultiThread => "multi_thread",
        }
    }
}

/// A cheap, cloneable way to put new tasks on a runtime, usable from any thread
/// (from inside one of the runtime's tasks it takes the runtime's local path,
/// where the runtime has one).
pub trait Spawner: Clone + Send + Sync + 'static {
    /// Spawns `future`; the returned future resolves to its output (panics if
    /// the task panicked or was cancelled).
    fn spawn<F>(&self, future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Spawns `future` and lets it run to completion without a join handle.
    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// The runtime's own "yield to the scheduler once" future.
    fn yield_now() -> impl Future<Output = ()> + Send;
}

/// A runtime under test.
pub trait BenchRuntime: Sized {
    /// Its spawner.
    type Spawner: Spawner;

    /// The name used in criterion ids and printed tables.
    const NAME: &'static str;

    /// Starts the runtime with `workers` worker threads.
    fn with_workers(workers: usize) -> Self;

    /// A spawner for this runtime.
    fn spawner(&self) -> Self::Spawner;

    /// Runs `future` to completion on the calling thread (not a worker), with
    /// this runtime as the current one where the runtime has that notion.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Shuts the runtime down, dropping every task still alive, and joins its threads.
    fn shutdown(self);
}

// ---------------------------------------------------------------- tern

/// tern's multi-thread runtime.
pub struct TernRt {
    rt: tern_runtime::Runtime,
}

impl TernRt {
    /// The underlying runtime.
    pub fn runtime(&self) -> &tern_runtime::Runtime {
        &self.rt
    }
}

/// Spawns onto a tern runtime through its `Handle`.
#[derive(Clone)]
pub struct TernSpawner(tern_runtime::Handle);

impl Spawner for TernSpawner {
    fn spawn<F>(&self, future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = self.0.spawn(future);
        async move { handle.await.expect("tern task failed") }
    }

    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.spawn(future));
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tern_runtime::yield_now()
    }
}

impl BenchRuntime for TernRt {
    type Spawner = TernSpawner;
    const NAME: &'static str = "tern";

    fn with_workers(workers: usize) -> Self {
        let rt = tern_runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build()
            .expect("failed to start tern");
        TernRt { rt }
    }

    fn spawner(&self) -> TernSpawner {
        TernSpawner(self.rt.handle().clone())
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }

    fn shutdown(self) {
        self.rt.shutdown_timeout(Duration::from_secs(10));
    }
}

// ---------------------------------------------------------------- tokio

/// tokio's multi-thread runtime.
pub struct TokioRt {
    rt: tokio::runtime::Runtime,
}

impl TokioRt {
    /// The underlying runtime.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }
}

/// Spawns onto a tokio runtime through its `Handle`.
#[derive(Clone)]
pub struct TokioSpawner(tokio::runtime::Handle);

impl Spawner for TokioSpawner {
    fn spawn<F>(&self, future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = self.0.spawn(future);
        async move { handle.await.expect("tokio task failed") }
    }

    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.spawn(future));
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

impl BenchRuntime for TokioRt {
    type Spawner = TokioSpawner;
    const NAME: &'static str = "tokio";

    fn with_workers(workers: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build()
            .expect("failed to start tokio");
        TokioRt { rt }
    }

    fn spawner(&self) -> TokioSpawner {
        TokioSpawner(self.rt.handle().clone())
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }

    fn shutdown(self) {
        self.rt.shutdown_timeout(Duration::from_secs(10));
    }
}

// ---------------------------------------------------------------- async-executor

/// An `async_executor::Executor` run by `workers` threads, the way smol drives
/// its global executor: each thread runs `block_on(ex.run(shutdown_signal))`.
pub struct AsyncExecutorRt {
    ex: Arc<async_executor::Executor<'static>>,
    stops: Vec<futures::channel::oneshot::Sender<()>>,
    threads: Vec<thread::JoinHandle<()>>,
}

/// Spawns onto an `async_executor::Executor`.
#[derive(Clone)]
pub struct AsyncExecutorSpawner(Arc<async_executor::Executor<'static>>);

impl AsyncExecutorSpawner {
    /// The executor itself.
    pub fn executor(&self) -> &Arc<async_executor::Executor<'static>> {
        &self.0
    }
}

impl Spawner for AsyncExecutorSpawner {
    fn spawn<F>(&self, future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.spawn(future)
    }

    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.spawn(future).detach();
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        futures_lite::future::yield_now()
    }
}

impl BenchRuntime for AsyncExecutorRt {
    type Spawner = AsyncExecutorSpawner;
    const NAME: &'static str = "async-executor";

    fn with_workers(workers: usize) -> Self {
        let ex = Arc::new(async_executor::Executor::new());
        let mut stops = Vec::with_capacity(workers);
        let mut threads = Vec::with_capacity(workers);
        for i in 0..workers {
            let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
            let ex = ex.clone();
            let thread = thread::Builder::new()
                .name(format!("async-executor-{i}"))
                .spawn(move || {
                    futures_lite::future::block_on(ex.run(async move {
                        let _ = stop_rx.await;
                    }))
                })
                .expect("failed to start an async-executor thread");
            stops.push(stop_tx);
            threads.push(thread);
        }
        AsyncExecutorRt { ex, stops, threads }
    }

    fn spawner(&self) -> AsyncExecutorSpawner {
        AsyncExecutorSpawner(self.ex.clone())
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures_lite::future::block_on(future)
    }

    fn shutdown(mut self) {
        self.stop_threads();
    }
}

impl AsyncExecutorRt {
    fn stop_threads(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for thread in self.threads.drain(..) {
            thread.join().expect("an async-executor thread panicked");
        }
    }
}

impl Drop for AsyncExecutorRt {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

// ---------------------------------------------------------------- helpers

/// A task body that records its first poll in `polled` and then stays pending
/// forever (it is only dropped when its runtime shuts down).
pub async fn parked_task(polled: Arc<AtomicUsize>) {
    polled.fetch_add(1, Ordering::Release);
    std::future::pending::<()>().await
}

/// Spawns `n` [`parked_task`]s from the calling thread (outside the runtime), in
/// chunks of `chunk`, waiting after each chunk until all its tasks have been
/// polled once (so the runtime's queues never hold more than `chunk` tasks).
/// Returns when all `n` tasks are parked.
pub fn spawn_parked<S: Spawner>(spawner: &S, n: usize, chunk: usize) {
    let polled = Arc::new(AtomicUsize::new(0));
    let mut spawned = 0;
    while spawned < n {
        let this_chunk = chunk.min(n - spawned);
        for _ in 0..this_chunk {
            spawner.spawn_detached(parked_task(polled.clone()));
        }
        spawned += this_chunk;
        wait_for_count(&polled, spawned, Duration::from_secs(30));
    }
}

/// Spins (sleeping 100 µs between looks) until `counter` reaches `target`;
/// panics after `timeout` so a stuck runtime shows up as a failure, not a hang.
pub fn wait_for_count(counter: &AtomicUsize, target: usize, timeout: Duration) {
    let start = Instant::now();
    while counter.load(Ordering::Acquire) < target {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?}: counter at {} of {target}",
            counter.load(Ordering::Acquire)
        );
        thread::sleep(Duration::from_micros(100));
    }
}

/// `a / b` formatted with two decimals, or `n/a` when `b` is zero.
pub fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "n/a".to_string()
    } else {
        format!("{:.2}", a / b)
    }
}
