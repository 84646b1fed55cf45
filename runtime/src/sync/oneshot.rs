//! A channel for exactly one value.
//!
//! [`channel`] returns a [`Sender`], whose [`Sender::send`] stores the value
//! without waiting, and a [`Receiver`], a future resolving to that value, or to
//! [`error::RecvError`] if the sender was dropped without sending.
//!
//! The protocol is one atomic state word plus three cells: the value, the
//! receiver's waker and the sender's waker (for [`Sender::closed`]). Each cell
//! has one writer at a time, handed over by the state bits:
//!
//! - `COMPLETE`: the sender finished (sent, or dropped). Set once, never cleared.
//!   Before it, only the sender touches the value cell; after it, only the
//!   receiver (or the last drop).
//! - `CLOSED`: the receiver closed or was dropped. Set once. A `send` that finds
//!   it set takes its value back and never sets `COMPLETE`.
//! - `RX_TASK_SET` / `TX_TASK_SET`: the waker cell of that side holds a waker the
//!   other side may wake. While the bit is set only the other side reads the
//!   cell; the owner clears the bit (and checks that the event it waits for has
//!   not happened meanwhile) before writing the cell again.
//!
//! Loom models: `loom-tests/tests/sync_oneshot.rs`.
//!
//! ```
//! use tern_runtime::sync::oneshot;
//!
//! tern_runtime::block_on(async {
//!     let (tx, rx) = oneshot::channel();
//!     tern_runtime::spawn(async move { tx.send(7).unwrap() });
//!     assert_eq!(rx.await, Ok(7));
//! })
//! ```

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use crate::coop;
use crate::loom::{Arc, AtomicUsize, Ordering, UnsafeCell};

/// oneshot errors.
pub mod error {
    use std::error::Error;
    use std::fmt;

    /// The sender was dropped without sending (or the value was already taken).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RecvError(pub(crate) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl Error for RecvError {}

    /// `try_recv` found no value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TryRecvError {
        /// Not sent yet; the sender is alive.
        Empty,
        /// The sender was dropped without sending, or the value was already taken.
        Closed,
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("channel empty"),
                TryRecvError::Closed => f.write_str("channel closed"),
            }
        }
    }

    impl Error for TryRecvError {}
}

use error::{RecvError, TryRecvError};

const RX_TASK_SET: usize = 0b0001;
const COMPLETE: usize = 0b0010;
const CLOSED: usize = 0b0100;
const TX_TASK_SET: usize = 0b1000;

struct Inner<T> {
    state: AtomicUsize,
    value: UnsafeCell<Option<T>>,
    rx_waker: UnsafeCell<Option<Waker>>,
    tx_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cells are accessed only by the side the state word gives them to
// (module docs); the value moves between threads, hence `T: Send`.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above; `&Inner` never hands out `&T`.
unsafe impl<T: Send> Sync for Inner<T> {}

/// Creates a oneshot channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
        tx_waker: UnsafeCell::new(None),
    });
    (Sender { inner: Some(inner.clone()), waker: None }, Receiver { inner: Some(inner), waker: None })
}

/// Sends the value; consumed by [`Sender::send`]. Dropping it unsent makes the
/// receiver fail with [`RecvError`].
pub struct Sender<T> {
    inner: Option<Arc<Inner<T>>>,
    /// The waker last stored for `closed`.
    waker: Option<Waker>,
}

/// Receives the value: `.await` it (it is a future), or poll it with
/// [`Receiver::try_recv`].
///
/// Cancel safety: dropping the receiver (or a `select!` branch on `&mut rx`)
/// before it resolved loses nothing that was not already doomed: the value, if
/// sent, is dropped with the channel; awaiting `&mut rx` again later still gets it.
pub struct Receiver<T> {
    inner: Option<Arc<Inner<T>>>,
    /// The waker last stored in the shared cell.
    waker: Option<Waker>,
}

