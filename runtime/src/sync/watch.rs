//! A single-value channel: receivers see the latest value and are told when it
//! changes.
//!
//! The channel holds one value and a version number that every send increments.
//! Each [`Receiver`] remembers the version it last saw, so
//! [`Receiver::changed`] resolves once per new version however many sends
//! happened in between (intermediate values are coalesced), and a receiver that
//! has not seen the latest value is told at once.
//!
//! The value sits behind a lock: a [`Ref`] from `borrow` holds it, so keep
//! borrows short and never hold one across an `.await` or while sending on the
//! same channel from the same thread (that deadlocks).
//!
//! ```
//! use tern_runtime::sync::watch;
//!
//! tern_runtime::block_on(async {
//!     let (tx, mut rx) = watch::channel("init");
//!     tx.send("a").unwrap();
//!     tx.send("b").unwrap();
//!     rx.changed().await.unwrap(); // once for both sends
//!     assert_eq!(*rx.borrow_and_update(), "b");
//!     assert!(!rx.has_changed().unwrap());
//! })
//! ```

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::coop;
use crate::loom::{Arc, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::sync::mpsc::wait_list::{wake_all, WaitList};

/// watch errors.
pub mod error {
    use std::error::Error;
    use std::fmt;

    /// `send` found no receiver; the value comes back.
    #[derive(PartialEq, Eq, Clone, Copy)]
    pub struct SendError<T>(pub T);

    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("SendError(..)")
        }
    }

    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl<T> Error for SendError<T> {}

    /// Every sender is gone (and, for `changed`, no unseen value is left).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RecvError(pub(crate) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl Error for RecvError {}
}

use error::{RecvError, SendError};

/// `state` holds `version << 1 | CLOSED`.
const CLOSED: u64 = 1;
const VERSION_STEP: u64 = 2;

struct Shared<T> {
    value: Mutex<T>,
    /// Version (bumped under the `value` lock) and the closed bit.
    state: AtomicU64,
    rx_count: AtomicUsize,
    tx_count: AtomicUsize,
    /// Receivers in `changed`.
    rx_waiters: Mutex<WaitList>,
    /// Senders in `closed`.
    tx_waiters: Mutex<WaitList>,
}

impl<T> Shared<T> {
    fn version(&self) -> u64 {
        self.state.load(Ordering::SeqCst) & !CLOSED
    }

    fn notify_rx(&self) {
        let mut wakers = Vec::new();
        self.rx_waiters.lock().notify_all(&mut wakers);
        wake_all(wakers);
    }
}

/// Creates a watch channel holding `init` (which receivers count as seen).
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: Mutex::new(init),
        state: AtomicU64::new(0),
        rx_count: AtomicUsize::new(1),
        tx_count: AtomicUsize::new(1),
        rx_waiters: Mutex::new(WaitList::new()),
        tx_waiters: Mutex::new(WaitList::new()),
    });
    (Sender { shared: shared.clone() }, Receiver { shared, version: 0 })
}

/// The sending half; clone it for more producers. The channel closes for the
/// receivers when the last sender is dropped.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A receiving half, remembering the version it last saw. Cloning copies that.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    version: u64,
}

