//! `Builder`: configures and starts a `Runtime`.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::blocking::{self, BlockingPool};
use crate::driver::Enable;
use crate::scheduler::multi_thread::Tuning;
use crate::scheduler::{current_thread, multi_thread, Scheduler};
use crate::{Handle, Runtime};

type Callback = Arc<dyn Fn() + Send + Sync>;

/// Thread settings shared by every worker of a runtime.
#[derive(Clone)]
pub(crate) struct ThreadConfig {
    pub(crate) name: Arc<dyn Fn() -> String + Send + Sync>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_start: Option<Callback>,
    pub(crate) on_stop: Option<Callback>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    CurrentThread,
    MultiThread,
}

/// Configures a [`Runtime`].
///
/// ```
/// let rt = tern_runtime::Builder::new_multi_thread()
///     .worker_threads(2)
///     .thread_name("my-worker")
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
pub struct Builder {
    kind: Kind,
    worker_threads: Option<usize>,
    threads: ThreadConfig,
    event_interval: u32,
    global_queue_interval: u32,
    lifo_slot: bool,
    driver_hand_off: bool,
    enable_io: bool,
    enable_time: bool,
    max_blocking_threads: usize,
    thread_keep_alive: Duration,
    poll_time_histogram: bool,
}

impl Builder {
    /// A work-stealing runtime with one worker thread per core.
    pub fn new_multi_thread() -> Builder {
        Builder::new(Kind::MultiThread)
    }

    /// A runtime that runs every task on the thread calling `block_on`.
    pub fn new_current_thread() -> Builder {
        Builder::new(Kind::CurrentThread)
    }

    fn new(kind: Kind) -> Builder {
        Builder {
            kind,
            worker_threads: None,
            threads: ThreadConfig {
                name: Arc::new(|| "tern-worker".to_string()),
                stack_size: None,
                on_start: None,
                on_stop: None,
            },
            event_interval: 61,
            global_queue_interval: 31,
            lifo_slot: true,
            driver_hand_off: true,
            enable_io: false,
            enable_time: false,
            max_blocking_threads: blocking::DEFAULT_MAX_THREADS,
            thread_keep_alive: blocking::DEFAULT_KEEP_ALIVE,
            poll_time_histogram: false,
        }
    }

    /// Number of worker threads (multi-thread only). Default: the number of cores
    /// (`std::thread::available_parallelism`).
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn worker_threads(&mut self, n: usize) -> &mut Self {
        assert!(n > 0, "worker_threads must be at least 1");
        self.worker_threads = Some(n);
        self
    }

    /// Name of every worker thread. Default `tern-worker`.
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Self {
        let name: String = name.into();
        self.threads.name = Arc::new(move || name.clone());
        self
    }

    /// Computes each worker thread's name, e.g. with a counter.
    pub fn thread_name_fn(&mut self, f: impl Fn() -> String + Send + Sync + 'static) -> &mut Self {
        self.threads.name = Arc::new(f);
        self
    }

    /// Stack size of worker threads, in bytes.
    pub fn thread_stack_size(&mut self, bytes: usize) -> &mut Self {
        self.threads.stack_size = Some(bytes);
        self
    }

