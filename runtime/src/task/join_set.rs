//! [`JoinSet`]: a set of spawned tasks, joined in completion order.
//!
//! Each entry's `JoinHandle` is polled with the entry's own waker. That waker
//! pushes the entry's key onto a shared ready list (once: a `queued` flag) and
//! wakes whoever waits in `join_next`, which then polls only the handles on the
//! ready list. Keys are never reused, so a waker that fires after its entry left
//! the set only queues a key that `join_next` skips.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::task::{Context, Poll, Wake, Waker};

use super::{Id, JoinError, JoinHandle};
use crate::loom::{AtomicBool, Mutex, Ordering};
use crate::Handle;

/// The ready list shared with the entry wakers. (`std::sync::Arc`: `Waker::from`
/// needs it; the atomics and locks inside still come from `crate::loom`.)
struct Shared {
    state: Mutex<ReadyState>,
}

struct ReadyState {
    ready: VecDeque<u64>,
    /// The task waiting in `join_next`.
    waiter: Option<Waker>,
}

struct EntryWaker {
    key: u64,
    queued: AtomicBool,
    shared: std::sync::Arc<Shared>,
}

impl Wake for EntryWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let waiter = {
            let mut st = self.shared.state.lock();
            st.ready.push_back(self.key);
            st.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

struct Entry<T> {
    handle: JoinHandle<T>,
    notify: std::sync::Arc<EntryWaker>,
    waker: Waker,
}

/// A collection of spawned tasks whose outputs are awaited in the order the tasks
/// finish.
///
/// All tasks must have the same output type `T`. Dropping the set aborts every
/// task still in it (use [`detach_all`](JoinSet::detach_all) to let them run on).
///
/// ```
/// use tern_runtime::task::JoinSet;
///
/// tern_runtime::Runtime::new().unwrap().block_on(async {
///     let mut set = JoinSet::new();
///     for i in 0..4u32 {
///         set.spawn(async move { i * 10 });
///     }
///     let mut total = 0;
///     while let Some(res) = set.join_next().await {
///         total += res.unwrap();
///     }
///     assert_eq!(total, 60);
/// });
/// ```
pub struct JoinSet<T> {
    entries: HashMap<u64, Entry<T>>,
    shared: std::sync::Arc<Shared>,
    next_key: u64,
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            entries: HashMap::new(),
            shared: std::sync::Arc::new(Shared {
                state: Mutex::new(ReadyState { ready: VecDeque::new(), waiter: None }),
            }),
            next_key: 0,
        }
    }

    /// Number of tasks in the set (running, or finished and not yet joined).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an already spawned task's handle to the set and returns its id.
    pub fn insert(&mut self, handle: JoinHandle<T>) -> Id {
        let key = self.next_key;
        self.next_key += 1;
        let notify = std::sync::Arc::new(EntryWaker {
            key,
            queued: AtomicBool::new(true),
            shared: self.shared.clone(),
        });
        let waker = Waker::from(notify.clone());
        let id = handle.id();
        self.entries.insert(key, Entry { handle, notify, waker });
        // Polled once by the next `join_next`, which registers the entry's waker.
        self.shared.state.lock().ready.push_back(key);
        id
    }

    /// Aborts every task in the set. They stay in the set: `join_next` reports
    /// each as cancelled (or with its output, if it finished first).
    pub fn abort_all(&self) {
        for entry in self.entries.values() {
            entry.handle.abort();
        }
    }

    /// Removes every task from the set without aborting them: they run on, and
    /// their outputs are dropped when they finish.
    pub fn detach_all(&mut self) {
        self.entries.clear();
        self.shared.state.lock().ready.clear();
    }

    /// Aborts every task and waits until all of them have finished (their futures
    /// dropped). Cancel safe: dropping this future part-way leaves the remaining,
    /// aborted tasks in the set.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Waits for the next task to finish and returns its output, `Err` when it
    /// panicked or was aborted, or `None` once the set is empty.
    ///
    /// Cancel safe: a result is removed from the set only when this returns it.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        std::future::poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Like [`join_next`](JoinSet::join_next), with the finished task's id.
    pub async fn join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        std::future::poll_fn(|cx| self.poll_join_next_with_id(cx)).await
    }

    /// Returns a finished task's output if one is ready now, without waiting.
    /// `None` means no task is known to be finished (or the set is empty).
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.try_join_next_with_id().map(|r| r.map(|(_, v)| v))
    }

    /// Like [`try_join_next`](JoinSet::try_join_next), with the task's id.
    pub fn try_join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        let pending = self.shared.state.lock().ready.len();
        self.pop_ready(pending)
    }

    /// Polls for the next finished task; see [`join_next`](JoinSet::join_next).
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        self.poll_join_next_with_id(cx).map(|o| o.map(|r| r.map(|(_, v)| v)))
    }

    /// Polls for the next finished task with its id.
    pub fn poll_join_next_with_id(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<(Id, T), JoinError>>> {
        if self.entries.is_empty() {
            return Poll::Ready(None);
        }
        // Register first, so a wake between draining and returning is not lost.
        let pending = {
            let mut st = self.shared.state.lock();
            match &mut st.waiter {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            st.ready.len()
        };
        match self.pop_ready(pending) {
            Some(r) => Poll::Ready(Some(r)),
            None => Poll::Pending,
        }
    }

    /// Polls at most `n` queued entries (those queued again meanwhile, e.g. by a
    /// spent co-operative budget, wait for the next call) and returns the first
    /// finished one.
    fn pop_ready(&mut self, n: usize) -> Option<Result<(Id, T), JoinError>> {
        for _ in 0..n {
            let Some(key) = self.shared.state.lock().ready.pop_front() else { break };
            let Some(entry) = self.entries.get_mut(&key) else { continue };
            entry.notify.queued.store(false, Ordering::Release);
            let mut ecx = Context::from_waker(&entry.waker);
            if let Poll::Ready(res) = std::pin::Pin::new(&mut entry.handle).poll(&mut ecx) {
                let entry = self.entries.remove(&key).expect("entry present");
                let id = entry.handle.id();
                return Some(res.map(|v| (id, v)));
            }
        }
        None
    }

    /// Waits for every task and returns their outputs in completion order.
    ///
    /// # Panics
    /// When a task panicked, the panic resumes here (the remaining tasks are
    /// aborted as the set is dropped); when a task was cancelled, this panics.
    pub async fn join_all(mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len());
        while let Some(res) = self.join_next().await {
            match res {
                Ok(v) => out.push(v),
                Err(e) if e.is_panic() => {
                    drop(self);
                    std::panic::resume_unwind(e.into_panic())
                }
                Err(e) => panic!("JoinSet::join_all: {e}"),
            }
        }
        out
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// Spawns `future` on the current runtime into the set.
    ///
    /// # Panics
    /// Outside a runtime context.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> Id
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.insert(Handle::current().spawn(future))
    }

    /// Spawns `future` on the runtime behind `handle` into the set.
    pub fn spawn_on<F>(&mut self, future: F, handle: &Handle) -> Id
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.insert(handle.spawn(future))
    }

    /// Runs `func` on the current runtime's blocking pool, as a member of the set.
    ///
    /// # Panics
    /// Outside a runtime context.
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, func: F) -> Id
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.insert(Handle::current().spawn_blocking(func))
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}