impl<T> Inner<T> {
    /// Sets `COMPLETE` unless `CLOSED` is set; returns the previous state.
    fn complete(&self) -> usize {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur & CLOSED != 0 {
                return cur;
            }
            match self.state.compare_exchange_weak(cur, cur | COMPLETE, Ordering::AcqRel, Ordering::Acquire) {
                Ok(prev) => return prev,
                Err(actual) => cur = actual,
            }
        }
    }

    fn wake_rx(&self) {
        // SAFETY: called only after `complete` saw RX_TASK_SET: the receiver does
        // not write the cell until it cleared that bit, and then it sees COMPLETE
        // and leaves the cell alone.
        self.rx_waker.with_mut(|w| unsafe {
            if let Some(w) = &*w {
                w.wake_by_ref();
            }
        });
    }

    fn wake_tx(&self) {
        // SAFETY: called only after setting CLOSED saw TX_TASK_SET: the sender
        // does not write the cell until it cleared that bit, and then it sees
        // CLOSED and leaves the cell alone.
        self.tx_waker.with_mut(|w| unsafe {
            if let Some(w) = &*w {
                w.wake_by_ref();
            }
        });
    }

    /// Takes the value (the state showed COMPLETE, so the sender is done with it).
    ///
    /// # Safety
    ///
    /// The caller saw COMPLETE with `Acquire` and is the only side left that
    /// touches the value cell (the receiver).
    unsafe fn take_value(&self) -> Option<T> {
        // SAFETY: per this function's contract.
        self.value.with_mut(|v| unsafe { (*v).take() })
    }

    /// Stores `waker` in the cell of one side, under the bit `task_set`, unless
    /// `done` (the event that side waits for) has happened. Returns `true` when
    /// the event happened. `last` is that side's own copy of the waker it stored
    /// last, so re-polls with the same waker skip the cell (the other side may be
    /// reading it).
    ///
    /// # Safety
    ///
    /// Only the owner of `cell` (receiver for RX_TASK_SET, sender for TX_TASK_SET)
    /// may call this.
    unsafe fn register(
        &self,
        cell: &UnsafeCell<Option<Waker>>,
        task_set: usize,
        done: usize,
        waker: &Waker,
        last: &mut Option<Waker>,
    ) -> bool {
        let state = self.state.load(Ordering::Acquire);
        if state & done != 0 {
            return true;
        }
        if state & task_set != 0 {
            if last.as_ref().is_some_and(|w| w.will_wake(waker)) {
                return false;
            }
            // Take the cell back before writing it: the other side reads it only
            // when its own RMW saw the bit set.
            let prev = self.state.fetch_and(!task_set, Ordering::AcqRel);
            if prev & done != 0 {
                // The other side saw the bit and may be waking the old waker:
                // leave the cell alone.
                return true;
            }
        }
        // SAFETY: the bit is clear, so the other side does not read the cell.
        cell.with_mut(|w| unsafe { *w = Some(waker.clone()) });
        *last = Some(waker.clone());
        let prev = self.state.fetch_or(task_set, Ordering::AcqRel);
        prev & done != 0
    }
}

