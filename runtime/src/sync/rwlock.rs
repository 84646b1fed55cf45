//! An async, writer-preferring reader-writer lock built on the FIFO [`Semaphore`].

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::mutex::TryLockError;
use super::semaphore::Semaphore;
use crate::loom::UnsafeCell;

/// The most concurrent readers an [`RwLock`] allows by default (`u32::MAX >> 3`).
pub const MAX_READS: u32 = u32::MAX >> 3;

/// An async reader-writer lock: many readers or one writer, guards may be held
/// across `.await`.
///
/// The lock is a FIFO [`Semaphore`] with `max_readers` permits: a reader takes
/// one, a writer takes all of them. Requests are served in arrival order, so once
/// a writer is queued, readers that arrive after it wait behind it even while
/// other readers hold the lock: writers are never starved (writer preference),
/// and neither are readers.
///
/// ```
/// use tern_runtime::sync::RwLock;
///
/// tern_runtime::block_on(async {
///     let lock = RwLock::new(5);
///     {
///         let r1 = lock.read().await;
///         let r2 = lock.read().await;
///         assert_eq!(*r1 + *r2, 10);
///         assert!(lock.try_write().is_err());
///     }
///     *lock.write().await += 1;
///     assert_eq!(*lock.read().await, 6);
/// });
/// ```
pub struct RwLock<T> {
    max_readers: u32,
    s: Semaphore,
    c: UnsafeCell<T>,
}

// SAFETY: like `std::sync::RwLock`: moving the lock moves `T`.
unsafe impl<T: Send> Send for RwLock<T> {}
// SAFETY: readers share `&T` across threads (needs `T: Sync`); a writer gets
// `&mut T` from any thread (needs `T: Send`).
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`, allowing up to [`MAX_READS`] readers.
    pub fn new(value: T) -> RwLock<T> {
        RwLock::with_max_readers(value, MAX_READS)
    }

    /// An unlocked lock allowing at most `max_readers` concurrent readers.
    ///
    /// # Panics
    /// If `max_readers` is 0 or above [`MAX_READS`].
    pub fn with_max_readers(value: T, max_readers: u32) -> RwLock<T> {
        assert!(max_readers > 0 && max_readers <= MAX_READS, "max_readers must be in 1..=MAX_READS");
        RwLock { max_readers, s: Semaphore::new(max_readers as usize), c: UnsafeCell::new(value) }
    }

    /// Waits for shared access. Spends one unit of co-operative budget per poll.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `read()` future leaves the queue without holding up
    /// the requests behind it.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        match self.s.acquire_raw(1).await {
            Ok(()) => RwLockReadGuard { lock: self, _marker: PhantomData },
            Err(_) => unreachable!("an RwLock's semaphore is never closed"),
        }
    }

    /// Waits for exclusive access: queues behind earlier requests and holds back
    /// later ones. Spends one unit of co-operative budget per poll.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `write()` future returns the reader slots it had
    /// already collected, and the readers queued behind it proceed.
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        match self.s.acquire_raw(self.max_readers as usize).await {
            Ok(()) => RwLockWriteGuard { lock: self, _marker: PhantomData },
            Err(_) => unreachable!("an RwLock's semaphore is never closed"),
        }
    }

    /// [`read`](RwLock::read) with a guard owning a clone of the `Arc`. Cancel safe.
    pub async fn read_owned(self: Arc<Self>) -> OwnedRwLockReadGuard<T> {
        match self.s.acquire_raw(1).await {
            Ok(()) => OwnedRwLockReadGuard { lock: self },
            Err(_) => unreachable!("an RwLock's semaphore is never closed"),
        }
    }

    /// [`write`](RwLock::write) with a guard owning a clone of the `Arc`. Cancel safe.
    pub async fn write_owned(self: Arc<Self>) -> OwnedRwLockWriteGuard<T> {
        match self.s.acquire_raw(self.max_readers as usize).await {
            Ok(()) => OwnedRwLockWriteGuard { lock: self },
            Err(_) => unreachable!("an RwLock's semaphore is never closed"),
        }
    }

    /// Shared access if available now: fails while a writer holds the lock or
    /// anyone (a writer, in practice) is queued.
    ///
    /// # Errors
    /// [`TryLockError`] if it would have to wait.
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        match self.s.try_acquire_raw(1) {
            Ok(()) => Ok(RwLockReadGuard { lock: self, _marker: PhantomData }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// Exclusive access if the lock is free now.
    ///
    /// # Errors
    /// [`TryLockError`] if it would have to wait.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        match self.s.try_acquire_raw(self.max_readers as usize) {
            Ok(()) => Ok(RwLockWriteGuard { lock: self, _marker: PhantomData }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// Mutable access without locking: `&mut self` proves nobody else holds it.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every guard and every other access.
        self.c.with_mut(|p| unsafe { &mut *p })
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again after its fields are moved
        // out (the semaphore is dropped, the value is returned).
        unsafe {
            std::ptr::drop_in_place(&mut this.s);
            std::ptr::read(this.c.with_mut(|p| p))
        }
    }

    fn data(&self) -> *mut T {
        self.c.with_mut(|p| p)
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Shared access to an [`RwLock`]'s value; releases its reader slot when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a T>,
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a reader permit is held: no writer exists until it is returned.
        unsafe { &*self.lock.data() }
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.s.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]'s value; unlocks when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a mut T>,
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit: no other access exists.
        unsafe { &*self.lock.data() }
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds every permit: no other access exists.
        unsafe { &mut *self.lock.data() }
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.s.release(self.lock.max_readers as usize);
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// [`RwLockReadGuard`] owning a clone of the lock's `Arc`.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct OwnedRwLockReadGuard<T> {
    lock: Arc<RwLock<T>>,
}

impl<T> Deref for OwnedRwLockReadGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a reader permit is held: no writer exists until it is returned.
        unsafe { &*self.lock.data() }
    }
}

impl<T> Drop for OwnedRwLockReadGuard<T> {
    fn drop(&mut self) {
        self.lock.s.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedRwLockReadGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// [`RwLockWriteGuard`] owning a clone of the lock's `Arc`.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct OwnedRwLockWriteGuard<T> {
    lock: Arc<RwLock<T>>,
}

impl<T> Deref for OwnedRwLockWriteGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit: no other access exists.
        unsafe { &*self.lock.data() }
    }
}

impl<T> DerefMut for OwnedRwLockWriteGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds every permit: no other access exists.
        unsafe { &mut *self.lock.data() }
    }
}

impl<T> Drop for OwnedRwLockWriteGuard<T> {
    fn drop(&mut self) {
        self.lock.s.release(self.lock.max_readers as usize);
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedRwLockWriteGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
