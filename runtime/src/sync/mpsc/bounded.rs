//! The bounded channel: [`Sender`], [`Receiver`], [`Permit`], [`OwnedPermit`], [`WeakSender`].

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use super::chan::{Chan, Reserve};
use super::error::{SendError, SendTimeoutError, TryRecvError, TrySendError};
use crate::coop;
use crate::loom::Arc;
use crate::sync::semaphore;

/// Creates a bounded channel that buffers at most `capacity` messages.
///
/// # Panics
///
/// Panics if `capacity` is 0.
///
/// ```
/// tern_runtime::block_on(async {
///     let (tx, mut rx) = tern_runtime::sync::mpsc::channel(1);
///     tx.send("a").await.unwrap();
///     assert!(tx.try_send("b").is_err()); // full
///     assert_eq!(rx.recv().await, Some("a"));
/// })
/// ```
#[track_caller]
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "mpsc bounded channel requires capacity > 0");
    let chan = Arc::new(Chan::new(Some(capacity)));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The sending half of a bounded channel; clone it for more producers.
///
/// The channel closes for the receiver (after it drained the buffer) once every
/// `Sender` is dropped. [`WeakSender`]s do not keep it open.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// A sending half that does not keep the channel open; [`WeakSender::upgrade`]
/// gives a [`Sender`] while one is still alive.
pub struct WeakSender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a bounded channel.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// One reserved slot of a bounded channel: [`Permit::send`] uses it without
/// waiting; dropping the permit frees the slot (for the next waiting sender).
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
}

/// Like [`Permit`], owning its [`Sender`] (from [`Sender::reserve_owned`]).
pub struct OwnedPermit<T> {
    sender: Option<Sender<T>>,
}

/// Waits for a slot: the future behind `send` and `reserve`, the semaphore's
/// acquire of one permit. Dropping it gives up its place in the queue, or passes
/// on the slot it was handed.
struct Acquire<'a, T> {
    chan: &'a Chan<T>,
    /// `None` once finished.
    inner: Option<semaphore::Acquire<'a>>,
}

impl<'a, T> Acquire<'a, T> {
    fn new(chan: &'a Chan<T>) -> Acquire<'a, T> {
        Acquire { chan, inner: Some(chan.acquire()) }
    }
}

impl<T> Future for Acquire<'_, T> {
    type Output = Result<(), ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        let inner = self.inner.as_mut().expect("mpsc Acquire polled after completion");
        // The semaphore's acquire spends the co-operative budget itself.
        let r = ready!(Pin::new(inner).poll(cx));
        self.inner = None;
        Poll::Ready(match r {
            Ok(()) => self.chan.acquired(),
            Err(_) => Err(()),
        })
    }
}

