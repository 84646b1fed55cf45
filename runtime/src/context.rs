//! Per-thread runtime context: the current `Handle`, whether the thread already
//! drives a runtime, the running task's id and its co-operative budget.

use std::cell::{Cell, RefCell};

use crate::coop::Budget;
use crate::task::Id;
use crate::Handle;

struct Context {
    handle: RefCell<Option<Handle>>,
    /// Set while this thread is a worker or inside `block_on`.
    entered: Cell<bool>,
    budget: Cell<Budget>,
    task_id: Cell<Option<Id>>,
}

crate::loom::thread_local! {
    static CONTEXT: Context = const {
        Context {
            handle: RefCell::new(None),
            entered: Cell::new(false),
            budget: Cell::new(Budget::unconstrained()),
            task_id: Cell::new(None),
        }
    };
}

/// The handle set by the innermost `enter` on this thread.
pub(crate) fn current_handle() -> Option<Handle> {
    CONTEXT.try_with(|c| c.handle.borrow().clone()).ok().flatten()
}

/// Restores the previous current handle on drop (and the reactor's handles,
/// through its own guards, which drop after this guard's `drop` runs).
pub(crate) struct SetCurrentGuard {
    prev: Option<Handle>,
    _io: Option<tern_reactor::io::EnterGuard>,
    _time: Option<tern_reactor::time::EnterGuard>,
}

/// Makes `handle` the one `Handle::current()` returns until the guard drops,
/// and its reactor's I/O and timer handles (when enabled) the ones
/// `tern_reactor::io::Handle::current()` and `tern_reactor::time::Handle::current()`
/// return.
pub(crate) fn set_current(handle: &Handle) -> SetCurrentGuard {
    let driver = handle.inner.driver().handle();
    let _io = driver.io().map(tern_reactor::io::Handle::enter);
    let _time = driver.time().map(tern_reactor::time::Handle::enter);
    let prev = CONTEXT.with(|c| c.handle.borrow_mut().replace(handle.clone()));
    SetCurrentGuard { prev, _io, _time }
}

impl Drop for SetCurrentGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CONTEXT.try_with(|c| *c.handle.borrow_mut() = prev);
    }
}

/// Marks the thread as driving a runtime until dropped.
pub(crate) struct EnterRuntimeGuard {
    _current: SetCurrentGuard,
}

/// Enters `handle`'s runtime on this thread (a worker starting, or `block_on`).
///
/// # Panics
/// When the thread already drives a runtime: blocking it would stall every task
/// queued on it, so this is refused loudly instead of deadlocking.
pub(crate) fn enter_runtime(handle: &Handle) -> EnterRuntimeGuard {
    let already = CONTEXT.with(|c| c.entered.replace(true));
    if already {
        panic!(
            "Cannot start a runtime from within a runtime. This happens because a function \
             (like `block_on`) attempted to block the current thread while the thread is \
             being used to drive asynchronous tasks."
        );
    }
    EnterRuntimeGuard { _current: set_current(handle) }
}

impl Drop for EnterRuntimeGuard {
    fn drop(&mut self) {
        let _ = CONTEXT.try_with(|c| c.entered.set(false));
    }
}

/// Runs `f` (one poll of task `id`) with a fresh co-operative budget.
#[inline]
pub(crate) fn enter_task<R>(id: Id, f: impl FnOnce() -> R) -> R {
    struct Reset(Budget, Option<Id>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = CONTEXT.try_with(|c| {
                c.budget.set(self.0);
                c.task_id.set(self.1);
            });
        }
    }
    let _reset = CONTEXT.with(|c| Reset(c.budget.replace(Budget::initial()), c.task_id.replace(Some(id))));
    f()
}

/// Runs `f` with budget `b`, restoring the previous budget afterwards.
pub(crate) fn with_budget<R>(b: Budget, f: impl FnOnce() -> R) -> R {
    struct Reset(Budget);
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = CONTEXT.try_with(|c| c.budget.set(self.0));
        }
    }
    let _reset = CONTEXT.with(|c| Reset(c.budget.replace(b)));
    f()
}

pub(crate) fn budget() -> Budget {
    CONTEXT.try_with(|c| c.budget.get()).unwrap_or(Budget::unconstrained())
}

pub(crate) fn set_budget(b: Budget) {
    let _ = CONTEXT.try_with(|c| c.budget.set(b));
}

/// `true` while this thread is a worker or inside `block_on`.
pub(crate) fn is_entered() -> bool {
    CONTEXT.try_with(|c| c.entered.get()).unwrap_or(false)
}

pub(crate) fn task_id() -> Option<Id> {
    CONTEXT.try_with(|c| c.task_id.get()).ok().flatten()
}
