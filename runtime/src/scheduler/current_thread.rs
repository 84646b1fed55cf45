//! The current-thread scheduler: every task runs on the thread inside `block_on`.
//!
//! The thread that holds the [`Core`] (one `block_on` at a time) runs tasks from
//! its local queue and from the remote queue that other threads' wakes fill; with
//! nothing to do it parks until a wake unparks it. A concurrent `block_on` on
//! another thread drives its own future and waits for the core; when the driving
//! `block_on` returns, a waiting one takes the core over and runs the tasks.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crossbeam_utils::CachePadded;

use crate::coop::Budget;
use crate::driver::{Driver, Enable, SharedDriver};
use crate::loom::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering::*};
use crate::metrics::{self, WorkerMetrics, WorkerMetricsSet, WorkerTimer};
use crate::park::{Parker, Unparker};
use crate::scheduler::CoreContext;
use crate::task::{self, JoinHandle, Notified, OwnedTasks, Schedule};
use crate::{context, Handle};

type Task = Notified<Arc<Shared>>;

pub(crate) struct Shared {
    remote: Mutex<VecDeque<Task>>,
    /// `remote`'s length, readable without the lock.
    remote_len: AtomicUsize,
    owned: OwnedTasks<Arc<Shared>>,
    core: Mutex<Option<Box<Core>>>,
    /// `block_on` calls waiting for the core; unparked when it is put back.
    core_waiters: Mutex<Vec<Unparker>>,
    unparker: Unparker,
    shutdown: AtomicBool,
    metrics: WorkerMetricsSet,
    remote_spawned: AtomicU64,
    /// Length of the core's local queue, mirrored for metrics.
    local_len: AtomicUsize,
    event_interval: u32,
    global_queue_interval: u32,
    /// Whether every task poll is timed for the histogram.
    poll_time_histogram: bool,
    /// The I/O and timer driver; the core's holder parks in it.
    driver: Arc<SharedDriver>,
}

pub(crate) struct Core {
    queue: VecDeque<Task>,
    tick: u32,
    parker: Parker,
}

type SchedContext = CoreContext<Shared, Core>;

/// Puts a core taken out of the context back when dropped (also on unwind).
struct PutBack<'a>(&'a SchedContext, Option<Box<Core>>);

impl Drop for PutBack<'_> {
    fn drop(&mut self) {
        *self.0.core.borrow_mut() = self.1.take();
    }
}

std::thread_local! {
    static CURRENT: Cell<*const SchedContext> = const { Cell::new(std::ptr::null()) };
}

/// The main future's waker: a flag plus an unpark.
struct MainWaker {
    woken: AtomicBool,
    unparker: Unparker,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Release);
        self.unparker.unpark();
    }
}

impl Shared {
    pub(crate) fn new(
        event_interval: u32,
        global_queue_interval: u32,
        poll_time_histogram: bool,
        enable: Enable,
    ) -> std::io::Result<Arc<Shared>> {
        let (driver, driver_handle) = Driver::new(enable)?;
        let driver = Arc::new(SharedDriver::new(driver, driver_handle));
        let parker = Parker::with_driver(driver.clone());
        Ok(Arc::new(Shared {
            remote: Mutex::new(VecDeque::new()),
            remote_len: AtomicUsize::new(0),
            owned: OwnedTasks::new(1),
            unparker: parker.unparker(),
            core: Mutex::new(Some(Box::new(Core { queue: VecDeque::new(), tick: 0, parker }))),
            core_waiters: Mutex::new(Vec::new()),
            shutdown: AtomicBool::new(false),
            metrics: vec![CachePadded::new(WorkerMetrics::default())].into_boxed_slice(),
            remote_spawned: AtomicU64::new(0),
            local_len: AtomicUsize::new(0),
            event_interval,
            global_queue_interval,
            poll_time_histogram,
            driver,
        }))
    }

    pub(crate) fn driver(&self) -> &SharedDriver {
        &self.driver
    }

