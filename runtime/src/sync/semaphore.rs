//! A fair (FIFO) counting semaphore, the core of [`Mutex`](super::Mutex) and
//! [`RwLock`](super::RwLock).
//!
//! # Protocol
//!
//! `permits` holds the permits that are *not* assigned to any waiter, shifted left
//! by two, with the CLOSED flag in bit 0 and the QUEUED flag (the wait queue is
//! not empty) in bit 1. Waiters sit in a FIFO queue (a [`SlabList`]) behind
//! `waiters`, each with the number of permits it still needs.
//!
//! - Acquiring first tries a CAS on `permits` (no lock). If that fails it takes the
//!   lock, and in one CAS takes whatever `permits` holds (up to what it needs) and
//!   sets QUEUED; then it queues itself for the rest.
//! - Releasing adds the permits with a CAS while QUEUED is clear (no lock). While
//!   it is set, it takes the lock and hands the permits to the queue in FIFO
//!   order; what is left over goes back to `permits`, clearing QUEUED if the
//!   queue is now empty.
//!
//! QUEUED is set and cleared only under the lock, and set in the same CAS that
//! empties `permits`; a lock-free release is a CAS that expects QUEUED clear. So
//! the two are ordered by that word: either the release lands first and the
//! queuing waiter's CAS fails and re-reads the new permits, or the waiter lands
//! first and the release's CAS fails and takes the lock. While anyone is queued
//! `permits` stays at zero: a newcomer can never overtake a queued waiter (not
//! even a smaller one behind a large waiter at the head), and a release can never
//! miss a waiter that queued (no lost wake-up).
//! A waiter may be assigned permits in several steps; if its future is dropped
//! first, the permits it got so far are released again, to the next waiters.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::waiters::{set_waker, SlabList, WakeList};
use crate::coop;
use crate::loom::{AtomicUsize, Mutex, MutexGuard, Ordering};

const CLOSED: usize = 1;
const QUEUED: usize = 2;
const SHIFT: u32 = 2;

/// A counting semaphore: a pool of permits that tasks acquire and give back.
///
/// Waiters are served strictly in FIFO order: a task asking for many permits at
/// the head of the queue holds back later tasks asking for fewer, so large
/// requests are never starved. [`try_acquire`](Semaphore::try_acquire) does not
/// overtake a queued waiter either.
///
/// Permits are returned when the [`SemaphorePermit`] (or
/// [`OwnedSemaphorePermit`]) is dropped, unless [`forget`](SemaphorePermit::forget)
/// is called. Every acquire is cancel safe: dropping its future gives back any
/// permits already assigned to it and keeps its place's successors moving.
///
/// ```
/// use std::sync::Arc;
/// use tern_runtime::sync::Semaphore;
///
/// tern_runtime::block_on(async {
///     let sem = Arc::new(Semaphore::new(2));
///     let a = sem.acquire().await.unwrap();
///     let b = sem.clone().acquire_owned().await.unwrap();
///     assert!(sem.try_acquire().is_err());
///     drop(a);
///     assert_eq!(sem.available_permits(), 1);
///     drop(b);
///     assert_eq!(sem.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    /// Unassigned permits << SHIFT | QUEUED | CLOSED.
    permits: AtomicUsize,
    waiters: Mutex<Waitlist>,
}

struct Waitlist {
    queue: SlabList<Waiter>,
    closed: bool,
}

struct Waiter {
    /// Permits still to be assigned; 0 once the waiter is satisfied.
    needed: usize,
    waker: Option<std::task::Waker>,
}

/// The semaphore was closed ([`Semaphore::close`]) before the permits could be
/// acquired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

/// Why a `try_acquire*` call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits are available right now (or others are queued first).
    NoPermits,
}

impl TryAcquireError {
    /// `true` for [`TryAcquireError::Closed`].
    pub fn is_closed(&self) -> bool {
        matches!(self, TryAcquireError::Closed)
    }

    /// `true` for [`TryAcquireError::NoPermits`].
    pub fn is_no_permits(&self) -> bool {
        matches!(self, TryAcquireError::NoPermits)
    }
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl std::error::Error for TryAcquireError {}

impl Semaphore {
    /// The most permits a semaphore can hold (`usize::MAX >> 3`).
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    pub fn new(permits: usize) -> Semaphore {
        assert!(permits <= Self::MAX_PERMITS, "a semaphore may not have more than MAX_PERMITS permits");
        Semaphore {
            permits: AtomicUsize::new(permits << SHIFT),
            waiters: Mutex::new(Waitlist { queue: SlabList::new(), closed: false }),
        }
    }

