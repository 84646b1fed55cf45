//! `Condvar`: a condition variable for the async [`Mutex`].

use std::fmt;
use std::pin::Pin;

use super::mutex::MutexGuard;
use super::notify::Notify;

/// A condition variable for the async [`Mutex`](super::Mutex): tasks wait, with
/// the lock released, until another task changes the protected state and
/// notifies them.
///
/// [`wait`](Condvar::wait) registers the task as a waiter *before* it releases
/// the lock, so a notification sent by a task that took the lock afterwards is
/// never missed. Unlike [`Notify::notify_one`], [`notify_one`](Condvar::notify_one)
/// is lost when nobody waits. Wake-ups may be spurious (another task may get the
/// lock first and change the state): re-check the condition, or use
/// [`wait_while`](Condvar::wait_while).
///
/// ```
/// use std::sync::Arc;
/// use tern_runtime::sync::{Condvar, Mutex};
///
/// tern_runtime::block_on(async {
///     let pair = Arc::new((Mutex::new(false), Condvar::new()));
///     let pair2 = pair.clone();
///     tern_runtime::spawn(async move {
///         *pair2.0.lock().await = true;
///         pair2.1.notify_one();
///     });
///     let (lock, cv) = &*pair;
///     let ready = cv.wait_while(lock.lock().await, |ready| !*ready).await;
///     assert!(*ready);
/// });
/// ```
pub struct Condvar {
    notify: Notify,
}

impl Condvar {
    /// A condition variable with no waiters.
    pub fn new() -> Condvar {
        Condvar { notify: Notify::new() }
    }

    /// Releases `guard`'s lock, waits for a notification, then locks the same
    /// mutex again and returns the new guard.
    ///
    /// # Cancel safety
    /// Dropping the future releases the lock (if it was not re-acquired yet, it
    /// is not held); a `notify_one` that had picked this waiter is passed on to
    /// the next one, so it is not lost.
    pub async fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = MutexGuard::mutex(&guard);
        let mut notified = self.notify.notified();
        // Queue before unlocking: a notifier that locks after us reaches us.
        Pin::new(&mut notified).enable();
        drop(guard);
        notified.await;
        mutex.lock().await
    }

    /// Waits (as [`wait`](Condvar::wait)) while `condition` holds, checking it under
    /// the lock each time; returns the guard once it is `false`.
    ///
    /// # Cancel safety
    /// As [`wait`](Condvar::wait).
    pub async fn wait_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes the task that has waited longest, if any (no effect otherwise).
    pub fn notify_one(&self) {
        self.notify.notify_one_waiter();
    }

    /// Wakes every waiting task.
    pub fn notify_all(&self) {
        self.notify.notify_waiters();
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
