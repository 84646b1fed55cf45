//! The work-stealing multi-thread scheduler.
//!
//! Each worker owns a [`Core`]: a LIFO slot for the task it just woke, a bounded
//! local queue (`queue.rs`) and its tick counter. Tasks woken or spawned from a
//! worker go to its LIFO slot (the previous occupant moves to the local queue);
//! tasks woken from elsewhere go to the global injector. An idle worker steals half
//! of a random victim's queue; a worker that finds nothing parks (`idle.rs`,
//! `park.rs`). The run loop lives in `worker.rs`.

pub mod idle;
pub mod queue;
mod worker;

use std::future::Future;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Stealer};
use crossbeam_utils::CachePadded;

use self::idle::Idle;
use self::queue::Local;
use crate::blocking::Spawner;
use crate::builder::ThreadConfig;
use crate::driver::{Driver, Enable, SharedDriver};
use crate::loom::{fence, AtomicBool, AtomicU64, Condvar, Mutex, Ordering::*};
use crate::metrics::{self, WorkerMetrics, WorkerMetricsSet, WorkerTimer};
use crate::park::{Parker, Unparker};
use crate::scheduler::Scheduler;
use crate::task::{self, JoinHandle, Notified, OwnedTasks, Schedule};
use crate::{context, Handle};

pub(crate) type Task = Notified<Arc<Shared>>;

/// Scheduler tuning, fixed at build time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuning {
    /// Ticks between non-blocking looks at the driver by a busy worker.
    pub(crate) event_interval: u32,
    /// Ticks between forced looks at the injector, for fairness.
    pub(crate) global_queue_interval: u32,
    pub(crate) lifo_slot: bool,
    /// Whether a worker leaving the driver wakes a sleeper to take it over.
    pub(crate) driver_hand_off: bool,
    /// Whether workers time every poll for the histogram.
    pub(crate) poll_time_histogram: bool,
}

/// State shared by all workers and every handle of one runtime.
pub(crate) struct Shared {
    remotes: Box<[Remote]>,
    inject: Injector<Task>,
    idle: Idle,
    /// The I/O and timer driver the idle workers take turns parking in.
    driver: Arc<SharedDriver>,
    owned: OwnedTasks<Arc<Shared>>,
    shutdown: AtomicBool,
    exited: Mutex<usize>,
    exited_cv: Condvar,
    metrics: WorkerMetricsSet,
    remote_spawned: AtomicU64,
    tuning: Tuning,
}

/// What other threads may touch of a worker.
struct Remote {
    stealer: Stealer<Task>,
    unparker: Unparker,
}

/// What only the owning worker touches.
pub(crate) struct Core {
    index: usize,
    lifo: Option<Task>,
    queue: Local<Task>,
    tick: u32,
    searching: bool,
    rand: FastRand,
    parker: Parker,
    timer: WorkerTimer,
}

/// The threads of a started multi-thread runtime.
pub(crate) struct Workers {
    threads: Vec<thread::JoinHandle<()>>,
}