    /// Permits available right now (not held, not assigned to a waiter).
    pub fn available_permits(&self) -> usize {
        self.permits.load(Ordering::Acquire) >> SHIFT
    }

    /// Adds `n` permits, handing them to queued waiters first (in FIFO order).
    /// Permits are added even when the semaphore is closed.
    ///
    /// # Panics
    /// If the total would exceed [`Semaphore::MAX_PERMITS`].
    pub fn add_permits(&self, n: usize) {
        if n == 0 {
            return;
        }
        // Nobody queued: one CAS. It fails if a waiter queues meanwhile.
        let mut curr = self.permits.load(Ordering::Acquire);
        while curr & QUEUED == 0 {
            assert!(
                (curr >> SHIFT) + n <= Self::MAX_PERMITS,
                "a semaphore may not have more than MAX_PERMITS permits"
            );
            match self.permits.compare_exchange_weak(
                curr,
                curr + (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => curr = actual,
            }
        }
        self.release_locked(n, self.waiters.lock());
    }

    /// Removes up to `n` available permits for good; returns how many it removed.
    pub fn forget_permits(&self, n: usize) -> usize {
        let mut curr = self.permits.load(Ordering::Acquire);
        loop {
            let take = (curr >> SHIFT).min(n);
            match self.permits.compare_exchange_weak(
                curr,
                curr - (take << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return take,
                Err(actual) => curr = actual,
            }
        }
    }

    /// Closes the semaphore: every queued and later acquire fails with
    /// [`AcquireError`] (`try_acquire*` with [`TryAcquireError::Closed`]).
    /// Permits already acquired stay valid and are returned as usual.
    pub fn close(&self) {
        let mut wakers = WakeList::new();
        {
            let mut list = self.waiters.lock();
            list.closed = true;
            while let Some(key) = list.queue.pop_front() {
                wakers.push(list.queue.get_mut(key).waker.take());
            }
            let prev = self.permits.fetch_or(CLOSED, Ordering::AcqRel);
            if prev & QUEUED == QUEUED {
                self.permits.fetch_and(!QUEUED, Ordering::AcqRel);
            }
        }
        wakers.wake_all();
    }

    /// `true` once [`close`](Semaphore::close) was called.
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.permits.load(Ordering::Acquire) & CLOSED == CLOSED
    }

    /// Waits for one permit.
    ///
    /// # Errors
    /// [`AcquireError`] if the semaphore is (or gets) closed first.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future gives up its place in the queue and returns
    /// any permits it was already assigned.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_raw(1).await?;
        Ok(SemaphorePermit { sem: self, permits: 1 })
    }

    /// Waits for `n` permits at once. Permits are assigned in FIFO order, so while
    /// this waits at the head of the queue, later (smaller) requests wait too.
    ///
    /// # Errors
    /// [`AcquireError`] if the semaphore is (or gets) closed first.
    ///
    /// # Cancel safety
    /// Cancel safe, as [`acquire`](Semaphore::acquire).
    pub async fn acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_raw(n as usize).await?;
        Ok(SemaphorePermit { sem: self, permits: n as usize })
    }

