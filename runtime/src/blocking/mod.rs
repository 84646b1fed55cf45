//! The blocking pool: threads for closures that block (file I/O, `std` locks,
//! long computations), so they never stall an async worker.
//!
//! A job is an ordinary tern task whose future (`task::BlockingTask`) runs the
//! closure in its first poll, scheduled by the pool (`pool::PoolShared`
//! implements `Schedule`): it has the usual [`JoinHandle`] (await it, `abort` it
//! before it starts, `is_finished`; a panic becomes [`JoinError::is_panic`]).
//! Threads are started on demand up to a cap, jobs wait in one FIFO queue when
//! every thread is busy, and a thread idle for the keep-alive exits.
//!
//! Each [`Runtime`](crate::Runtime) owns one pool ([`spawn_blocking`],
//! [`Handle::spawn_blocking`]); [`BlockingPool`] is the same pool standing
//! alone, sized separately (e.g. a compute pool).
//!
//! [`JoinError::is_panic`]: crate::JoinError::is_panic

mod pool;
mod task;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use pool::{Config, PoolShared};

use crate::task::JoinHandle;
use crate::Handle;

/// Default cap on a pool's threads.
pub const DEFAULT_MAX_THREADS: usize = 512;

/// Default time an idle pool thread waits for a job before it exits.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// What a [`Handle`] holds to reach its runtime's pool.
#[derive(Clone)]
pub(crate) struct Spawner(pub(crate) Arc<PoolShared>);

impl Spawner {
    #[cfg_attr(feature = "tracing", track_caller)]
    pub(crate) fn spawn<F, R>(&self, func: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.0.spawn(func)
    }
}

/// A pool of threads for blocking closures.
///
/// Threads start on demand, at most [`BlockingPoolBuilder::max_threads`] (default
/// 512) at once; jobs beyond that wait in a FIFO queue. A thread idle for
/// [`BlockingPoolBuilder::keep_alive`] (default 10 s) exits; idle threads wait on
/// a condition variable and use no CPU.
///
/// ```
/// let pool = tern_runtime::BlockingPool::builder().max_threads(4).build();
/// let job = pool.spawn(|| (1..=10u64).product::<u64>());
/// assert_eq!(tern_runtime::block_on(job).unwrap(), 3_628_800);
/// ```
///
/// Dropping the pool shuts it down like [`BlockingPool::shutdown_timeout`] with
/// no timeout: it **waits for running jobs to return** (jobs not yet started are
/// cancelled). Dropped on one of its own threads (inside a job), it does not
/// wait. Where a job may block for long, call `shutdown_timeout` instead.
pub struct BlockingPool {
    shared: Arc<PoolShared>,
    shut_down: bool,
}

impl BlockingPool {
    /// A pool with the default settings.
    pub fn new() -> BlockingPool {
        BlockingPool::builder().build()
    }

    /// Configures a pool.
    pub fn builder() -> BlockingPoolBuilder {
        BlockingPoolBuilder::new()
    }

    pub(crate) fn from_config(config: Config) -> BlockingPool {
        BlockingPool { shared: PoolShared::new(config), shut_down: false }
    }

    pub(crate) fn spawner(&self) -> Spawner {
        Spawner(self.shared.clone())
    }

    pub(crate) fn shared(&self) -> &Arc<PoolShared> {
        &self.shared
    }

    /// Runs `func` on a pool thread and returns a [`JoinHandle`] for its result.
    ///
    /// The job starts at once on an idle thread or a new one (below the cap), or
    /// else waits in the FIFO queue. Awaiting the handle gives `Ok(result)`, a
    /// [`JoinError`](crate::JoinError) that `is_panic` if `func` panicked, or one
    /// that `is_cancelled` if it was aborted before it started or the pool shut
    /// down first. [`JoinHandle::abort`] cannot interrupt a running closure; a
    /// job aborted while queued is dropped unrun, and its handle resolves when a
    /// thread reaches it in the queue.
    ///
    /// After shutdown this returns a handle that reports cancellation at once.
    ///
    /// # Panics
    /// When the pool has no thread and the operating system refuses to start one.
    #[cfg_attr(feature = "tracing", track_caller)]
    pub fn spawn<F, R>(&self, func: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared.spawn(func)
    }

