//! An async, FIFO-fair mutex built on a one-permit [`Semaphore`].

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::semaphore::{Semaphore, TryAcquireError};
use crate::loom::UnsafeCell;

/// An async mutual-exclusion lock whose guard may be held across `.await`.
///
/// Tasks get the lock in the order they asked for it (FIFO, through a one-permit
/// [`Semaphore`]), so no task starves. Unlike `std::sync::Mutex` there is no
/// poisoning: a panic while the guard is held just releases the lock.
///
/// Prefer a blocking mutex for short critical sections that never await; use this
/// one when the guard must live across an `.await`.
///
/// ```
/// use std::sync::Arc;
/// use tern_runtime::sync::Mutex;
///
/// tern_runtime::block_on(async {
///     let m = Arc::new(Mutex::new(0));
///     let hs: Vec<_> = (0..4)
///         .map(|_| {
///             let m = m.clone();
///             tern_runtime::spawn(async move { *m.lock().await += 1 })
///         })
///         .collect();
///     for h in hs {
///         h.await.unwrap();
///     }
///     assert_eq!(*m.lock().await, 4);
/// });
/// ```
pub struct Mutex<T> {
    s: Semaphore,
    c: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `T` to one thread at a time (the semaphore
// has one permit), so sending it or sharing it needs `T: Send` only, as for
// `std::sync::Mutex`.
unsafe impl<T: Send> Send for Mutex<T> {}
// SAFETY: as above: `&Mutex<T>` only gives exclusive access to `T`.
unsafe impl<T: Send> Sync for Mutex<T> {}

/// The lock was held ([`Mutex::try_lock`], [`RwLock::try_read`](super::RwLock::try_read), ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLockError(pub(super) ());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation would block")
    }
}