    /// Takes one permit if one is available and nobody is queued.
    ///
    /// # Errors
    /// [`TryAcquireError::Closed`] or [`TryAcquireError::NoPermits`].
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_raw(1)?;
        Ok(SemaphorePermit { sem: self, permits: 1 })
    }

    /// Takes `n` permits if that many are available and nobody is queued.
    ///
    /// # Errors
    /// [`TryAcquireError::Closed`] or [`TryAcquireError::NoPermits`].
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_raw(n as usize)?;
        Ok(SemaphorePermit { sem: self, permits: n as usize })
    }

    /// [`acquire`](Semaphore::acquire) with a permit that owns an `Arc` of the
    /// semaphore (`'static`, can move into spawned tasks). Cancel safe.
    ///
    /// # Errors
    /// [`AcquireError`] if the semaphore is (or gets) closed first.
    pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_raw(1).await?;
        Ok(OwnedSemaphorePermit { sem: self, permits: 1 })
    }

    /// [`acquire_many`](Semaphore::acquire_many) with an owned permit. Cancel safe.
    ///
    /// # Errors
    /// [`AcquireError`] if the semaphore is (or gets) closed first.
    pub async fn acquire_many_owned(self: Arc<Self>, n: u32) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_raw(n as usize).await?;
        Ok(OwnedSemaphorePermit { sem: self, permits: n as usize })
    }

    /// [`try_acquire`](Semaphore::try_acquire) with an owned permit.
    ///
    /// # Errors
    /// [`TryAcquireError::Closed`] or [`TryAcquireError::NoPermits`].
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_raw(1)?;
        Ok(OwnedSemaphorePermit { sem: self, permits: 1 })
    }

    /// [`try_acquire_many`](Semaphore::try_acquire_many) with an owned permit.
    ///
    /// # Errors
    /// [`TryAcquireError::Closed`] or [`TryAcquireError::NoPermits`].
    pub fn try_acquire_many_owned(self: Arc<Self>, n: u32) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_raw(n as usize)?;
        Ok(OwnedSemaphorePermit { sem: self, permits: n as usize })
    }

    /// The future behind every async acquire: `n` raw permits (no permit guard).
    pub(crate) fn acquire_raw(&self, n: usize) -> Acquire<'_> {
        assert!(n <= Self::MAX_PERMITS, "cannot acquire more than MAX_PERMITS permits");
        Acquire { sem: self, num: n, node: None }
    }

    /// Takes `n` permits without waiting (never ahead of a queued waiter: while
    /// anyone is queued, no permits are unassigned).
    pub(crate) fn try_acquire_raw(&self, n: usize) -> Result<(), TryAcquireError> {
        assert!(n <= Self::MAX_PERMITS, "cannot acquire more than MAX_PERMITS permits");
        let mut curr = self.permits.load(Ordering::Acquire);
        loop {
            if curr & CLOSED == CLOSED {
                return Err(TryAcquireError::Closed);
            }
            if curr >> SHIFT < n {
                return Err(TryAcquireError::NoPermits);
            }
            match self.permits.compare_exchange_weak(
                curr,
                curr - (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => curr = actual,
            }
        }
    }

    /// Returns `n` permits (a dropped permit guard).
    pub(crate) fn release(&self, n: usize) {
        self.add_permits(n);
    }

    /// Hands `n` permits to the queue in FIFO order, puts the rest back into
    /// `permits` (clearing QUEUED: the queue is then empty), releases the lock,
    /// then wakes every waiter it completed.
    fn release_locked(&self, n: usize, mut list: MutexGuard<'_, Waitlist>) {
        let mut wakers = WakeList::new();
        let mut rem = n;
        while rem > 0 {
            let Some(key) = list.queue.front() else { break };
            let waiter = list.queue.get_mut(key);
            let take = rem.min(waiter.needed);
            waiter.needed -= take;
            rem -= take;
            if waiter.needed == 0 {
                wakers.push(waiter.waker.take());
                list.queue.unlink(key);
            }
        }
        if rem > 0 {
            let mut curr = self.permits.load(Ordering::Acquire);
            loop {
                assert!(
                    (curr >> SHIFT) + rem <= Self::MAX_PERMITS,
                    "a semaphore may not have more than MAX_PERMITS permits"
                );
                let next = (curr + (rem << SHIFT)) & !QUEUED;
                match self.permits.compare_exchange_weak(curr, next, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => break,
                    Err(actual) => curr = actual,
                }
            }
        } else if list.queue.is_empty() {
            self.permits.fetch_and(!QUEUED, Ordering::AcqRel);
        }
        drop(list);
        wakers.wake_all();
    }

    fn poll_acquire(
        &self,
        cx: &mut Context<'_>,
        num: usize,
        node: &mut Option<usize>,
    ) -> Poll<Result<(), AcquireError>> {
        if let Some(key) = *node {
            let mut list = self.waiters.lock();
            if list.queue.get_mut(key).needed == 0 {
                list.queue.remove(key);
                *node = None;
                return Poll::Ready(Ok(()));
            }
            if list.closed {
                let acquired = num - list.queue.remove(key).needed;
                *node = None;
                if acquired > 0 {
                    self.release_locked(acquired, list);
                }
                return Poll::Ready(Err(AcquireError(())));
            }
            set_waker(&mut list.queue.get_mut(key).waker, cx.waker());
            return Poll::Pending;
        }

        // Fast path: no lock.
        match self.try_acquire_raw(num) {
            Ok(()) => return Poll::Ready(Ok(())),
            Err(TryAcquireError::Closed) => return Poll::Ready(Err(AcquireError(()))),
            Err(TryAcquireError::NoPermits) => {}
        }

        // Slow path: under the lock, take what is there and (in the same CAS)
        // mark the queue non-empty, then queue for the rest.
        let mut list = self.waiters.lock();
        let mut curr = self.permits.load(Ordering::Acquire);
        let taken = loop {
            if curr & CLOSED == CLOSED {
                return Poll::Ready(Err(AcquireError(())));
            }
            let take = (curr >> SHIFT).min(num);
            let next = if take == num { curr - (take << SHIFT) } else { (curr - (take << SHIFT)) | QUEUED };
            if next == curr {
                break take;
            }
            match self.permits.compare_exchange_weak(curr, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break take,
                Err(actual) => curr = actual,
            }
        };
        if taken == num {
            return Poll::Ready(Ok(()));
        }
        let key = list.queue.push_back(Waiter { needed: num - taken, waker: Some(cx.waker().clone()) });
        *node = Some(key);
        Poll::Pending
    }
}

