//! `Handle`: a cheap, cloneable reference to a runtime.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::blocking::Spawner;
use crate::context;
use crate::metrics::RuntimeMetrics;
use crate::scheduler::Scheduler;
use crate::task::{Id, JoinHandle};

/// A reference to a runtime that can spawn onto it from any thread.
///
/// Keeps the runtime's shared state alive, not its threads: after the `Runtime`
/// is shut down, spawning through a handle returns a `JoinHandle` that reports
/// cancellation.
#[derive(Clone)]
pub struct Handle {
    pub(crate) inner: Scheduler,
    /// The runtime's blocking pool.
    pub(crate) blocking: Spawner,
}

/// Returned by [`Handle::try_current`] outside a runtime context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryCurrentError(());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no tern runtime is running on this thread")
    }
}

impl std::error::Error for TryCurrentError {}

impl Handle {
    /// The handle of the runtime driving this thread (a worker, inside
    /// `block_on`, or after [`Handle::enter`]).
    ///
    /// # Panics
    /// Outside a runtime context; use [`Handle::try_current`] to check.
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(h) => h,
            Err(e) => {
                panic!("{e}: call this from inside `block_on`, a spawned task, or `Handle::enter`")
            }
        }
    }

    /// The current runtime's handle, or an error outside any runtime.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        context::current_handle().ok_or(TryCurrentError(()))
    }

    /// Spawns `future` as a new task and returns its [`JoinHandle`].
    ///
    /// The task starts running soon on a worker (multi-thread) or during the next
    /// `block_on` (current-thread); it is not polled inside this call.
    #[cfg_attr(feature = "tracing", track_caller)]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named(future, None)
    }

    /// Runs the blocking closure `func` on the runtime's blocking pool and returns
    /// a [`JoinHandle`] for its result.
    ///
    /// The pool starts threads on demand, up to
    /// [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads)
    /// (default 512); beyond that, jobs wait in a FIFO queue. An idle pool thread
    /// exits after [`Builder::thread_keep_alive`](crate::Builder::thread_keep_alive)
    /// (default 10 s). Inside `func`, [`Handle::current`] is this runtime, and the
    /// thread may call `block_on`. Awaiting the handle gives the result, or a
    /// [`JoinError`](crate::JoinError) that `is_panic` when `func` panicked, or
    /// `is_cancelled` when it was aborted before it started or the runtime shut
    /// down first ([`JoinHandle::abort`] cannot stop a running closure). After
    /// the runtime is shut down the handle reports cancellation.
    ///
    /// # Panics
    /// When the pool has no thread and the operating system refuses to start one.
    #[cfg_attr(feature = "tracing", track_caller)]
    pub fn spawn_blocking<F, R>(&self, func: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.blocking.spawn(func)
    }

    #[cfg_attr(feature = "tracing", track_caller)]
    pub(crate) fn spawn_named<F>(&self, future: F, name: Option<Arc<str>>) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.inner {
            Scheduler::Multi(s) => s.spawn(future, name),
            Scheduler::Current(s) => s.spawn(future, name),
        }
    }

    /// Makes this the current handle on this thread until the guard drops, so
    /// `tern_runtime::spawn` works outside `block_on`.
    pub fn enter(&self) -> EnterGuard {
        EnterGuard { _guard: context::set_current(self) }
    }

    /// The runtime's counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::new(self.clone())
    }

    /// The name of a live task spawned with [`crate::task::Builder::name`].
    pub fn task_name(&self, id: Id) -> Option<Arc<str>> {
        match &self.inner {
            Scheduler::Multi(s) => crate::task::Schedule::owned(s).name_of(id),
            Scheduler::Current(s) => crate::task::Schedule::owned(s).name_of(id),
        }
    }

    /// The ids of the runtime's live tasks (spawned, not yet completed), each with
    /// its name if it was spawned with [`crate::task::Builder::name`].
    ///
    /// A snapshot for monitoring: it locks each registry shard briefly and
    /// allocates, so it is meant for periodic use (see `examples/task_table.rs`),
    /// not for hot paths. Blocking-pool jobs are not listed.
    pub fn live_tasks(&self) -> Vec<(Id, Option<Arc<str>>)> {
        match &self.inner {
            Scheduler::Multi(s) => crate::task::Schedule::owned(s).live(),
            Scheduler::Current(s) => crate::task::Schedule::owned(s).live(),
        }
    }

    /// `true` when both handles refer to the same runtime.
    pub fn ptr_eq(&self, other: &Handle) -> bool {
        match (&self.inner, &other.inner) {
            (Scheduler::Multi(a), Scheduler::Multi(b)) => Arc::ptr_eq(a, b),
            (Scheduler::Current(a), Scheduler::Current(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flavor = match &self.inner {
            Scheduler::Multi(_) => "multi_thread",
            Scheduler::Current(_) => "current_thread",
        };
        f.debug_struct("Handle").field("flavor", &flavor).finish()
    }
}

/// Returned by [`Handle::enter`]; restores the previous handle on drop.
#[must_use = "the handle is current only while the guard lives"]
pub struct EnterGuard {
    _guard: context::SetCurrentGuard,
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnterGuard")
    }
}
