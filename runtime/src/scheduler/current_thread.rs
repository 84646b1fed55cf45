//! The current-thread scheduler: every task runs on the thread inside `block_on`.
//!
//! The thread that holds the [`Core`] (one `block_on` at a time) runs tasks from
//! its local queue and from the remote queue that other threads' wakes fill; with
//! nothing to do it parks until a wake unparks it. A concurrent `block_on` on
//! another thread drives only its own future.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crossbeam_utils::CachePadded;

use crate::coop::Budget;
use crate::loom::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering::*};
use crate::metrics::{self, WorkerMetrics, WorkerMetricsSet};
use crate::park::{Parker, Unparker};
use crate::task::{self, JoinHandle, Notified, OwnedTasks, Schedule};
use crate::{context, Handle};

type Task = Notified<Arc<Shared>>;

pub(crate) struct Shared {
    remote: Mutex<VecDeque<Task>>,
    owned: OwnedTasks<Arc<Shared>>,
    core: Mutex<Option<Box<Core>>>,
    unparker: Unparker,
    shutdown: AtomicBool,
    metrics: WorkerMetricsSet,
    remote_spawned: AtomicU64,
    /// Length of the core's local queue, mirrored for metrics.
    local_len: AtomicUsize,
    event_interval: u32,
    global_queue_interval: u32,
}

pub(crate) struct Core {
    queue: VecDeque<Task>,
    tick: u32,
    parker: Parker,
}

struct CoreContext {
    shared: Arc<Shared>,
    core: RefCell<Option<Box<Core>>>,
}

std::thread_local! {
    static CURRENT: Cell<*const CoreContext> = const { Cell::new(std::ptr::null()) };
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
    pub(crate) fn new(event_interval: u32, global_queue_interval: u32) -> Arc<Shared> {
        let parker = Parker::new();
        Arc::new(Shared {
            remote: Mutex::new(VecDeque::new()),
            owned: OwnedTasks::new(1),
            unparker: parker.unparker(),
            core: Mutex::new(Some(Box::new(Core { queue: VecDeque::new(), tick: 0, parker }))),
            shutdown: AtomicBool::new(false),
            metrics: vec![CachePadded::new(WorkerMetrics::default())].into_boxed_slice(),
            remote_spawned: AtomicU64::new(0),
            local_len: AtomicUsize::new(0),
            event_interval,
            global_queue_interval,
        })
    }

    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F, name: Option<Arc<str>>) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (join, notified) = task::spawn_task(future, self.clone(), name);
        if let Some(task) = notified {
            self.push(task, true);
        }
        join
    }

    /// Queues on the core if this thread holds it, else remotely (and unparks).
    fn push(self: &Arc<Self>, task: Task, is_spawn: bool) {
        let ptr = CURRENT.with(Cell::get);
        if !ptr.is_null() {
            // SAFETY: set by `block_on` to a context on its stack, cleared before
            // that frame ends; only this thread reads it.
            let cx = unsafe { &*ptr };
            if Arc::ptr_eq(&cx.shared, self) {
                if let Ok(mut slot) = cx.core.try_borrow_mut() {
                    if let Some(core) = slot.as_mut() {
                        core.queue.push_back(task);
                        self.local_len.store(core.queue.len(), Relaxed);
                        if is_spawn {
                            metrics::bump(&self.metrics[0].spawned);
                        }
                        return;
                    }
                }
            }
        }
        if is_spawn {
            self.remote_spawned.fetch_add(1, Relaxed);
        }
        if self.shutdown.load(Acquire) {
            drop(task);
            return;
        }
        self.remote.lock().push_back(task);
        self.unparker.unpark();
    }

    pub(crate) fn block_on<F: Future>(self: &Arc<Self>, handle: &Handle, future: F) -> F::Output {
        let _enter = context::enter_runtime(handle);
        let Some(core) = self.core.lock().take() else {
            // Another thread is driving the tasks: only drive our own future.
            return crate::runtime::park_on(future);
        };
        let cx = CoreContext { shared: self.clone(), core: RefCell::new(Some(core)) };
        // Puts the core back (and clears the thread-local) even if a poll panics.
        struct Restore<'a>(&'a CoreContext);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(std::ptr::null()));
                if let Some(core) = self.0.core.borrow_mut().take() {
                    *self.0.shared.core.lock() = Some(core);
                }
            }
        }
        CURRENT.with(|c| c.set(&cx));
        let _restore = Restore(&cx);

        let main = Arc::new(MainWaker { woken: AtomicBool::new(true), unparker: self.unparker.clone() });
        let waker = Waker::from(main.clone());
        let mut future = pin!(future);
        loop {
            if main.woken.swap(false, AcqRel) {
                let poll = context::with_budget(Budget::initial(), || {
                    future.as_mut().poll(&mut Context::from_waker(&waker))
                });
                if let Poll::Ready(v) = poll {
                    return v;
                }
            }
            let mut ran = 0;
            while ran < self.event_interval && !main.woken.load(Acquire) {
                let Some(task) = self.next_task(&cx) else { break };
                metrics::bump(&self.metrics[0].polls);
                task.run();
                ran += 1;
            }
            if ran == 0 && !main.woken.load(Acquire) {
                metrics::bump(&self.metrics[0].parks);
                let core = cx.core.borrow();
                core.as_ref().expect("core").parker.park();
            }
        }
    }

    fn next_task(&self, cx: &CoreContext) -> Option<Task> {
        let mut slot = cx.core.borrow_mut();
        let core = slot.as_mut().expect("core");
        core.tick = core.tick.wrapping_add(1);
        let task = if core.tick % self.global_queue_interval == 0 {
            self.remote.lock().pop_front().or_else(|| core.queue.pop_front())
        } else {
            core.queue.pop_front().or_else(|| self.remote.lock().pop_front())
        };
        self.local_len.store(core.queue.len(), Relaxed);
        task
    }

    /// Cancels every task and drops the queues. Idempotent.
    pub(crate) fn shutdown(self: &Arc<Self>) {
        if self.shutdown.swap(true, SeqCst) {
            return;
        }
        self.owned.close();
        let handle = Handle { inner: crate::scheduler::Scheduler::Current(self.clone()) };
        let _current = context::set_current(&handle);
        self.owned.shutdown_all();
        let local = self.core.lock().as_mut().map(|c| std::mem::take(&mut c.queue));
        drop(local);
        let remote = std::mem::take(&mut *self.remote.lock());
        drop(remote);
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
        self.remote.lock().len()
    }

    pub(crate) fn local_queue_depth(&self) -> usize {
        self.local_len.load(Relaxed)
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Task) {
        self.push(task, false);
    }

    fn owned(&self) -> &OwnedTasks<Self> {
        &self.owned
    }
}