impl Default for Semaphore {
    /// A semaphore with no permits.
    fn default() -> Self {
        Semaphore::new(0)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Future of a raw acquire; returns its partial assignment when dropped.
pub(crate) struct Acquire<'a> {
    sem: &'a Semaphore,
    num: usize,
    /// The queued waiter's key, while queued.
    node: Option<usize>,
}

impl Future for Acquire<'_> {
    type Output = Result<(), AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = ready!(coop::poll_proceed(cx));
        let this = self.get_mut();
        let r = this.sem.poll_acquire(cx, this.num, &mut this.node);
        if r.is_ready() {
            coop.made_progress();
        }
        r
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.node.take() else { return };
        let mut list = self.sem.waiters.lock();
        let acquired = self.num - list.queue.remove(key).needed;
        if acquired > 0 {
            self.sem.release_locked(acquired, list);
        } else if list.queue.is_empty() {
            self.sem.permits.fetch_and(!QUEUED, Ordering::AcqRel);
        }
    }
}

/// Permits borrowed from a [`Semaphore`]; dropping it returns them.
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    permits: usize,
}

impl<'a> SemaphorePermit<'a> {
    /// Drops the permits without returning them: the semaphore has that many fewer.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Moves `other`'s permits into this one.
    ///
    /// # Panics
    /// If the two come from different semaphores.
    pub fn merge(&mut self, mut other: SemaphorePermit<'a>) {
        assert!(std::ptr::eq(self.sem, other.sem), "merging permits of different semaphores");
        self.permits += std::mem::take(&mut other.permits);
    }

    /// Splits `n` permits off into a new permit; `None` if this holds fewer.
    pub fn split(&mut self, n: usize) -> Option<SemaphorePermit<'a>> {
        if n > self.permits {
            return None;
        }
        self.permits -= n;
        Some(SemaphorePermit { sem: self.sem, permits: n })
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release(self.permits);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").field("permits", &self.permits).finish()
    }
}

/// Permits from an `Arc<Semaphore>`; dropping it returns them.
#[must_use = "dropping the permit releases it at once"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    permits: usize,
}

impl OwnedSemaphorePermit {
    /// Drops the permits without returning them: the semaphore has that many fewer.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore the permits came from.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Moves `other`'s permits into this one.
    ///
    /// # Panics
    /// If the two come from different semaphores.
    pub fn merge(&mut self, mut other: OwnedSemaphorePermit) {
        assert!(Arc::ptr_eq(&self.sem, &other.sem), "merging permits of different semaphores");
        self.permits += std::mem::take(&mut other.permits);
    }

    /// Splits `n` permits off into a new permit; `None` if this holds fewer.
    pub fn split(&mut self, n: usize) -> Option<OwnedSemaphorePermit> {
        if n > self.permits {
            return None;
        }
        self.permits -= n;
        Some(OwnedSemaphorePermit { sem: self.sem.clone(), permits: n })
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.release(self.permits);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit").field("permits", &self.permits).finish()
    }
}
