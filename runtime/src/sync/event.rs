//! `Event`: a settable flag that tasks can wait on (like `asyncio.Event`).

use std::fmt;

use super::notify::Notify;
use crate::loom::{AtomicBool, Ordering::SeqCst};

/// A boolean flag that tasks can wait for, like Python's `asyncio.Event`.
///
/// [`set`](Event::set) raises the flag and wakes every task in
/// [`wait`](Event::wait); while it stays set, `wait` returns at once.
/// [`clear`](Event::clear) lowers it again, so later `wait`s block until the next
/// `set`. A task waiting when `set` is called is released even if the flag is
/// cleared again before that task runs.
///
/// ```
/// use std::sync::Arc;
/// use tern_runtime::sync::Event;
///
/// tern_runtime::block_on(async {
///     let ev = Arc::new(Event::new());
///     let ev2 = ev.clone();
///     let h = tern_runtime::spawn(async move { ev2.wait().await; "woken" });
///     ev.set();
///     assert_eq!(h.await.unwrap(), "woken");
///     assert!(ev.is_set());
/// });
/// ```
pub struct Event {
    flag: AtomicBool,
    notify: Notify,
}

impl Event {
    /// A cleared event.
    pub fn new() -> Event {
        Event { flag: AtomicBool::new(false), notify: Notify::new() }
    }

    /// Sets the flag and wakes every waiting task. No effect if already set.
    pub fn set(&self) {
        if !self.flag.swap(true, SeqCst) {
            self.notify.notify_waiters();
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.flag.store(false, SeqCst);
    }

    /// `true` while the flag is set.
    pub fn is_set(&self) -> bool {
        self.flag.load(SeqCst)
    }

    /// Returns at once if the flag is set, otherwise waits for the next
    /// [`set`](Event::set). Spends co-operative budget like [`Notify`].
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future just stops waiting.
    pub async fn wait(&self) {
        if self.is_set() {
            return crate::coop::consume_budget().await;
        }
        // Created (so `set`'s `notify_waiters` reaches it) before the flag is
        // checked again: a `set` in between is not lost.
        let notified = self.notify.notified();
        if self.is_set() {
            return crate::coop::consume_budget().await;
        }
        notified.await;
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event").field("set", &self.is_set()).finish()
    }
}
