//! Async synchronization primitives and channels (in progress).
//!
//! Primitives: [`Semaphore`] (FIFO-fair, the core of the locks), [`Mutex`],
//! [`RwLock`] (writer-preferring), [`Notify`], [`Event`], [`Barrier`] and
//! [`Condvar`]. Every wait spends co-operative budget and is cancel safe unless
//! its docs say otherwise.
//!
//! Channels: [`mpsc`], [`oneshot`], [`broadcast`], [`watch`], and the bounded
//! [`priority_queue`].

pub mod broadcast;
pub mod mpsc;
pub mod oneshot;
pub mod priority_queue;
pub mod watch;

mod barrier;
mod condvar;
mod event;
mod mutex;
mod notify;
mod rwlock;
mod semaphore;
mod waiters;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::Condvar;
pub use event::Event;
pub use mutex::{MappedMutexGuard, Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, MAX_READS,
};
pub use semaphore::{AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError};