impl Shared {
    /// Builds the shared state and starts `n` worker threads, whose current handle
    /// reaches the runtime's blocking pool through `blocking`.
    pub(crate) fn start(
        n: usize,
        threads: &ThreadConfig,
        tuning: Tuning,
        enable: Enable,
        blocking: &Spawner,
    ) -> std::io::Result<(Arc<Shared>, Workers)> {
        let n = n.max(1);
        let (driver, driver_handle) = Driver::new(enable)?;
        let driver = Arc::new(SharedDriver::new(driver, driver_handle));
        let mut cores = Vec::with_capacity(n);
        let mut remotes = Vec::with_capacity(n);
        for index in 0..n {
            let queue = Local::new();
            let parker = Parker::with_driver(driver.clone());
            remotes.push(Remote { stealer: queue.stealer(), unparker: parker.unparker() });
            cores.push(Box::new(Core {
                index,
                lifo: None,
                queue,
                tick: 0,
                searching: false,
                rand: FastRand::new(index as u64 + 1),
                parker,
                timer: WorkerTimer::new(tuning.poll_time_histogram),
            }));
        }
        let shared = Arc::new(Shared {
            remotes: remotes.into_boxed_slice(),
            inject: Injector::new(),
            idle: Idle::new(n),
            driver,
            owned: OwnedTasks::new(n * 4),
            shutdown: AtomicBool::new(false),
            exited: Mutex::new(0),
            exited_cv: Condvar::new(),
            metrics: (0..n).map(|_| CachePadded::new(WorkerMetrics::default())).collect(),
            remote_spawned: AtomicU64::new(0),
            tuning,
        });
        let handle = Handle { inner: Scheduler::Multi(shared.clone()), blocking: blocking.clone() };
        let mut workers = Workers { threads: Vec::with_capacity(n) };
        for core in cores {
            let shared2 = shared.clone();
            let handle2 = handle.clone();
            let cfg = threads.clone();
            let mut b = thread::Builder::new().name((threads.name)());
            if let Some(size) = threads.stack_size {
                b = b.stack_size(size);
            }
            let spawned = b.spawn(move || {
                if let Some(f) = &cfg.on_start {
                    f();
                }
                worker::run(&shared2, &handle2, core);
                if let Some(f) = &cfg.on_stop {
                    f();
                }
                shared2.worker_exited();
            });
            match spawned {
                Ok(t) => workers.threads.push(t),
                Err(e) => {
                    shared.shutdown(&handle, &mut workers, Some(Duration::from_secs(1)));
                    return Err(e);
                }
            }
        }
        Ok((shared, workers))
    }