/// A borrow of the channel's value; holds the channel's lock until dropped.
pub struct Ref<'a, T> {
    guard: MutexGuard<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether the borrowed value was new to the receiver that borrowed it (always
    /// `false` for a sender's borrow).
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> Sender<T> {
    /// Replaces the value and notifies the receivers. Fails, returning the value
    /// (which is not stored), when there is no receiver.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.rx_count.load(Ordering::SeqCst) == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value (even with no receiver), notifies the receivers and
    /// returns the previous value.
    pub fn send_replace(&self, value: T) -> T {
        let mut old = Some(value);
        self.send_modify(|v| old = Some(std::mem::replace(v, old.take().expect("set above"))));
        old.expect("swapped in send_modify")
    }

    /// Modifies the value in place (even with no receiver) and notifies the
    /// receivers. The lock is held while `modify` runs.
    ///
    /// # Panics
    ///
    /// A panic in `modify` propagates; the receivers are then not notified.
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.send_if_modified(|v| {
            modify(v);
            true
        });
    }

    /// Runs `modify` on the value; if it returns `true` the receivers are
    /// notified as for a send. Returns what `modify` returned.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let mut guard = self.shared.value.lock();
        if !modify(&mut guard) {
            return false;
        }
        self.shared.state.fetch_add(VERSION_STEP, Ordering::SeqCst);
        drop(guard);
        self.shared.notify_rx();
        true
    }

    /// Borrows the current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref { guard: self.shared.value.lock(), has_changed: false }
    }

    /// A new receiver that counts the current value as seen.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.rx_count.fetch_add(1, Ordering::SeqCst);
        let version = self.shared.version();
        Receiver { shared: self.shared.clone(), version }
    }

    /// Number of live receivers.
    pub fn receiver_count(&self) -> usize {
        self.shared.rx_count.load(Ordering::SeqCst)
    }

    /// Number of live senders.
    pub fn sender_count(&self) -> usize {
        self.shared.tx_count.load(Ordering::SeqCst)
    }

    /// `true` when there is no receiver.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Waits until there is no receiver. Cancel safe.
    pub async fn closed(&self) {
        Closed { shared: &self.shared, waiter: None }.await
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.tx_count.fetch_add(1, Ordering::SeqCst);
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.tx_count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.state.fetch_or(CLOSED, Ordering::SeqCst);
            self.shared.notify_rx();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Borrows the current value without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = self.shared.value.lock();
        let has_changed = self.shared.version() != self.version;
        Ref { guard, has_changed }
    }

    /// Borrows the current value and marks it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.value.lock();
        // Versions change under the value lock: this one matches `guard`.
        let version = self.shared.version();
        let has_changed = version != self.version;
        self.version = version;
        Ref { guard, has_changed }
    }

    /// Whether a value this receiver has not seen was sent.
    ///
    /// Errors with [`RecvError`] once every sender is gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let state = self.shared.state.load(Ordering::SeqCst);
        if state & CLOSED != 0 {
            return Err(RecvError(()));
        }
        Ok(state & !CLOSED != self.version)
    }

    /// Marks the current value seen.
    pub fn mark_unchanged(&mut self) {
        self.version = self.shared.version();
    }

    /// Marks the current value unseen: the next `changed` resolves at once.
    pub fn mark_changed(&mut self) {
        self.version = self.shared.version().wrapping_sub(VERSION_STEP);
    }

    /// Waits for a value this receiver has not seen and marks it seen (read it
    /// with [`Receiver::borrow`]); resolves at once if one was already sent.
    ///
    /// Errors with [`RecvError`] once every sender is gone and no unseen value
    /// is left.
    ///
    /// Cancel safety: dropping the future marks nothing seen; a later `changed`
    /// still reports the value.
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        Changed { rx: self, waiter: None }.await
    }

    /// Waits until `f` holds for the value (checking the current one first) and
    /// marks it seen; then returns a borrow of the current value (a send that
    /// came in between may have replaced it). Errors once every sender is gone.
    pub async fn wait_for(&mut self, mut f: impl FnMut(&T) -> bool) -> Result<Ref<'_, T>, RecvError> {
        loop {
            {
                let r = self.borrow_and_update();
                if f(&r) {
                    break;
                }
            }
            self.changed().await?;
        }
        Ok(self.borrow())
    }

    /// Whether both receivers watch the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.rx_count.fetch_add(1, Ordering::SeqCst);
        Receiver { shared: self.shared.clone(), version: self.version }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.shared.rx_count.fetch_sub(1, Ordering::SeqCst) == 1 {
            let mut wakers = Vec::new();
            self.shared.tx_waiters.lock().notify_all(&mut wakers);
            wake_all(wakers);
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("version", &self.version).finish_non_exhaustive()
    }
}

/// The future of `Receiver::changed`. The version is checked under the waiter
/// lock, and senders bump it before taking that lock, so no send is missed.
struct Changed<'a, T> {
    rx: &'a mut Receiver<T>,
    waiter: Option<usize>,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = ready!(coop::poll_proceed(cx));
        let this = &mut *self;
        let shared = &*this.rx.shared;
        let mut waiters = shared.rx_waiters.lock();
        if let Some(key) = this.waiter.take() {
            waiters.remove(key);
        }
        let state = shared.state.load(Ordering::SeqCst);
        let version = state & !CLOSED;
        let r = if version != this.rx.version {
            this.rx.version = version;
            Ok(())
        } else if state & CLOSED != 0 {
            Err(RecvError(()))
        } else {
            this.waiter = Some(waiters.push_back(cx.waker()));
            return Poll::Pending;
        };
        drop(waiters);
        coop.made_progress();
        Poll::Ready(r)
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.waiter.take() {
            self.rx.shared.rx_waiters.lock().remove(key);
        }
    }
}

/// The future of `Sender::closed`.
struct Closed<'a, T> {
    shared: &'a Shared<T>,
    waiter: Option<usize>,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let coop = ready!(coop::poll_proceed(cx));
        let this = &mut *self;
        let mut waiters = this.shared.tx_waiters.lock();
        if let Some(key) = this.waiter.take() {
            waiters.remove(key);
        }
        if this.shared.rx_count.load(Ordering::SeqCst) == 0 {
            drop(waiters);
            coop.made_progress();
            return Poll::Ready(());
        }
        this.waiter = Some(waiters.push_back(cx.waker()));
        Poll::Pending
    }
}

impl<T> Drop for Closed<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.waiter.take() {
            self.shared.tx_waiters.lock().remove(key);
        }
    }
}