impl std::error::Error for TryLockError {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex { s: Semaphore::new(1), c: UnsafeCell::new(value) }
    }

    /// Waits for the lock. Spends one unit of co-operative budget per poll.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `lock()` future leaves the queue (and gives the lock
    /// to the next waiter if it had just been handed the lock).
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        match self.s.acquire_raw(1).await {
            Ok(()) => MutexGuard { lock: self, _not_send_sync: PhantomData },
            Err(_) => unreachable!("a Mutex's semaphore is never closed"),
        }
    }

    /// Takes the lock from synchronous code: [`lock`](Mutex::lock), parking the
    /// calling OS thread (not spinning) until the lock is handed to it, in the
    /// same FIFO order as the async waiters.
    ///
    /// # Panics
    /// When called on a thread that drives a runtime (a worker, or inside
    /// `block_on`), where it would stall the tasks: use `lock().await` there.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tern_runtime::sync::Mutex;
    ///
    /// let m = Arc::new(Mutex::new(0));
    /// let m2 = m.clone();
    /// std::thread::spawn(move || *m2.blocking_lock() += 1).join().unwrap();
    /// tern_runtime::block_on(async move {
    ///     *m.lock().await += 1;
    ///     assert_eq!(*m.lock().await, 2);
    /// });
    /// ```
    #[track_caller]
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        crate::runtime::block_on_thread("Mutex::blocking_lock", self.lock())
    }

    /// [`lock`](Mutex::lock) on an `Arc<Mutex<T>>`, with a `'static` guard that
    /// owns a clone of the `Arc`. Cancel safe.
    pub async fn lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        match self.s.acquire_raw(1).await {
            Ok(()) => OwnedMutexGuard { lock: self, _not_send_sync: PhantomData },
            Err(_) => unreachable!("a Mutex's semaphore is never closed"),
        }
    }

    /// Takes the lock if it is free (and nobody is queued for it).
    ///
    /// # Errors
    /// [`TryLockError`] if the lock is held or waited for.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.s.try_acquire_raw(1) {
            Ok(()) => Ok(MutexGuard { lock: self, _not_send_sync: PhantomData }),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => Err(TryLockError(())),
        }
    }

    /// [`try_lock`](Mutex::try_lock) with an owned guard.
    ///
    /// # Errors
    /// [`TryLockError`] if the lock is held or waited for.
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        match self.s.try_acquire_raw(1) {
            Ok(()) => Ok(OwnedMutexGuard { lock: self, _not_send_sync: PhantomData }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// Mutable access without locking: `&mut self` proves nobody else holds it.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every guard and every other access.
        self.c.with_mut(|p| unsafe { &mut *p })
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again after its two fields are
        // moved out (the semaphore is dropped, the value is returned).
        unsafe {
            std::ptr::drop_in_place(&mut this.s);
            std::ptr::read(this.c.with_mut(|p| p))
        }
    }

    fn data(&self) -> *mut T {
        self.c.with_mut(|p| p)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Exclusive access to a [`Mutex`]'s value; unlocks when dropped.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T> {
    lock: &'a Mutex<T>,
    /// Opts out of the auto `Sync` (which would only need `T: Send`); the
    /// explicit impl below asks for `T: Sync` too.
    _not_send_sync: PhantomData<*const ()>,
}

// SAFETY: moving the guard to another thread moves exclusive access to `T`, which
// is fine for `T: Send` (the semaphore permit may be released from any thread).
unsafe impl<T: Send> Send for MutexGuard<'_, T> {}
// SAFETY: `&MutexGuard` only gives `&T`, shared between threads: needs `T: Sync`.
unsafe impl<T: Send + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T> MutexGuard<'a, T> {
    /// The mutex this guard locks (for [`Condvar`](super::Condvar)).
    pub(crate) fn mutex(this: &Self) -> &'a Mutex<T> {
        this.lock
    }

    /// Narrows the guard to a part of the value (the lock stays held).
    pub fn map<U, F>(this: Self, f: F) -> MappedMutexGuard<'a, U>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        let this = ManuallyDrop::new(this);
        // SAFETY: the guard proves exclusive access for as long as the permit is held,
        // and the mapped guard takes over the permit.
        let data = f(unsafe { &mut *this.lock.data() }) as *mut U;
        MappedMutexGuard { s: &this.lock.s, data, _marker: PhantomData }
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the only permit: no other access exists.
        unsafe { &*self.lock.data() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the only permit: no other access exists.
        unsafe { &mut *self.lock.data() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.s.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A [`MutexGuard`] narrowed to part of the value by [`MutexGuard::map`].
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MappedMutexGuard<'a, U> {
    s: &'a Semaphore,
    data: *mut U,
    _marker: PhantomData<&'a mut U>,
}

// SAFETY: as for `MutexGuard`: exclusive access to a `U` inside the locked value.
unsafe impl<U: Send> Send for MappedMutexGuard<'_, U> {}
// SAFETY: `&MappedMutexGuard` only gives `&U`.
unsafe impl<U: Send + Sync> Sync for MappedMutexGuard<'_, U> {}

impl<U> Deref for MappedMutexGuard<'_, U> {
    type Target = U;
    fn deref(&self) -> &U {
        // SAFETY: `data` points into the locked value; the permit is held.
        unsafe { &*self.data }
    }
}

impl<U> DerefMut for MappedMutexGuard<'_, U> {
    fn deref_mut(&mut self) -> &mut U {
        // SAFETY: `data` points into the locked value; the permit is held.
        unsafe { &mut *self.data }
    }
}

impl<U> Drop for MappedMutexGuard<'_, U> {
    fn drop(&mut self) {
        self.s.release(1);
    }
}

impl<U: fmt::Debug> fmt::Debug for MappedMutexGuard<'_, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A guard of an `Arc<Mutex<T>>` that owns a clone of the `Arc` (`'static` when
/// `T` is); unlocks when dropped.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct OwnedMutexGuard<T> {
    lock: Arc<Mutex<T>>,
    /// Opts out of the auto `Sync`; see the explicit impls.
    _not_send_sync: PhantomData<*const ()>,
}

// SAFETY: as for `MutexGuard`.
unsafe impl<T: Send> Send for OwnedMutexGuard<T> {}
// SAFETY: as for `MutexGuard`: `&OwnedMutexGuard` gives `&T`.
unsafe impl<T: Send + Sync> Sync for OwnedMutexGuard<T> {}

impl<T> OwnedMutexGuard<T> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.lock
    }
}

impl<T> Deref for OwnedMutexGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the only permit: no other access exists.
        unsafe { &*self.lock.data() }
    }
}

impl<T> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the only permit: no other access exists.
        unsafe { &mut *self.lock.data() }
    }
}

impl<T> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.lock.s.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
