//! The task allocation: header, scheduler handle, join waker and stage in one block,
//! and the type-erased vtable through which wakers, queues and join handles drive it.
//!
//! Layout for a trivial task on a 64-bit target (see `benches/src/bin/task_size.rs`):
//! header 24 bytes (state word, vtable, id) + scheduler 8 + join waker 16 + stage 16
//! = 64 bytes. The `tracing` feature adds the task's span to the header
//! (`trace.rs`); without it the header has no such field.

use std::any::Any;
use std::future::Future;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::state::{State, ToIdle, ToRunning};
use super::{trace, waker, Id, JoinError, Notified, Schedule, Task};
use crate::context;
use crate::loom::UnsafeCell;

/// The part of every task that type-erased code may touch.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    /// Written once while the task is still private to `spawn`, read-only after.
    pub(crate) id: Id,
    /// The task's `runtime.spawn` span: written once before the first poll.
    #[cfg(feature = "tracing")]
    pub(crate) span: trace::Slot,
}

// SAFETY: the state word is atomic, the vtable is static and the id is immutable
// once the task is shared; everything else is reached through the vtable under
// the state machine's exclusive-access rules.
unsafe impl Send for Header {}
unsafe impl Sync for Header {}

pub(crate) struct Vtable {
    /// Consumes one reference (the Notified's).
    pub(crate) poll: unsafe fn(NonNull<Header>),
    /// Consumes one reference, turning it into a Notified for the scheduler.
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// `dst` is a `*mut Poll<Result<T, JoinError>>`.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    pub(crate) drop_join_output: unsafe fn(NonNull<Header>),
    /// Consumes one reference; cancels the task if it is idle.
    pub(crate) shutdown: unsafe fn(NonNull<Header>),
}

/// A panic caught while polling or dropping a task's future.
pub(crate) struct Panicked {
    pub(crate) payload: Box<dyn Any + Send>,
    pub(crate) name: Option<std::sync::Arc<str>>,
}

pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(F::Output),
    /// Boxed so a panic costs the task no space until it happens.
    Panicked(Box<Panicked>),
    Cancelled,
    Consumed,
}

#[repr(C)]
pub(crate) struct Cell<F: Future, S: Schedule> {
    pub(crate) header: Header,
    scheduler: S,
    /// The JoinHandle's waker; read and written only under the registry shard lock.
    join_waker: UnsafeCell<Option<Waker>>,
    stage: UnsafeCell<Stage<F>>,
}