impl<T> Drop for Acquire<'_, T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            drop(inner);
            self.chan.acquire_cancelled();
        }
    }
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for a free slot first if the channel is full.
    ///
    /// Returns the value in a [`SendError`] if the receiver closed or was dropped
    /// (before or while waiting).
    ///
    /// Cancel safety: if the future is dropped before it completes, `value` is
    /// dropped unsent, and the sender's place in the queue (or a slot it had just
    /// been handed) passes to the next waiting sender.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        match self.reserve().await {
            Ok(permit) => {
                permit.send(value);
                Ok(())
            }
            Err(_) => Err(SendError(value)),
        }
    }

    /// Sends `value` from synchronous code: [`Sender::send`], parking the calling
    /// OS thread (not spinning) until a slot is free.
    ///
    /// # Errors
    /// The value comes back in a [`SendError`] if the receiver closed or was
    /// dropped (before or while waiting).
    ///
    /// # Panics
    /// When called on a thread that drives a runtime (a worker, or inside
    /// `block_on`), where it would stall the tasks: use `send(..).await` there.
    ///
    /// ```
    /// use tern_runtime::sync::mpsc;
    ///
    /// let (tx, mut rx) = mpsc::channel(1);
    /// let producer = std::thread::spawn(move || {
    ///     for i in 0..3 {
    ///         tx.blocking_send(i).unwrap(); // waits while the slot is taken
    ///     }
    /// });
    /// tern_runtime::block_on(async move {
    ///     for i in 0..3 {
    ///         assert_eq!(rx.recv().await, Some(i));
    ///     }
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// producer.join().unwrap();
    /// ```
    #[track_caller]
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        crate::runtime::block_on_thread("mpsc::Sender::blocking_send", self.send(value))
    }

    /// Sends `value` if a slot is free now, never waiting.
    ///
    /// Errors: [`TrySendError::Full`] when every slot is taken or other senders
    /// already wait for one; [`TrySendError::Closed`] when the receiver is gone.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.chan.try_reserve() {
            Ok(()) => {
                self.chan.push_reserved(value);
                Ok(())
            }
            Err(Reserve::Full) => Err(TrySendError::Full(value)),
            Err(Reserve::Closed) => Err(TrySendError::Closed(value)),
        }
    }

    /// Like [`Sender::send`], giving up after `timeout`.
    ///
    /// # Panics
    ///
    /// Panics if the task has no timer (a runtime built without `enable_time`).
    pub async fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        match tern_reactor::time::timeout(timeout, self.reserve()).await {
            Ok(Ok(permit)) => {
                permit.send(value);
                Ok(())
            }
            Ok(Err(_)) => Err(SendTimeoutError::Closed(value)),
            Err(_) => Err(SendTimeoutError::Timeout(value)),
        }
    }

    /// Waits for a free slot and reserves it.
    ///
    /// Errors when the receiver closed or was dropped. Cancel safety: as
    /// [`Sender::send`]; no slot is held until this returns.
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        match Acquire::new(&self.chan).await {
            Ok(()) => Ok(Permit { chan: &self.chan }),
            Err(()) => Err(SendError(())),
        }
    }

    /// Like [`Sender::reserve`], for a permit that owns this sender.
    pub async fn reserve_owned(self) -> Result<OwnedPermit<T>, SendError<()>> {
        let r = Acquire::new(&self.chan).await;
        match r {
            Ok(()) => Ok(OwnedPermit { sender: Some(self) }),
            Err(()) => Err(SendError(())),
        }
    }

    /// Reserves a slot if one is free now (errors as [`Sender::try_send`]).
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        match self.chan.try_reserve() {
            Ok(()) => Ok(Permit { chan: &self.chan }),
            Err(Reserve::Full) => Err(TrySendError::Full(())),
            Err(Reserve::Closed) => Err(TrySendError::Closed(())),
        }
    }

    /// Waits until the receiver closes or is dropped.
    ///
    /// Cancel safe.
    pub async fn closed(&self) {
        Closed { chan: &self.chan, waiter: None }.await
    }

    /// `true` once the receiver closed or was dropped.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Slots free right now (the bound, less buffered messages and held permits).
    pub fn capacity(&self) -> usize {
        self.chan.available()
    }

    /// The bound the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.chan.bound().unwrap_or(usize::MAX)
    }

    /// Whether both senders feed the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// A [`WeakSender`] for this channel.
    pub fn downgrade(&self) -> WeakSender<T> {
        WeakSender { chan: self.chan.clone() }
    }

    /// Number of live [`Sender`]s of this channel.
    pub fn strong_count(&self) -> usize {
        self.chan.sender_count()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender { chan: self.chan.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> WeakSender<T> {
    /// A [`Sender`], if any is still alive.
    pub fn upgrade(&self) -> Option<Sender<T>> {
        self.chan.try_add_sender().then(|| Sender { chan: self.chan.clone() })
    }
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> Self {
        WeakSender { chan: self.chan.clone() }
    }
}

impl<T> fmt::Debug for WeakSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakSender").finish_non_exhaustive()
    }
}

impl<T> Permit<'_, T> {
    /// Sends `value` on the reserved slot; never waits, never fails. After the
    /// receiver called `close` the message is still delivered; after the receiver
    /// was dropped it is dropped (if the drop is still in progress, possibly only
    /// when the channel is freed).
    pub fn send(self, value: T) {
        let chan = self.chan;
        std::mem::forget(self);
        chan.push_reserved(value);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.chan.release_reserved();
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

impl<T> OwnedPermit<T> {
    /// Sends `value` on the reserved slot (as [`Permit::send`]) and gives the
    /// sender back.
    pub fn send(mut self, value: T) -> Sender<T> {
        let sender = self.sender.take().expect("permit used once");
        sender.chan.push_reserved(value);
        sender
    }

    /// Frees the slot unused and gives the sender back.
    pub fn release(mut self) -> Sender<T> {
        let sender = self.sender.take().expect("permit used once");
        sender.chan.release_reserved();
        sender
    }
}

impl<T> Drop for OwnedPermit<T> {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            sender.chan.release_reserved();
        }
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit").finish_non_exhaustive()
    }
}

/// The future of `Sender::closed`.
pub(super) struct Closed<'a, T> {
    pub(super) chan: &'a Chan<T>,
    pub(super) waiter: Option<usize>,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let coop = ready!(coop::poll_proceed(cx));
        let this = &mut *self;
        ready!(this.chan.poll_closed(&mut this.waiter, cx));
        coop.made_progress();
        Poll::Ready(())
    }
}

impl<T> Drop for Closed<'_, T> {
    fn drop(&mut self) {
        self.chan.cancel_closed(&mut self.waiter);
    }
}

/// Receiver operations shared with the unbounded receiver.
///
/// # Safety
/// The caller is the channel's only receiver, with `&mut` access to it (no other
/// receiver-side call runs at the same time).
pub(super) unsafe fn poll_recv<T>(chan: &Chan<T>, cx: &mut Context<'_>) -> Poll<Option<T>> {
    let coop = ready!(coop::poll_proceed(cx));
    // SAFETY: forwarded from the caller.
    let v = ready!(unsafe { chan.poll_recv(cx) });
    coop.made_progress();
    Poll::Ready(v)
}

