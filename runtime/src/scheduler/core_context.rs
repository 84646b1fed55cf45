//! How code running on a scheduler thread (a task waking or spawning another)
//! reaches the core that thread owns, without locks: a thread-local pointer to a
//! context on the driving function's stack.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::Arc;
use std::thread::LocalKey;

/// The shared state `S` of a runtime and the core `C` this thread drives it with.
/// The core sits here while a task is polled, so wakes and spawns from that task
/// can queue locally.
pub(crate) struct CoreContext<S: 'static, C: 'static> {
    pub(crate) shared: Arc<S>,
    pub(crate) core: RefCell<Option<Box<C>>>,
}

/// The thread-local each scheduler declares for its contexts.
pub(crate) type Slot<S, C> = LocalKey<Cell<*const CoreContext<S, C>>>;

impl<S, C> CoreContext<S, C> {
    pub(crate) fn new(shared: Arc<S>, core: Option<Box<C>>) -> Self {
        CoreContext { shared, core: RefCell::new(core) }
    }

    /// Publishes this context in `slot` until the guard drops.
    pub(crate) fn enter<'a>(&'a self, slot: &'static Slot<S, C>) -> Entered<'a, S, C> {
        slot.with(|c| c.set(self));
        Entered { slot, _cx: PhantomData }
    }

    /// Calls `f` with this thread's core if the thread drives `shared` and the
    /// core is in place (it is while a task polls); else with `None`.
    pub(crate) fn with_current<R>(
        slot: &'static Slot<S, C>,
        shared: &Arc<S>,
        f: impl FnOnce(Option<&mut C>) -> R,
    ) -> R {
        let ptr = slot.with(Cell::get);
        if !ptr.is_null() {
            // SAFETY: `enter` stored a pointer to a context that outlives its guard,
            // and the guard clears it before that context can go away; only this
            // thread reads its own thread-local.
            let cx = unsafe { &*ptr };
            if Arc::ptr_eq(&cx.shared, shared) {
                if let Ok(mut core) = cx.core.try_borrow_mut() {
                    if let Some(core) = core.as_mut() {
                        return f(Some(core));
                    }
                }
            }
        }
        f(None)
    }
}

/// Clears the thread-local on drop (also when a poll unwinds).
pub(crate) struct Entered<'a, S: 'static, C: 'static> {
    slot: &'static Slot<S, C>,
    _cx: PhantomData<&'a CoreContext<S, C>>,
}

impl<S, C> Drop for Entered<'_, S, C> {
    fn drop(&mut self) {
        let _ = self.slot.try_with(|c| c.set(std::ptr::null()));
    }
}
