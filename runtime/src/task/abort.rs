//! `AbortHandle`: cancels a task without owning its output.

use std::fmt;
use std::ptr::NonNull;

use super::raw::Header;
use super::Id;

/// Cancels a spawned task without being able to await it.
///
/// Made by [`JoinHandle::abort_handle`](super::JoinHandle::abort_handle). It is
/// `Clone`, `Send` and `Sync` whatever the task's output type, since it never
/// touches the output: awaiting the task (and reading why it ended) stays the
/// [`JoinHandle`](super::JoinHandle)'s job. It holds a reference on the task, so it
/// stays valid after the task finished or its `JoinHandle` was dropped; dropping
/// it neither aborts nor detaches anything.
///
/// ```
/// tern_runtime::block_on(async {
///     let jh = tern_runtime::spawn(std::future::pending::<()>());
///     let abort = jh.abort_handle();
///     std::thread::spawn(move || abort.abort()).join().unwrap();
///     assert!(jh.await.unwrap_err().is_cancelled());
/// })
/// ```
pub struct AbortHandle {
    raw: NonNull<Header>,
}

// SAFETY: the handle reads only the header (atomic state, immutable id and vtable),
// and its last drop frees the cell, whose future and output are `Send`; the
// scheduler handle and wakers in it are `Send + Sync`.
unsafe impl Send for AbortHandle {}
// SAFETY: as above: `&AbortHandle` only reads the atomic state or aborts.
unsafe impl Sync for AbortHandle {}

impl AbortHandle {
    /// # Safety
    /// `raw` is a live task, and the caller hands over one counted reference to it.
    pub(super) unsafe fn from_raw(raw: NonNull<Header>) -> AbortHandle {
        AbortHandle { raw }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle's reference keeps the task alive.
        unsafe { self.raw.as_ref() }
    }

    /// Cancels the task, as [`JoinHandle::abort`](super::JoinHandle::abort): its
    /// future is dropped the next time a worker picks it (at once if it is idle),
    /// and its `JoinHandle` then gives a [`JoinError`](super::JoinError) with
    /// `is_cancelled()`. No effect on a task that already finished.
    pub fn abort(&self) {
        // SAFETY: our reference keeps the task alive.
        unsafe { abort_task(self.raw) }
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

impl Clone for AbortHandle {
    fn clone(&self) -> AbortHandle {
        self.header().state.ref_inc();
        // SAFETY: the reference just counted is the clone's.
        unsafe { AbortHandle::from_raw(self.raw) }
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        if self.header().state.ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { (self.header().vtable.dealloc)(self.raw) }
        }
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle").field("id", &self.id()).finish()
    }
}

/// Marks the task cancelled and, if it is idle, schedules it so a worker drops
/// its future.
///
/// # Safety
/// `raw` is a live task on which the caller holds a reference.
pub(super) unsafe fn abort_task(raw: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the task alive.
    let header = unsafe { raw.as_ref() };
    if header.state.transition_to_notified_and_cancel() {
        // SAFETY: the transition counted the reference handed to the scheduler.
        unsafe { (header.vtable.schedule)(raw) }
    }
}
