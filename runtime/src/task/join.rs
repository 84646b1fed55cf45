//! `JoinHandle` and `JoinError`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::abort::{abort_task, AbortHandle};
use super::raw::{Header, Panicked};
use super::Id;
use crate::coop;

/// An owned permission to await a spawned task's output.
///
/// Awaiting it yields `Ok(output)`, or a [`JoinError`] when the task panicked or
/// was cancelled ([`JoinHandle::abort`], runtime shutdown). Dropping the handle
/// *detaches* the task: it keeps running and its output is dropped when it ends.
/// Polling consumes one unit of the co-operative budget.
///
/// # Panics
/// Polling again after it returned `Ready` panics.
pub struct JoinHandle<T> {
    raw: NonNull<Header>,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves `T` out of the task (needs `T: Send`); the header is Sync.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only reads the atomic state or aborts.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// # Safety
    /// `raw` is a task with output `T` whose JoinHandle reference the caller hands over.
    pub(crate) unsafe fn from_raw(raw: NonNull<Header>) -> Self {
        JoinHandle { raw, _output: PhantomData }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle's reference keeps the task alive.
        unsafe { self.raw.as_ref() }
    }

    /// Cancels the task: its future is dropped the next time a worker picks it
    /// (at once if it is idle), and awaiting the handle gives a `JoinError` with
    /// [`JoinError::is_cancelled`]. No effect on a task that already completed.
    pub fn abort(&self) {
        // SAFETY: the handle's reference keeps the task alive.
        unsafe { abort_task(self.raw) }
    }

    /// An [`AbortHandle`] for this task: it can cancel the task from anywhere
    /// (it is `Clone + Send + Sync`) without owning the output, which this
    /// handle still receives.
    pub fn abort_handle(&self) -> AbortHandle {
        self.header().state.ref_inc();
        // SAFETY: the reference just counted is the AbortHandle's.
        unsafe { AbortHandle::from_raw(self.raw) }
    }

    /// `true` once the task's future has finished, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.header().state.load().is_complete()
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.header().id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        let header = self.header();
        // SAFETY: `out` has the type the vtable's `try_read_output` expects for a
        // task whose output is `T`.
        unsafe { (header.vtable.try_read_output)(self.raw, &mut out as *mut _ as *mut (), cx.waker()) };
        if out.is_ready() {
            coop.made_progress();
        }
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let header = self.header();
        if header.state.unset_join_interested().is_err() {
            // SAFETY: the task completed with our interest set: the output is ours.
            unsafe { (header.vtable.drop_join_output)(self.raw) };
        }
        if header.state.ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { (header.vtable.dealloc)(self.raw) };
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id()).finish()
    }
}

/// Why a task did not produce its output.
pub struct JoinError {
    id: Id,
    repr: Repr,
}

enum Repr {
    Cancelled,
    /// The Mutex only makes the payload `Sync`; it is never contended.
    Panic(parking_lot::Mutex<Box<dyn Any + Send>>, Option<Arc<str>>),
}

impl JoinError {
    pub(crate) fn cancelled(id: Id) -> JoinError {
        JoinError { id, repr: Repr::Cancelled }
    }

    pub(crate) fn panic(id: Id, p: Panicked) -> JoinError {
        JoinError { id, repr: Repr::Panic(parking_lot::Mutex::new(p.payload), p.name) }
    }

    /// The task was aborted or its runtime shut down before it finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task's future panicked (while polled or while dropped).
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(..))
    }

    /// The panic payload, to resume with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the error is not a panic; see [`JoinError::try_into_panic`].
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        self.try_into_panic().expect("`JoinError` is not a panic; it is a cancellation")
    }

    /// The panic payload, or the error itself when the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, JoinError> {
        match self.repr {
            Repr::Panic(p, _) => Ok(p.into_inner()),
            Repr::Cancelled => Err(self),
        }
    }

    /// The id of the task that failed.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The name given with [`crate::task::Builder::name`], if any (known for panics).
    pub fn task_name(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic(_, name) => name.as_deref(),
            Repr::Cancelled => None,
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "task {} was cancelled", self.id),
            Repr::Panic(p, name) => {
                write!(f, "task {}", self.id)?;
                if let Some(name) = name {
                    write!(f, " ({name:?})")?;
                }
                match panic_message(&**p.lock()) {
                    Some(msg) => write!(f, " panicked with message {msg:?}"),
                    None => write!(f, " panicked"),
                }
            }
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled({:?})", self.id),
            Repr::Panic(p, name) => {
                let msg = panic_message(&**p.lock()).map(str::to_owned);
                write!(f, "JoinError::Panic({:?}, {:?}, {:?})", self.id, name, msg)
            }
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
}