    #[cfg_attr(feature = "tracing", track_caller)]
    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F, name: Option<Arc<str>>) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (join, notified) = task::spawn_task(future, self, name);
        if let Some(task) = notified {
            self.push(task, true, false);
        }
        join
    }

    /// Queues on the core if this thread holds it, else remotely (and unparks).
    /// A yielding task first lets the remote queue's tasks in ahead of it.
    fn push(self: &Arc<Self>, task: Task, is_spawn: bool, is_yield: bool) {
        let task = SchedContext::with_current(&CURRENT, self, |core| {
            let Some(core) = core else { return Some(task) };
            if is_yield && self.remote_len.load(Acquire) > 0 {
                let mut remote = self.remote.lock();
                core.queue.extend(remote.drain(..));
                self.remote_len.store(0, Release);
            }
            core.queue.push_back(task);
            self.local_len.store(core.queue.len(), Relaxed);
            if is_spawn {
                metrics::bump(&self.metrics[0].spawned);
            }
            None
        });
        let Some(task) = task else { return };
        if is_spawn {
            self.remote_spawned.fetch_add(1, Relaxed);
        }
        if self.shutdown.load(Acquire) {
            drop(task);
            return;
        }
        let mut remote = self.remote.lock();
        remote.push_back(task);
        self.remote_len.store(remote.len(), Release);
        drop(remote);
        self.unparker.unpark();
    }

    pub(crate) fn block_on<F: Future>(self: &Arc<Self>, handle: &Handle, future: F) -> F::Output {
        let _enter = context::enter_runtime(handle);
        let mut future = pin!(future);
        let parker = Parker::new();
        let me = parker.unparker();
        let waker = me.clone().into_waker();
        loop {
            let core = self.core.lock().take();
            if let Some(core) = core {
                return self.drive(core, future);
            }
            // Another thread drives the tasks: poll our own future meanwhile.
            let poll = context::with_budget(Budget::initial(), || {
                future.as_mut().poll(&mut Context::from_waker(&waker))
            });
            if let Poll::Ready(v) = poll {
                return v;
            }
            {
                let mut waiters = self.core_waiters.lock();
                if !waiters.iter().any(|w| w.ptr_eq(&me)) {
                    waiters.push(me.clone());
                }
            }
            // Registered first, checked second: a core put back in between is
            // seen here, and one put back later unparks us.
            if self.core.lock().is_none() {
                parker.park();
            }
        }
    }

    /// Runs the tasks and `future` on this thread with `core` until `future` is done.
    fn drive<F: Future>(self: &Arc<Self>, core: Box<Core>, mut future: std::pin::Pin<&mut F>) -> F::Output {
        let cx = SchedContext::new(self.clone(), Some(core));
        let _entered = cx.enter(&CURRENT);
        // Puts the core back even if a poll panics, then lets a waiting
        // `block_on` take it over.
        struct Restore<'a>(&'a SchedContext);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                if let Some(core) = self.0.core.borrow_mut().take() {
                    *self.0.shared.core.lock() = Some(core);
                }
                let waiters = std::mem::take(&mut *self.0.shared.core_waiters.lock());
                for w in waiters {
                    w.unpark();
                }
            }
        }
        let _restore = Restore(&cx);

        let main = Arc::new(MainWaker { woken: AtomicBool::new(true), unparker: self.unparker.clone() });
        let waker = Waker::from(main.clone());
        // Polls (main future and tasks) since the driver was last looked at.
        let mut since_driver = 0;
        let m = &self.metrics[0];
        let mut timer = WorkerTimer::new(self.poll_time_histogram);
        loop {
            if main.woken.swap(false, AcqRel) {
                let poll = context::with_budget(Budget::initial(), || {
                    future.as_mut().poll(&mut Context::from_waker(&waker))
                });
                if let Poll::Ready(v) = poll {
                    timer.idle(m);
                    return v;
                }
                since_driver += 1;
            }
            // Up to `event_interval` tasks between polls of the main future, even
            // when it woke itself, so a main future that yields cannot starve them.
            let mut ran = 0;
            let mut poll_start = None;
            while ran < self.event_interval {
                let Some(task) = self.next_task(&cx) else {
                    break;
                };
                if ran == 0 {
                    poll_start = timer.batch_start();
                }
                metrics::bump(&m.polls);
                task.run();
                WorkerTimer::poll_done(m, &mut poll_start);
                ran += 1;
            }
            since_driver += ran;
            if ran == 0 && !main.woken.load(Acquire) {
                metrics::bump(&m.parks);
                timer.idle(m);
                // Parked without the core in the context, so tasks woken by the
                // driver go to the remote queue (and leave an unpark token)
                // instead of borrowing the core while it parks.
                let core = cx.core.borrow_mut().take().expect("core");
                let core = PutBack(&cx, Some(core));
                core.1.as_ref().expect("core").parker.park();
                since_driver = 0;
            } else if since_driver >= self.event_interval {
                // Busy for a while: let I/O events and due timers in.
                timer.checkpoint(m);
                self.driver.maintain();
                since_driver = 0;
            }
        }
    }

    fn next_task(&self, cx: &SchedContext) -> Option<Task> {
        let mut slot = cx.core.borrow_mut();
        let core = slot.as_mut().expect("core");
        core.tick = core.tick.wrapping_add(1);
        let pop_remote = || {
            if self.remote_len.load(Acquire) == 0 {
                return None;
            }
            let mut remote = self.remote.lock();
            let task = remote.pop_front();
            self.remote_len.store(remote.len(), Release);
            task
        };
        let task = if core.tick.is_multiple_of(self.global_queue_interval) {
            pop_remote().or_else(|| core.queue.pop_front())
        } else {
            core.queue.pop_front().or_else(pop_remote)
        };
        self.local_len.store(core.queue.len(), Relaxed);
        task
    }

    /// Cancels every task and drops the queues. Idempotent. `handle` (the
    /// runtime's) is current while the futures are dropped.
    pub(crate) fn shutdown(self: &Arc<Self>, handle: &Handle) {
        if self.shutdown.swap(true, SeqCst) {
            return;
        }
        self.owned.close();
        let _current = context::set_current(handle);
        self.owned.shutdown_all();
        let local = self.core.lock().as_mut().map(|c| std::mem::take(&mut c.queue));
        drop(local);
        let remote = std::mem::take(&mut *self.remote.lock());
        self.remote_len.store(0, Release);
        drop(remote);
        // No `block_on` drives the core now (shutdown runs when the runtime is
        // dropped): I/O resources that outlive the runtime fail from here on.
        self.driver.shutdown();
    }

    pub(crate) fn worker_metrics(&self) -> &[CachePadded<WorkerMetrics>] {
        &self.metrics
    }

    pub(crate) fn poll_time_histogram(&self) -> bool {
        self.poll_time_histogram
    }

    pub(crate) fn remote_spawned(&self) -> u64 {
        self.remote_spawned.load(Relaxed)
    }

    pub(crate) fn owned_len(&self) -> usize {
        self.owned.len()
    }

    pub(crate) fn injection_queue_depth(&self) -> usize {
        self.remote_len.load(Acquire)
    }

    pub(crate) fn local_queue_depth(&self) -> usize {
        self.local_len.load(Relaxed)
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Task) {
        self.push(task, false, false);
    }

    fn yield_now(&self, task: Task) {
        self.push(task, false, true);
    }

    fn owned(&self) -> &OwnedTasks<Self> {
        &self.owned
    }
}
