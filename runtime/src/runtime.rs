//! `Runtime`, and the free functions `block_on` and `spawn`.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::blocking::BlockingPool;
use crate::coop::Budget;
use crate::park::Parker;
use crate::scheduler::{multi_thread, Scheduler};
use crate::task::JoinHandle;
use crate::{context, Builder, Handle, RuntimeMetrics};

/// A running scheduler: its worker threads (multi-thread), its blocking pool
/// ([`Handle::spawn_blocking`]) and the state tasks share.
///
/// Dropping it shuts it down: every task's future is dropped and the workers are
/// joined (waiting for any task in the middle of a poll to return; see
/// [`Runtime::shutdown_timeout`] to bound that wait); then queued blocking jobs
/// are cancelled and the running ones are waited for. Dropped on a thread that
/// drives a runtime (inside a task, say), it does not wait for the workers, since
/// one of them may be the dropping thread, nor for the blocking pool: that is
/// `shutdown_background`. Dropped inside one of its blocking jobs, it waits for
/// the workers but not for the blocking pool.
pub struct Runtime {
    handle: Handle,
    workers: Option<multi_thread::Workers>,
    blocking: BlockingPool,
}

impl Runtime {
    /// A multi-thread runtime with one worker per core, I/O and timers enabled.
    ///
    /// # Errors
    /// When a worker thread or the I/O driver cannot be started.
    pub fn new() -> std::io::Result<Runtime> {
        Builder::new_multi_thread().enable_all().build()
    }

    /// A current-thread runtime (tasks run inside `block_on` on the calling
    /// thread), I/O and timers enabled.
    ///
    /// # Panics
    /// When the I/O driver cannot be created (the process is out of file
    /// descriptors); use [`Builder::new_current_thread`] to get the error.
    pub fn new_current_thread() -> Runtime {
        Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("failed to create the tern runtime's I/O driver")
    }

    pub(crate) fn from_parts(
        handle: Handle,
        workers: Option<multi_thread::Workers>,
        blocking: BlockingPool,
    ) -> Runtime {
        Runtime { handle, workers, blocking }
    }

    /// Runs `future` to completion on this thread, with this runtime as the
    /// current one (so `spawn` inside works). The thread parks whenever the
    /// future is pending; it never spins.
    ///
    /// # Panics
    /// When called from a thread that already drives a runtime (a worker, or
    /// inside another `block_on`): that would stall the tasks queued on it.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.handle.inner {
            Scheduler::Current(s) => s.block_on(&self.handle, future),
            Scheduler::Multi(_) => {
                let _enter = context::enter_runtime(&self.handle);
                park_on(future)
            }
        }
    }

    /// Spawns a task onto this runtime (see [`Handle::spawn`]).
    #[cfg_attr(feature = "tracing", track_caller)]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking closure on this runtime's blocking pool (see
    /// [`Handle::spawn_blocking`]).
    #[cfg_attr(feature = "tracing", track_caller)]
    pub fn spawn_blocking<F, R>(&self, func: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(func)
    }

    /// A handle for spawning from other threads.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The runtime's counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.metrics()
    }

    /// Shuts down: drops every task's future (idle ones at once, running ones
    /// when their current poll returns) and cancels the blocking jobs not yet
    /// started, then waits at most `timeout` in all for the workers to exit and
    /// the running blocking jobs to return. Threads stuck in a poll or a job past
    /// the deadline are detached, never waited on: this call does not hang.
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Some(timeout));
    }

    /// Shuts down without waiting for the workers (`shutdown_timeout(0)`).
    pub fn shutdown_background(self) {
        self.shutdown_timeout(Duration::ZERO)
    }

    /// The scheduler first (cancelled tasks may release blocking jobs waiting on
    /// them), then the blocking pool with what is left of `timeout`.
    fn shutdown(&mut self, timeout: Option<Duration>) {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        match &self.handle.inner {
            Scheduler::Current(s) => s.shutdown(&self.handle),
            Scheduler::Multi(s) => {
                if let Some(mut workers) = self.workers.take() {
                    s.shutdown(&self.handle, &mut workers, timeout);
                }
            }
        }
        let left = match (timeout, deadline) {
            (Some(_), Some(d)) => Some(d.saturating_duration_since(Instant::now())),
            // No timeout, or one too large to add to `Instant::now()`.
            _ => None,
        };
        self.blocking.shutdown(left);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if context::is_entered() {
            // Dropped on a runtime thread (possibly one of our own workers, inside
            // a task): waiting for the workers could wait on this very thread.
            self.shutdown(Some(Duration::ZERO));
        } else {
            self.shutdown(None);
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("handle", &self.handle).finish()
    }
}

/// Polls `future` on this thread, parking between polls until its waker fires.
pub(crate) fn park_on<F: Future>(future: F) -> F::Output {
    let parker = Parker::new();
    let waker = parker.unparker().into_waker();
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(v) = context::with_budget(Budget::initial(), || future.as_mut().poll(&mut cx)) {
            return v;
        }
        parker.park();
    }
}

/// Waits for `future` on this thread by parking it between polls: the one wait
/// behind the blocking bridges (`blocking_send`, `blocking_recv`, `blocking_lock`),
/// named `what` in the panic message.
///
/// # Panics
/// On a thread that drives a runtime (a worker, or inside `block_on`): parking
/// it would stall the tasks it runs, possibly the very one that would wake it.
#[track_caller]
pub(crate) fn block_on_thread<F: Future>(what: &str, future: F) -> F::Output {
    if context::is_entered() {
        panic!(
            "Cannot block the current thread from within a runtime: `{what}` was called on a \
             thread that drives asynchronous tasks (a worker or `block_on`). Await the async \
             version instead, or call it from `spawn_blocking` or a thread outside the runtime."
        );
    }
    park_on(future)
}

/// Starts a multi-thread runtime (one worker per core, I/O and timers enabled),
/// runs `future` on this thread to completion, then shuts the runtime down.
///
/// ```
/// let v = tern_runtime::block_on(async { tern_runtime::spawn(async { 21 * 2 }).await.unwrap() });
/// assert_eq!(v, 42);
/// ```
///
/// # Panics
/// From inside a runtime (see [`Runtime::block_on`]), or when the worker threads
/// cannot be started.
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let rt = Runtime::new().expect("failed to start the tern runtime's worker threads");
    rt.block_on(future)
}

/// Spawns `future` on the current runtime (see [`Handle::spawn`]).
///
/// # Panics
/// Outside a runtime context.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Handle::current().spawn(future)
}
