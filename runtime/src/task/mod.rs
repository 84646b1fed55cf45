//! Tasks: the unit the schedulers run.
//!
//! A task is one heap allocation (`raw::Cell`) holding its header, its scheduler
//! handle, the JoinHandle's waker and its stage (future, then output). References
//! to it are counted in the state word (`state.rs`); the types below, the
//! `JoinHandle` and every [`AbortHandle`] each own one.
//!
//! Structured concurrency on top of tasks: [`JoinSet`] (join in completion
//! order), [`Nursery`] (a scope no child outlives), [`CancelToken`] (tree-shaped
//! cancellation), [`shield`], [`wait_for`] (a time limit; its docs also show the
//! `futures` join/select combinators), [`task_local!`](crate::task_local) and
//! [`dag`] (graphs of async processors).

mod abort;
mod builder;
mod cancel;
pub mod dag;
mod id;
mod join;
mod join_set;
mod nursery;
mod owned;
mod raw;
mod shield;
mod state;
mod task_local;
mod trace;
mod wait_for;
mod waker;

use std::future::Future;
use std::marker::PhantomData;
use std::ptr::NonNull;

pub use abort::AbortHandle;
pub use builder::Builder;
pub use cancel::{CancelToken, DropGuard, WaitForCancellation, WaitForCancellationOwned};
pub use id::Id;
pub use join::{JoinError, JoinHandle};
pub use join_set::JoinSet;
pub use nursery::Nursery;
pub use owned::OwnedTasks;
pub(crate) use raw::cell_size;
use raw::Header;
pub use shield::{shield, Shield};
pub use task_local::{AccessError, LocalKey, TaskLocalFuture};
pub(crate) use trace::{Kind as SpawnKind, SpawnMeta};
pub use wait_for::{wait_for, Elapsed, Timeout};

pub use crate::coop::unconstrained;

/// The id of the task being polled on this thread.
///
/// # Panics
/// Outside a task (e.g. directly inside `block_on`); see [`try_id`].
#[track_caller]
pub fn id() -> Id {
    try_id().expect("task::id() called outside a task")
}

/// The id of the task being polled on this thread, if any.
pub fn try_id() -> Option<Id> {
    crate::context::task_id()
}
pub use crate::yield_now::yield_now;

/// What a task needs from the scheduler that runs it.
pub trait Schedule: Send + Sync + Clone + Sized + 'static {
    /// A waker fired: queue the task (LIFO slot or local queue on a worker,
    /// injector elsewhere).
    fn schedule(&self, task: Notified<Self>);
    /// The task woke itself while being polled (`yield_now`, budget spent): queue
    /// it behind the work already waiting.
    fn yield_now(&self, task: Notified<Self>) {
        self.schedule(task)
    }
    /// The registry the task was bound to.
    fn owned(&self) -> &OwnedTasks<Self>;
}

/// A counted reference to a task.
pub struct Task<S: Schedule> {
    raw: NonNull<Header>,
    _s: PhantomData<S>,
}

// SAFETY: tasks are `Send` futures with `Send` outputs, and every access to the
// allocation goes through the state machine's atomics or its exclusive-access rules.
unsafe impl<S: Schedule> Send for Task<S> {}
// SAFETY: as above; `&Task` only exposes the atomic state.
unsafe impl<S: Schedule> Sync for Task<S> {}

impl<S: Schedule> Task<S> {
    /// # Safety
    /// The caller hands over one counted reference to a task scheduled by `S`.
    pub(crate) unsafe fn from_raw(raw: NonNull<Header>) -> Self {
        Task { raw, _s: PhantomData }
    }

    pub(crate) fn raw(&self) -> NonNull<Header> {
        self.raw
    }

    fn header(&self) -> &Header {
        // SAFETY: our reference keeps the task alive.
        unsafe { self.raw.as_ref() }
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.header().id
    }

    /// Runtime shutdown: cancel if idle (consumes this reference).
    fn shutdown(self) {
        let raw = self.raw;
        std::mem::forget(self);
        // SAFETY: the vtable matches the task and takes over our reference.
        unsafe { (raw.as_ref().vtable.shutdown)(raw) }
    }
}

impl<S: Schedule> Clone for Task<S> {
    fn clone(&self) -> Self {
        self.header().state.ref_inc();
        Task { raw: self.raw, _s: PhantomData }
    }
}

impl<S: Schedule> Drop for Task<S> {
    fn drop(&mut self) {
        if self.header().state.ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { (self.header().vtable.dealloc)(self.raw) }
        }
    }
}

/// A task that is due to be polled: what run queues hold.
pub struct Notified<S: Schedule>(Task<S>);

impl<S: Schedule> Notified<S> {
    /// # Safety
    /// As `Task::from_raw`, and the task's NOTIFIED flag accounts for this value.
    pub(crate) unsafe fn from_raw(raw: NonNull<Header>) -> Self {
        // SAFETY: forwarded contract.
        Notified(unsafe { Task::from_raw(raw) })
    }

    /// Polls the task once (or cancels it, if it was aborted).
    pub fn run(self) {
        let raw = self.0.raw;
        std::mem::forget(self);
        // SAFETY: the vtable matches the task and takes over our reference.
        unsafe { (raw.as_ref().vtable.poll)(raw) }
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.0.id()
    }
}

/// Creates a task for `future` (holding one clone of `scheduler`), binds it to the
/// scheduler's registry, and returns the
/// JoinHandle and the first `Notified` to queue (`None` if the registry is closed:
/// the task is then already cancelled and the handle reports it).
///
/// With the `tracing` feature, the task's span records the caller's location.
#[cfg_attr(feature = "tracing", track_caller)]
pub fn spawn_task<F, S>(
    future: F,
    scheduler: &S,
    name: Option<std::sync::Arc<str>>,
) -> (JoinHandle<F::Output>, Option<Notified<S>>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    spawn_task_meta(future, scheduler, name, SpawnMeta::new(SpawnKind::Task))
}

/// [`spawn_task`] with the kind and location its span reports.
pub(crate) fn spawn_task_meta<F, S>(
    future: F,
    scheduler: &S,
    name: Option<std::sync::Arc<str>>,
    meta: SpawnMeta,
) -> (JoinHandle<F::Output>, Option<Notified<S>>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    #[cfg(not(feature = "tracing"))]
    let _ = meta;
    let (task, notified, raw) = raw::new_task(future, scheduler.clone());
    // SAFETY: the JoinHandle reference is the third initial one.
    let join = unsafe { JoinHandle::from_raw(raw) };
    #[cfg(feature = "tracing")]
    let span_name = name.clone();
    // SAFETY: no other thread has seen the task yet.
    match unsafe { scheduler.owned().bind(task, name) } {
        Ok(_id) => {
            // SAFETY: we hold the Notified (not yet queued) and the JoinHandle:
            // nothing has polled, woken or freed the task.
            #[cfg(feature = "tracing")]
            unsafe {
                trace::install(raw.as_ref(), meta, span_name.as_deref(), _id)
            }
            (join, Some(notified))
        }
        Err(task) => {
            drop(task);
            // Cancel it in place: the Notified's reference becomes the shutdown one.
            std::mem::forget(notified);
            Task::<S> { raw, _s: PhantomData }.shutdown();
            (join, None)
        }
    }
}