    #[cfg_attr(feature = "tracing", track_caller)]
    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F, name: Option<Arc<str>>) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (join, notified) = task::spawn_task(future, self, name);
        if let Some(task) = notified {
            self.schedule_task(task, false, true);
        }
        join
    }

    /// Queues `task`: locally when called on one of our workers (LIFO slot unless
    /// `is_yield`), else into the injector, then wakes a sleeper if needed.
    fn schedule_task(self: &Arc<Self>, task: Task, is_yield: bool, is_spawn: bool) {
        let task = worker::with_current_core(self, |core| match core {
            Some(core) => {
                if is_spawn {
                    metrics::bump(&self.metrics[core.index].spawned);
                }
                self.schedule_local(core, task, is_yield);
                None
            }
            None => Some(task),
        });
        if let Some(task) = task {
            if is_spawn {
                self.remote_spawned.fetch_add(1, Relaxed);
            }
            self.schedule_remote(task);
        }
    }

    fn schedule_local(&self, core: &mut Core, task: Task, is_yield: bool) {
        if is_yield && !self.inject.is_empty() {
            // A yielding task goes behind the work already waiting, including this
            // worker's fair share of the injector.
            let fair_share = self.inject.len() / self.num_workers() + 1;
            if let Some(waiting) = core.queue.take_from_injector(&self.inject, fair_share) {
                core.queue.push_back_or_overflow(waiting, &self.inject);
            }
        }
        let pushed = if is_yield || !self.tuning.lifo_slot { Some(task) } else { core.lifo.replace(task) };
        if let Some(task) = pushed {
            if core.queue.push_back_or_overflow(task, &self.inject) {
                metrics::bump(&self.metrics[core.index].overflows);
            }
            // Work other workers could steal: wake one if nobody is searching.
            self.notify_parked();
        }
    }

    fn schedule_remote(&self, task: Task) {
        if self.shutdown.load(Acquire) {
            // Shutdown cancels every registered task itself; this reference is spare.
            drop(task);
            return;
        }
        self.inject.push(task);
        self.notify_parked();
    }

    /// Wakes one sleeping worker unless a searching worker will find the new work.
    fn notify_parked(&self) {
        // Orders the push before reading the idle state; pairs with the fence a
        // parking last searcher issues before re-checking the queues.
        fence(SeqCst);
        if let Some(index) = self.idle.worker_to_notify() {
            self.remotes[index].unparker.unpark();
        }
    }

    /// A worker left the driver to run tasks: if another worker sleeps on its
    /// condition variable, wake it (without taking it off the sleeper list), so
    /// it re-parks in the driver and events keep flowing while this one is busy.
    fn hand_off_driver(&self) {
        if let Some(index) = self.idle.any_sleeper() {
            self.remotes[index].unparker.unpark();
        }
    }

    pub(crate) fn driver(&self) -> &SharedDriver {
        &self.driver
    }

    fn is_shutdown(&self) -> bool {
        self.shutdown.load(Relaxed)
    }

    fn worker_exited(&self) {
        *self.exited.lock() += 1;
        self.exited_cv.notify_all();
    }

    /// Stops the runtime: refuses new tasks, cancels every task (dropping its
    /// future), wakes the workers and waits up to `timeout` (forever if `None`)
    /// for them to exit. Returns `true` when every worker exited. `handle` (the
    /// runtime's) is current while the futures are dropped.
    pub(crate) fn shutdown(
        self: &Arc<Self>,
        handle: &Handle,
        workers: &mut Workers,
        timeout: Option<Duration>,
    ) -> bool {
        let deadline = timeout.map(|d| Instant::now() + d);
        if !self.shutdown.swap(true, SeqCst) {
            self.owned.close();
            for sleeper in self.idle.take_all_sleepers() {
                self.remotes[sleeper].unparker.unpark();
            }
            for r in self.remotes.iter() {
                r.unparker.unpark();
            }
            // Futures dropped here may spawn or look up the handle.
            let _current = context::set_current(handle);
            self.owned.shutdown_all();
            while queue::retry(|| self.inject.steal()).is_some() {}
        }
        let started = workers.threads.len();
        let mut exited = self.exited.lock();
        while *exited < started {
            match deadline {
                None => exited = self.exited_cv.wait(exited),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    exited = self.exited_cv.wait_for(exited, d - now);
                }
            }
        }
        let all = *exited >= started;
        drop(exited);
        if all {
            for t in workers.threads.drain(..) {
                let _ = t.join();
            }
        } else {
            // Threads stuck in a task's poll are detached, never waited on.
            workers.threads.clear();
        }
        if all {
            // No worker can be parked in the driver any more: drop it, so I/O
            // resources that outlive the runtime fail instead of hanging.
            self.driver.shutdown();
        }
        // Anything a late wake pushed after the first drain.
        while queue::retry(|| self.inject.steal()).is_some() {}
        all
    }

    pub(crate) fn worker_metrics(&self) -> &[CachePadded<WorkerMetrics>] {
        &self.metrics
    }

    pub(crate) fn remote_spawned(&self) -> u64 {
        self.remote_spawned.load(Relaxed)
    }

    pub(crate) fn owned_len(&self) -> usize {
        self.owned.len()
    }

    pub(crate) fn injection_queue_depth(&self) -> usize {
        self.inject.len()
    }

    pub(crate) fn local_queue_depth(&self, w: usize) -> usize {
        self.remotes[w].stealer.len()
    }

    pub(crate) fn poll_time_histogram(&self) -> bool {
        self.tuning.poll_time_histogram
    }

    pub(crate) fn num_workers(&self) -> usize {
        self.remotes.len()
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Task) {
        self.schedule_task(task, false, false);
    }

    fn yield_now(&self, task: Task) {
        self.schedule_task(task, true, false);
    }

    fn owned(&self) -> &OwnedTasks<Self> {
        &self.owned
    }
}

/// xorshift64*: victim selection only needs cheap, well-spread numbers.
struct FastRand(u64);

impl FastRand {
    fn new(seed: u64) -> FastRand {
        FastRand(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        ((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as usize) % n
    }
}