impl<F, S> Cell<F, S>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    const VTABLE: Vtable = Vtable {
        poll: Self::poll,
        schedule: Self::schedule,
        dealloc: Self::dealloc,
        try_read_output: Self::try_read_output,
        drop_join_output: Self::drop_join_output,
        shutdown: Self::shutdown,
    };

    /// Allocates a task holding the three initial references.
    pub(crate) fn allocate(future: F, scheduler: S) -> NonNull<Header> {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(),
                vtable: &Self::VTABLE,
                id: Id::UNREGISTERED,
                #[cfg(feature = "tracing")]
                span: trace::empty_slot(),
            },
            scheduler,
            join_waker: UnsafeCell::new(None),
            stage: UnsafeCell::new(Stage::Running(future)),
        });
        NonNull::from(Box::leak(cell)).cast()
    }

    /// # Safety
    /// `ptr` must come from `allocate` with these type parameters and be alive.
    unsafe fn from_header<'a>(ptr: NonNull<Header>) -> &'a Self {
        // SAFETY: `Header` is the first field of a `repr(C)` `Cell`, per the caller.
        unsafe { ptr.cast::<Self>().as_ref() }
    }

    unsafe fn poll(ptr: NonNull<Header>) {
        // SAFETY: the Notified's reference keeps the task alive.
        let cell = unsafe { Self::from_header(ptr) };
        match cell.header.state.transition_to_running() {
            ToRunning::Poll => cell.poll_future(ptr),
            ToRunning::Cancel => cell.cancel(),
            ToRunning::Skip(last) => {
                if last {
                    // SAFETY: that was the last reference.
                    unsafe { Self::dealloc(ptr) }
                }
            }
        }
    }

    fn poll_future(&self, ptr: NonNull<Header>) {
        let waker = waker::borrowed(ptr);
        let mut cx = Context::from_waker(&waker);
        let id = self.header.id;
        // Entered for the poll only: the guard must be gone before `complete`
        // may free the task.
        let result = {
            let _entered = trace::enter(&self.header);
            panic::catch_unwind(AssertUnwindSafe(|| {
                context::enter_task(id, || {
                    self.stage.with_mut(|stage| {
                        // SAFETY: RUNNING gives this thread exclusive access to the stage,
                        // and the future is never moved out of the heap cell.
                        match unsafe { &mut *stage } {
                            Stage::Running(fut) => unsafe { Pin::new_unchecked(fut) }.poll(&mut cx),
                            _ => unreachable!("a task was polled after it completed"),
                        }
                    })
                })
            }))
        };
        match result {
            Ok(Poll::Ready(output)) => self.complete(Stage::Finished(output)),
            Ok(Poll::Pending) => match self.header.state.transition_to_idle() {
                ToIdle::Idle(last) => {
                    if last {
                        // SAFETY: that was the last reference.
                        unsafe { Self::dealloc(ptr) }
                    }
                }
                // SAFETY: the running reference moves into the Notified.
                ToIdle::Notified => self.scheduler.yield_now(unsafe { Notified::from_raw(ptr) }),
                ToIdle::Cancel => self.cancel(),
            },
            Err(payload) => {
                let name = self.scheduler.owned().name_of(id);
                self.complete(Stage::Panicked(Box::new(Panicked { payload, name })))
            }
        }
    }

    /// Drops the future (we hold RUNNING) and completes as cancelled.
    fn cancel(&self) {
        self.complete(Stage::Cancelled);
    }

    /// Stores the final stage, publishes COMPLETE under the registry lock, wakes the
    /// JoinHandle and releases the running and registry references.
    fn complete(&self, outcome: Stage<F>) {
        // Replacing the stage drops the future; a panic there becomes the outcome.
        let dropped = panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: RUNNING gives exclusive access to the stage.
            self.stage.with_mut(|stage| unsafe { *stage = Stage::Consumed });
        }));
        let outcome = match dropped {
            Ok(()) => outcome,
            Err(payload) => {
                drop(outcome);
                let name = self.scheduler.owned().name_of(self.header.id);
                Stage::Panicked(Box::new(Panicked { payload, name }))
            }
        };
        // SAFETY: as above.
        self.stage.with_mut(|stage| unsafe { *stage = outcome });

        let header = NonNull::from(&self.header);
        let (registered, (prev, waker)) = self.scheduler.owned().remove(header, || {
            let prev = self.header.state.transition_to_complete();
            // SAFETY: the join waker is only touched under this shard lock.
            let waker = self.join_waker.with_mut(|w| unsafe { (*w).take() });
            (prev, waker)
        });
        if prev.is_join_interested() {
            if let Some(waker) = waker {
                waker.wake();
            }
        } else {
            // Nobody will read the output: drop it now. The JoinHandle is gone, so
            // after COMPLETE this thread is the only one touching the stage.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: see above.
                self.stage.with_mut(|stage| unsafe { *stage = Stage::Consumed });
            }));
        }
        let refs = 1 + usize::from(registered);
        if self.header.state.ref_dec_n(refs) {
            // SAFETY: those were the last references.
            unsafe { Self::dealloc(header) }
        }
    }

    unsafe fn schedule(ptr: NonNull<Header>) {
        // SAFETY: the caller hands over a reference, which keeps the task alive.
        let cell = unsafe { Self::from_header(ptr) };
        cell.scheduler.schedule(unsafe { Notified::from_raw(ptr) });
    }

    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: the reference count reached zero, so nobody else can reach the
        // task; it was allocated as a `Box<Self>`.
        drop(unsafe { Box::from_raw(ptr.cast::<Self>().as_ptr()) });
    }

    unsafe fn try_read_output(ptr: NonNull<Header>, dst: *mut (), waker: &Waker) {
        // SAFETY: the JoinHandle's reference keeps the task alive.
        let cell = unsafe { Self::from_header(ptr) };
        let state = &cell.header.state;
        if !state.load().is_complete() {
            let header = NonNull::from(&cell.header);
            // Clone before and drop after the critical section: waker code is
            // user code and must not run under the registry lock.
            let mut new = Some(waker.clone());
            let (still_running, old) = cell.scheduler.owned().with_shard_lock(header, || {
                if state.load().is_complete() {
                    return (false, None);
                }
                // SAFETY: the join waker is only touched under this shard lock.
                let old = cell.join_waker.with_mut(|w| unsafe {
                    match &mut *w {
                        Some(old) if old.will_wake(waker) => None,
                        slot => std::mem::replace(slot, new.take()),
                    }
                });
                (true, old)
            });
            drop((old, new));
            if still_running {
                return;
            }
        }
        // SAFETY: COMPLETE was observed with Acquire and JOIN_INTEREST is ours, so
        // this handle is the only reader of the stage from now on.
        let stage = cell.stage.with_mut(|s| unsafe { mem::replace(&mut *s, Stage::Consumed) });
        let id = cell.header.id;
        let out = match stage {
            Stage::Finished(v) => Ok(v),
            Stage::Panicked(p) => Err(JoinError::panic(id, *p)),
            Stage::Cancelled => Err(JoinError::cancelled(id)),
            Stage::Running(_) | Stage::Consumed => {
                panic!("JoinHandle polled after it returned Ready")
            }
        };
        // SAFETY: the JoinHandle<F::Output> passes a pointer to this exact type.
        unsafe { *dst.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(out) };
    }

    unsafe fn drop_join_output(ptr: NonNull<Header>) {
        // SAFETY: called by the JoinHandle that saw COMPLETE while holding interest.
        let cell = unsafe { Self::from_header(ptr) };
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            cell.stage.with_mut(|s| unsafe { *s = Stage::Consumed });
        }));
    }

    unsafe fn shutdown(ptr: NonNull<Header>) {
        // SAFETY: the caller's reference keeps the task alive.
        let cell = unsafe { Self::from_header(ptr) };
        if cell.header.state.transition_to_shutdown() {
            // We own RUNNING; the caller's reference serves as the running reference.
            cell.cancel();
        } else if cell.header.state.ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { Self::dealloc(ptr) }
        }
    }
}

/// Creates a task and returns its three initial references.
pub(crate) fn new_task<F, S>(future: F, scheduler: S) -> (Task<S>, Notified<S>, NonNull<Header>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let ptr = Cell::<F, S>::allocate(future, scheduler);
    // SAFETY: the initial state counts these three references.
    unsafe { (Task::from_raw(ptr), Notified::from_raw(ptr), ptr) }
}

/// Size in bytes of the task allocation for future `F` under scheduler `S`.
pub(crate) const fn cell_size<F, S>() -> usize
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    mem::size_of::<Cell<F, S>>()
}