/// # Safety
/// As [`poll_recv`].
pub(super) unsafe fn poll_recv_many<T>(
    chan: &Chan<T>,
    cx: &mut Context<'_>,
    buffer: &mut Vec<T>,
    limit: usize,
) -> Poll<usize> {
    if limit == 0 {
        return Poll::Ready(0);
    }
    let coop = ready!(coop::poll_proceed(cx));
    // SAFETY: forwarded from the caller.
    let n = ready!(unsafe { chan.poll_recv_many(cx, buffer, limit) });
    coop.made_progress();
    Poll::Ready(n)
}

impl<T> Receiver<T> {
    /// Receives the next message, waiting for one if the buffer is empty.
    ///
    /// Returns `None` once the channel is closed (every sender dropped, or
    /// [`Receiver::close`] called) and everything buffered was received.
    ///
    /// Cancel safety: dropping the future loses no message.
    pub async fn recv(&mut self) -> Option<T> {
        // SAFETY: `self` is the channel's only receiver and `&mut self` excludes other receiver-side calls.
        poll_fn(|cx| unsafe { poll_recv(&self.chan, cx) }).await
    }

    /// Receives the next message from synchronous code: [`Receiver::recv`],
    /// parking the calling OS thread (not spinning) until a message arrives or
    /// the channel closes.
    ///
    /// Returns `None` once the channel is closed and drained, as `recv` does.
    ///
    /// # Panics
    /// When called on a thread that drives a runtime (a worker, or inside
    /// `block_on`), where it would stall the tasks: use `recv().await` there.
    ///
    /// ```
    /// use tern_runtime::sync::mpsc;
    ///
    /// let (tx, mut rx) = mpsc::channel(4);
    /// let consumer = std::thread::spawn(move || {
    ///     let mut got = Vec::new();
    ///     while let Some(v) = rx.blocking_recv() {
    ///         got.push(v);
    ///     }
    ///     got
    /// });
    /// tern_runtime::block_on(async move {
    ///     for i in 0..3 {
    ///         tx.send(i).await.unwrap();
    ///     }
    /// }); // `tx` dropped: the consumer's loop ends
    /// assert_eq!(consumer.join().unwrap(), [0, 1, 2]);
    /// ```
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Option<T> {
        crate::runtime::block_on_thread("mpsc::Receiver::blocking_recv", self.recv())
    }

    /// Receives up to `limit` messages into `buffer` (appended), waiting for at
    /// least one. Returns how many; `0` means `limit` was 0 or the channel is
    /// closed and drained.
    ///
    /// Cancel safe, as [`Receiver::recv`].
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        // SAFETY: `self` is the channel's only receiver and `&mut self` excludes other receiver-side calls.
        poll_fn(|cx| unsafe { poll_recv_many(&self.chan, cx, buffer, limit) }).await
    }

    /// Receives a message if one is buffered, never waiting.
    ///
    /// Errors: [`TryRecvError::Empty`] when senders may still send (or a send
    /// is still writing the next message), [`TryRecvError::Disconnected`] when
    /// the channel is closed and drained.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        // SAFETY: `self` is the channel's only receiver and `&mut self` excludes other receiver-side calls.
        unsafe { self.chan.try_recv() }
    }

    /// Polls for the next message (as [`Receiver::recv`]); on `Pending` the
    /// waker of the most recent call is woken when a message arrives or the
    /// channel closes.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: `self` is the channel's only receiver and `&mut self` excludes other receiver-side calls.
        unsafe { poll_recv(&self.chan, cx) }
    }

    /// Polls for up to `limit` messages (as [`Receiver::recv_many`]).
    pub fn poll_recv_many(&mut self, cx: &mut Context<'_>, buffer: &mut Vec<T>, limit: usize) -> Poll<usize> {
        // SAFETY: `self` is the channel's only receiver and `&mut self` excludes other receiver-side calls.
        unsafe { poll_recv_many(&self.chan, cx, buffer, limit) }
    }

    /// Closes the channel: sends fail from now on (outstanding [`Permit`]s still
    /// deliver), senders waiting for a slot fail, and `recv` returns what is
    /// buffered, then `None`.
    pub fn close(&mut self) {
        // SAFETY: `self` is the channel's only receiver and `&mut self` excludes
        // other receiver-side calls.
        unsafe { self.chan.close_rx() };
    }

    /// `true` once closed by [`Receiver::close`] or by every sender dropping.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed() || self.chan.sender_count() == 0
    }

    /// Messages buffered now (a send that is still writing its message counts
    /// already).
    pub fn len(&self) -> usize {
        // SAFETY: `self` is the channel's only receiver; `&self` excludes every
        // receiver-side call but other `len`s.
        unsafe { self.chan.len() }
    }

    /// `true` when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots free right now.
    pub fn capacity(&self) -> usize {
        self.chan.available()
    }

    /// The bound the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.chan.bound().unwrap_or(usize::MAX)
    }

    /// Number of live [`Sender`]s.
    pub fn sender_strong_count(&self) -> usize {
        self.chan.sender_count()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // SAFETY: `self` is the channel's only receiver, dropped once.
        unsafe { self.chan.drop_rx() };
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
