//! The unbounded channel: [`UnboundedSender`], [`UnboundedReceiver`], [`WeakUnboundedSender`].

use std::fmt;
use std::future::poll_fn;
use std::task::{Context, Poll};

use super::bounded::{poll_recv, poll_recv_many, Closed};
use super::chan::Chan;
use super::error::{SendError, TryRecvError};
use crate::loom::Arc;

/// Creates a channel with no bound: sends never wait (memory is the limit).
///
/// ```
/// tern_runtime::block_on(async {
///     let (tx, mut rx) = tern_runtime::sync::mpsc::unbounded_channel();
///     tx.send(1).unwrap();
///     drop(tx);
///     assert_eq!(rx.recv().await, Some(1));
///     assert_eq!(rx.recv().await, None);
/// })
/// ```
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Arc::new(Chan::new(None));
    (UnboundedSender { chan: chan.clone() }, UnboundedReceiver { chan })
}

/// The sending half of an unbounded channel; clone it for more producers.
pub struct UnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

/// An unbounded sending half that does not keep the channel open.
pub struct WeakUnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of an unbounded channel.
pub struct UnboundedReceiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> UnboundedSender<T> {
    /// Sends `value` at once. Fails, returning the value, if the receiver closed
    /// or was dropped.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan.push_unbounded(value).map_err(SendError)
    }

    /// Waits until the receiver closes or is dropped. Cancel safe.
    pub async fn closed(&self) {
        Closed { chan: &self.chan, waiter: None }.await
    }

    /// `true` once the receiver closed or was dropped.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Whether both senders feed the same channel.
    pub fn same_channel(&self, other: &UnboundedSender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// A [`WeakUnboundedSender`] for this channel.
    pub fn downgrade(&self) -> WeakUnboundedSender<T> {
        WeakUnboundedSender { chan: self.chan.clone() }
    }

    /// Number of live [`UnboundedSender`]s of this channel.
    pub fn strong_count(&self) -> usize {
        self.chan.sender_count()
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        UnboundedSender { chan: self.chan.clone() }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedSender").finish_non_exhaustive()
    }
}

impl<T> WeakUnboundedSender<T> {
    /// An [`UnboundedSender`], if any is still alive.
    pub fn upgrade(&self) -> Option<UnboundedSender<T>> {
        self.chan.try_add_sender().then(|| UnboundedSender { chan: self.chan.clone() })
    }
}

impl<T> Clone for WeakUnboundedSender<T> {
    fn clone(&self) -> Self {
        WeakUnboundedSender { chan: self.chan.clone() }
    }
}

impl<T> fmt::Debug for WeakUnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakUnboundedSender").finish_non_exhaustive()
    }
}

impl<T> UnboundedReceiver<T> {
    /// Receives the next message, waiting for one; `None` once every sender is
    /// gone (or [`UnboundedReceiver::close`] was called) and the buffer is drained.
    ///
    /// Cancel safety: dropping the future loses no message.
    pub async fn recv(&mut self) -> Option<T> {
        // SAFETY: `self` is the channel's only receiver and `&mut self` excludes other receiver-side calls.
        poll_fn(|cx| unsafe { poll_recv(&self.chan, cx) }).await
    }

    /// Receives the next message from synchronous code:
    /// [`UnboundedReceiver::recv`], parking the calling OS thread (not spinning)
    /// until a message arrives or the channel closes.
    ///
    /// Returns `None` once every sender is gone (or the receiver closed) and the
    /// buffer is drained, as `recv` does.
    ///
    /// # Panics
    /// When called on a thread that drives a runtime (a worker, or inside
    /// `block_on`), where it would stall the tasks: use `recv().await` there.
    ///
    /// ```
    /// use tern_runtime::sync::mpsc;
    ///
    /// let (tx, mut rx) = mpsc::unbounded_channel();
    /// let consumer = std::thread::spawn(move || rx.blocking_recv());
    /// tern_runtime::block_on(async move {
    ///     tern_runtime::spawn(async move { tx.send("hi").unwrap() }).await.unwrap();
    /// });
    /// assert_eq!(consumer.join().unwrap(), Some("hi"));
    /// ```
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Option<T> {
        crate::runtime::block_on_thread("mpsc::UnboundedReceiver::blocking_recv", self.recv())
    }

    /// Receives up to `limit` messages into `buffer`, waiting for at least one;
    /// `0` means `limit` was 0 or the channel is closed and drained. Cancel safe.
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        // SAFETY: `self` is the channel's only receiver and `&mut self` excludes other receiver-side calls.
        poll_fn(|cx| unsafe { poll_recv_many(&self.chan, cx, buffer, limit) }).await
    }

    /// Receives a buffered message without waiting (errors as the bounded
    /// [`Receiver::try_recv`](super::Receiver::try_recv)).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        // SAFETY: `self` is the channel's only receiver and `&mut self` excludes other receiver-side calls.
        unsafe { self.chan.try_recv() }
    }

    /// Polls for the next message (as [`UnboundedReceiver::recv`]).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: `self` is the channel's only receiver and `&mut self` excludes other receiver-side calls.
        unsafe { poll_recv(&self.chan, cx) }
    }

    /// Polls for up to `limit` messages.
    pub fn poll_recv_many(&mut self, cx: &mut Context<'_>, buffer: &mut Vec<T>, limit: usize) -> Poll<usize> {
        // SAFETY: `self` is the channel's only receiver and `&mut self` excludes other receiver-side calls.
        unsafe { poll_recv_many(&self.chan, cx, buffer, limit) }
    }

    /// Closes the channel: sends fail from now on; buffered messages can still
    /// be received.
    pub fn close(&mut self) {
        // SAFETY: `self` is the channel's only receiver and `&mut self` excludes
        // other receiver-side calls.
        unsafe { self.chan.close_rx() };
    }

    /// `true` once closed or every sender dropped.
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

    /// Number of live [`UnboundedSender`]s.
    pub fn sender_strong_count(&self) -> usize {
        self.chan.sender_count()
    }
}

impl<T> Drop for UnboundedReceiver<T> {
    fn drop(&mut self) {
        // SAFETY: `self` is the channel's only receiver, dropped once.
        unsafe { self.chan.drop_rx() };
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedReceiver").finish_non_exhaustive()
    }
}