impl<T> Sender<T> {
    /// Sends `value`, waking the receiver. Fails, returning the value, if the
    /// receiver closed or was dropped first.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let inner = self.inner.take().expect("sender used once");
        // SAFETY: COMPLETE is not set (only this consumed sender sets it), so the
        // sender alone owns the value cell.
        inner.value.with_mut(|v| unsafe { *v = Some(value) });
        let prev = inner.complete();
        if prev & CLOSED != 0 {
            // SAFETY: COMPLETE was not set, so the cell is still ours.
            let v = inner.value.with_mut(|v| unsafe { (*v).take() });
            return Err(v.expect("value just stored"));
        }
        if prev & RX_TASK_SET != 0 {
            inner.wake_rx();
        }
        Ok(())
    }

    /// `true` once the receiver closed or was dropped.
    pub fn is_closed(&self) -> bool {
        let inner = self.inner.as_ref().expect("sender used once");
        inner.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Polls for the receiver closing or being dropped (see [`Sender::closed`]).
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let coop = ready!(coop::poll_proceed(cx));
        let inner = self.inner.as_ref().expect("sender used once");
        // SAFETY: the sender owns the tx waker cell.
        if unsafe { inner.register(&inner.tx_waker, TX_TASK_SET, CLOSED, cx.waker(), &mut self.waker) } {
            coop.made_progress();
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Waits until the receiver closes or is dropped (e.g. to stop computing a
    /// value nobody wants). Cancel safe.
    pub async fn closed(&mut self) {
        poll_fn(|cx| self.poll_closed(cx)).await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let prev = inner.complete();
            if prev & (RX_TASK_SET | CLOSED) == RX_TASK_SET {
                inner.wake_rx();
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Closes the channel without dropping the receiver: a later `send` fails
    /// and returns its value, and [`Sender::closed`] resolves. A value sent
    /// before can still be received.
    pub fn close(&mut self) {
        if let Some(inner) = &self.inner {
            let prev = inner.state.fetch_or(CLOSED, Ordering::AcqRel);
            if prev & (TX_TASK_SET | COMPLETE | CLOSED) == TX_TASK_SET {
                inner.wake_tx();
            }
        }
    }

    /// Waits for the value from synchronous code: awaits the receiver, parking
    /// the calling OS thread (not spinning) until the value is sent or the
    /// sender is dropped.
    ///
    /// # Errors
    /// [`RecvError`] if the sender was dropped without sending (or the receiver
    /// was closed before a value came, or the value was already taken).
    ///
    /// # Panics
    /// When called on a thread that drives a runtime (a worker, or inside
    /// `block_on`), where it would stall the tasks: use `.await` there.
    ///
    /// ```
    /// use tern_runtime::sync::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel();
    /// let waiter = std::thread::spawn(move || rx.blocking_recv());
    /// tern_runtime::block_on(async move {
    ///     tern_runtime::spawn(async move { tx.send(7).unwrap() }).await.unwrap();
    /// });
    /// assert_eq!(waiter.join().unwrap(), Ok(7));
    /// ```
    #[track_caller]
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        crate::runtime::block_on_thread("oneshot::Receiver::blocking_recv", self)
    }

    /// Takes the value if it was sent, without waiting.
    ///
    /// Errors: [`TryRecvError::Empty`] if the sender may still send,
    /// [`TryRecvError::Closed`] if it was dropped unsent, the receiver was
    /// closed before a value came, or the value was already taken.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(inner) = &self.inner else {
            return Err(TryRecvError::Closed);
        };
        let state = inner.state.load(Ordering::Acquire);
        if state & COMPLETE != 0 {
            // SAFETY: COMPLETE seen with Acquire; the receiver owns the value now.
            let r = unsafe { inner.take_value() }.ok_or(TryRecvError::Closed);
            self.inner = None;
            r
        } else if state & CLOSED != 0 {
            self.inner = None;
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    /// Ready with the value, or with [`RecvError`] once the sender was dropped
    /// unsent (or the receiver was closed before a value came). Polling again
    /// after it resolved gives [`RecvError`].
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(inner) = &this.inner else {
            return Poll::Ready(Err(RecvError(())));
        };
        let coop = ready!(coop::poll_proceed(cx));
        // SAFETY: the receiver owns the rx waker cell.
        let done = unsafe {
            inner.register(&inner.rx_waker, RX_TASK_SET, COMPLETE | CLOSED, cx.waker(), &mut this.waker)
        };
        if !done {
            return Poll::Pending;
        }
        coop.made_progress();
        let state = inner.state.load(Ordering::Acquire);
        let r = if state & COMPLETE != 0 {
            // SAFETY: COMPLETE seen with Acquire; the receiver owns the value now.
            unsafe { inner.take_value() }.ok_or(RecvError(()))
        } else {
            Err(RecvError(()))
        };
        this.inner = None;
        Poll::Ready(r)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
        // A sent value stays in the cell and is dropped with the last reference
        // (`send` takes it back if it lost the race against CLOSED).
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