    /// Runs `f` on each worker thread when it starts, before any task.
    pub fn on_thread_start(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Self {
        self.threads.on_start = Some(Arc::new(f));
        self
    }

    /// Runs `f` on each worker thread just before it exits.
    pub fn on_thread_stop(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Self {
        self.threads.on_stop = Some(Arc::new(f));
        self
    }

    /// The most threads the blocking pool ([`Handle::spawn_blocking`]) runs at
    /// once; more jobs wait in its FIFO queue. Default 512. Pool threads are
    /// named after the worker threads with `-blocking` appended, and use their
    /// stack size; `on_thread_start`/`on_thread_stop` do not run on them.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Self {
        assert!(n > 0, "max_blocking_threads must be at least 1");
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking-pool thread waits for a job before it exits.
    /// Default 10 s.
    pub fn thread_keep_alive(&mut self, keep_alive: Duration) -> &mut Self {
        self.thread_keep_alive = keep_alive;
        self
    }

    /// Current-thread scheduler: tasks run between two polls of the `block_on`
    /// future when it stays pending. Default 61. (The multi-thread scheduler
    /// gains its reactor-polling interval with the reactor.)
    pub fn event_interval(&mut self, ticks: u32) -> &mut Self {
        self.event_interval = ticks.max(1);
        self
    }

    /// Ticks between forced checks of the global injector. Default 31.
    pub fn global_queue_interval(&mut self, ticks: u32) -> &mut Self {
        self.global_queue_interval = ticks.max(1);
        self
    }

    /// Whether a worker that leaves the I/O driver to run the tasks it woke wakes a
    /// sleeping worker to take the driver over (multi-thread only; default `true`).
    ///
    /// With it, I/O events and timers never wait behind a long poll while another
    /// worker sleeps, at the cost of one extra wake-up per driver exit when workers
    /// are idle. Without it (tokio's behaviour) they wait until a worker parks or
    /// a busy worker's periodic look at the driver (every `event_interval` ticks,
    /// between polls, not during one).
    pub fn driver_hand_off(&mut self, enabled: bool) -> &mut Self {
        self.driver_hand_off = enabled;
        self
    }

    /// Turns off the LIFO slot: woken tasks always go to the back of the queue.
    pub fn disable_lifo_slot(&mut self) -> &mut Self {
        self.lifo_slot = false;
        self
    }

    /// Turns on the per-worker poll-time histogram
    /// ([`RuntimeMetrics::poll_time_histogram_bucket_count`](crate::RuntimeMetrics::poll_time_histogram_bucket_count)).
    ///
    /// Off by default: it reads the clock after every poll (about 20-30 ns on
    /// Linux with a vDSO clock), where the default poll path reads no clock.
    /// Busy time ([`RuntimeMetrics::worker_total_busy_duration`](crate::RuntimeMetrics::worker_total_busy_duration))
    /// is measured either way.
    pub fn enable_metrics_poll_time_histogram(&mut self) -> &mut Self {
        self.poll_time_histogram = true;
        self
    }

    /// Enables the I/O driver and the timers ([`Builder::enable_io`],
    /// [`Builder::enable_time`]). [`Runtime::new`], [`Runtime::new_current_thread`]
    /// and [`crate::block_on`] enable both.
    pub fn enable_all(&mut self) -> &mut Self {
        self.enable_io().enable_time()
    }

    /// Enables the I/O driver: `tern_reactor::net` types and other I/O
    /// resources created on the runtime's threads (workers, `block_on`, blocking
    /// pool, [`Handle::enter`](crate::Handle::enter)) register with it. Without
    /// it, creating one there fails with an error saying no reactor is running.
    pub fn enable_io(&mut self) -> &mut Self {
        self.enable_io = true;
        self
    }

    /// Enables the timers: `tern_reactor::time::{sleep, timeout, interval}` on the
    /// runtime's threads use its timer wheel, which the runtime drives. Without
    /// it, they panic saying no timer driver is set on the thread.
    pub fn enable_time(&mut self) -> &mut Self {
        self.enable_time = true;
        self
    }

    /// Whether `enable_io`/`enable_all` was called.
    pub fn io_enabled(&self) -> bool {
        self.enable_io
    }

    /// Whether `enable_time`/`enable_all` was called.
    pub fn time_enabled(&self) -> bool {
        self.enable_time
    }

    /// Starts the runtime.
    ///
    /// # Errors
    /// When the operating system refuses to start a worker thread or to create
    /// the driver's `epoll` instance (e.g. out of file descriptors).
    pub fn build(&mut self) -> io::Result<Runtime> {
        let enable = Enable { io: self.enable_io, time: self.enable_time };
        let worker_name = self.threads.name.clone();
        let blocking = BlockingPool::from_config(blocking::Config {
            max_threads: self.max_blocking_threads,
            keep_alive: self.thread_keep_alive,
            name: Arc::new(move || format!("{}-blocking", worker_name())),
            stack_size: self.threads.stack_size,
        });
        let spawner = blocking.spawner();
        match self.kind {
            Kind::CurrentThread => {
                let shared = current_thread::Shared::new(
                    self.event_interval,
                    self.global_queue_interval,
                    self.poll_time_histogram,
                    enable,
                )?;
                blocking.shared().set_runtime(Scheduler::Current(shared.clone()));
                let handle = Handle { inner: Scheduler::Current(shared), blocking: spawner };
                Ok(Runtime::from_parts(handle, None, blocking))
            }
            Kind::MultiThread => {
                let n = self
                    .worker_threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                let tuning = Tuning {
                    event_interval: self.event_interval,
                    global_queue_interval: self.global_queue_interval,
                    lifo_slot: self.lifo_slot,
                    driver_hand_off: self.driver_hand_off,
                    poll_time_histogram: self.poll_time_histogram,
                };
                let (shared, workers) =
                    multi_thread::Shared::start(n, &self.threads, tuning, enable, &spawner)?;
                blocking.shared().set_runtime(Scheduler::Multi(shared.clone()));
                let handle = Handle { inner: Scheduler::Multi(shared), blocking: spawner };
                Ok(Runtime::from_parts(handle, Some(workers), blocking))
            }
        }
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("kind", &self.kind)
            .field("worker_threads", &self.worker_threads)
            .field("event_interval", &self.event_interval)
            .field("global_queue_interval", &self.global_queue_interval)
            .field("lifo_slot", &self.lifo_slot)
            .field("driver_hand_off", &self.driver_hand_off)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("thread_keep_alive", &self.thread_keep_alive)
            .field("poll_time_histogram", &self.poll_time_histogram)
            .finish_non_exhaustive()
    }
}

/// A thread-name function that numbers threads: `prefix-0`, `prefix-1`, ...
pub fn numbered_thread_names(prefix: &str) -> impl Fn() -> String + Send + Sync + 'static {
    let prefix = prefix.to_string();
    let next = AtomicUsize::new(0);
    move || format!("{prefix}-{}", next.fetch_add(1, Ordering::Relaxed))
}