    /// Shuts the pool down: later [`spawn`](BlockingPool::spawn)s return a
    /// cancelled handle, queued jobs are cancelled (their closures dropped on this
    /// thread, unrun), and running jobs get at most `timeout` to return. Threads
    /// still running a job at the deadline are detached, never waited on: this
    /// call does not hang. On one of the pool's own threads it does not wait.
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Some(timeout));
    }

    /// Shuts down once (later calls do nothing); `None` waits for running jobs.
    pub(crate) fn shutdown(&mut self, timeout: Option<Duration>) {
        if !std::mem::replace(&mut self.shut_down, true) {
            self.shared.shutdown(timeout);
        }
    }

    /// Threads currently alive (running a job or idle).
    pub fn num_threads(&self) -> usize {
        self.shared.num_threads()
    }

    /// Threads waiting for a job.
    pub fn num_idle_threads(&self) -> usize {
        self.shared.num_idle_threads()
    }

    /// Jobs queued and not yet picked up by a thread.
    pub fn queue_depth(&self) -> usize {
        self.shared.queue_depth()
    }

    /// The most threads this pool runs at once.
    pub fn max_threads(&self) -> usize {
        self.shared.max_threads()
    }
}

impl Default for BlockingPool {
    fn default() -> Self {
        BlockingPool::new()
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPool")
            .field("max_threads", &self.max_threads())
            .field("num_threads", &self.num_threads())
            .field("queue_depth", &self.queue_depth())
            .finish()
    }
}

/// Configures a [`BlockingPool`].
///
/// ```
/// use std::time::Duration;
/// let pool = tern_runtime::BlockingPool::builder()
///     .max_threads(8)
///     .keep_alive(Duration::from_secs(1))
///     .thread_name("compute")
///     .build();
/// assert_eq!(pool.max_threads(), 8);
/// ```
pub struct BlockingPoolBuilder {
    max_threads: usize,
    keep_alive: Duration,
    name: Arc<dyn Fn() -> String + Send + Sync>,
    stack_size: Option<usize>,
}

impl BlockingPoolBuilder {
    fn new() -> BlockingPoolBuilder {
        BlockingPoolBuilder {
            max_threads: DEFAULT_MAX_THREADS,
            keep_alive: DEFAULT_KEEP_ALIVE,
            name: Arc::new(|| "tern-blocking".to_string()),
            stack_size: None,
        }
    }

    /// The most threads alive at once. Default [`DEFAULT_MAX_THREADS`] (512).
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn max_threads(&mut self, n: usize) -> &mut Self {
        assert!(n > 0, "max_threads must be at least 1");
        self.max_threads = n;
        self
    }

    /// How long an idle thread waits for a job before it exits. Default
    /// [`DEFAULT_KEEP_ALIVE`] (10 s).
    pub fn keep_alive(&mut self, keep_alive: Duration) -> &mut Self {
        self.keep_alive = keep_alive;
        self
    }

    /// Name of every pool thread. Default `tern-blocking`.
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Self {
        let name: String = name.into();
        self.name = Arc::new(move || name.clone());
        self
    }

    /// Computes each pool thread's name when it starts (e.g. with
    /// [`numbered_thread_names`](crate::numbered_thread_names)).
    pub fn thread_name_fn(&mut self, f: impl Fn() -> String + Send + Sync + 'static) -> &mut Self {
        self.name = Arc::new(f);
        self
    }

    /// Stack size of pool threads, in bytes. Default: `std::thread`'s.
    pub fn thread_stack_size(&mut self, bytes: usize) -> &mut Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Creates the pool. No thread starts until the first job.
    pub fn build(&mut self) -> BlockingPool {
        BlockingPool::from_config(Config {
            max_threads: self.max_threads,
            keep_alive: self.keep_alive,
            name: self.name.clone(),
            stack_size: self.stack_size,
        })
    }
}

impl fmt::Debug for BlockingPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPoolBuilder")
            .field("max_threads", &self.max_threads)
            .field("keep_alive", &self.keep_alive)
            .field("stack_size", &self.stack_size)
            .finish_non_exhaustive()
    }
}

/// Runs `func` on the current runtime's blocking pool (see [`Handle::spawn_blocking`]).
///
/// ```
/// tern_runtime::block_on(async {
///     let n = tern_runtime::spawn_blocking(|| std::fs::read_dir(".").map(|d| d.count()));
///     assert!(n.await.unwrap().is_ok());
/// });
/// ```
///
/// # Panics
/// Outside a runtime context (like [`spawn`](crate::spawn)).
#[track_caller]
pub fn spawn_blocking<F, R>(func: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    Handle::current().spawn_blocking(func)
}
