//! A multi-producer, multi-consumer broadcast channel: every receiver sees every
//! value sent after it subscribed.
//!
//! Values live in a ring buffer of `capacity` slots, and each receiver keeps the
//! position of the next value it will read. Sending never waits: when the buffer
//! is full the oldest value is overwritten. A receiver whose next value was
//! overwritten gets [`error::RecvError::Lagged`]`(n)`, `n` being how many values
//! it missed, and then continues from the oldest value still retained.
//!
//! Receivers get clones (`T: Clone`). A value stays in its slot until it is
//! overwritten or the channel is dropped.
//!
//! When every [`Sender`] is dropped, receivers get the values still retained for
//! them, then [`error::RecvError::Closed`].
//!
//! ```
//! use tern_runtime::sync::broadcast;
//!
//! tern_runtime::block_on(async {
//!     let (tx, mut rx1) = broadcast::channel(4);
//!     let mut rx2 = tx.subscribe();
//!     tx.send(10).unwrap();
//!     assert_eq!(rx1.recv().await, Ok(10));
//!     assert_eq!(rx2.recv().await, Ok(10));
//! })
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::coop;
use crate::loom::{Arc, Mutex};
use crate::sync::mpsc::wait_list::{wake_all, WaitList};

/// broadcast errors.
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

    /// `recv` failed.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum RecvError {
        /// Every sender is gone and every retained value was received.
        Closed,
        /// The receiver fell behind: this many values were overwritten before it
        /// read them. The next receive returns the oldest retained value.
        Lagged(u64),
    }

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                RecvError::Closed => f.write_str("channel closed"),
                RecvError::Lagged(n) => write!(f, "channel lagged by {n}"),
            }
        }
    }

    impl Error for RecvError {}

    /// `try_recv` failed.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum TryRecvError {
        /// No new value yet.
        Empty,
        /// Every sender is gone and every retained value was received.
        Closed,
        /// As [`RecvError::Lagged`].
        Lagged(u64),
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("channel empty"),
                TryRecvError::Closed => f.write_str("channel closed"),
                TryRecvError::Lagged(n) => write!(f, "channel lagged by {n}"),
            }
        }
    }

    impl Error for TryRecvError {}
}

use error::{RecvError, SendError, TryRecvError};

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
}

struct State<T> {
    /// `slots[pos % capacity]` holds the value sent at position `pos`.
    slots: Box<[Option<T>]>,
    /// Position of the next value to send (= values sent so far).
    tail: u64,
    rx_count: usize,
    tx_count: usize,
    /// Receivers waiting for a value.
    waiters: WaitList,
}

/// Creates a broadcast channel retaining the last `capacity` values.
///
/// # Panics
///
/// Panics if `capacity` is 0.
#[track_caller]
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "broadcast channel requires capacity > 0");
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            slots: (0..capacity).map(|_| None).collect(),
            tail: 0,
            rx_count: 1,
            tx_count: 1,
            waiters: WaitList::new(),
        }),
        capacity,
    });
    (Sender { shared: shared.clone() }, Receiver { shared, next: 0 })
}

/// The sending half; clone it for more producers.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A receiving half, with its own read position.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// Position of the next value this receiver reads.
    next: u64,
}

impl<T> Sender<T> {
    /// Sends `value` to every current receiver, overwriting the oldest retained
    /// value when the buffer is full. Never waits.
    ///
    /// Returns how many receivers the value was sent to, or the value back in a
    /// [`SendError`] when there is none (it is then not retained either).
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut wakers = Vec::new();
        let mut st = self.shared.state.lock();
        if st.rx_count == 0 {
            return Err(SendError(value));
        }
        let idx = (st.tail % self.shared.capacity as u64) as usize;
        let old = st.slots[idx].replace(value);
        st.tail += 1;
        st.waiters.notify_all(&mut wakers);
        let n = st.rx_count;
        drop(st);
        drop(old);
        wake_all(wakers);
        Ok(n)
    }

    /// A new receiver that sees the values sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut st = self.shared.state.lock();
        st.rx_count += 1;
        let next = st.tail;
        drop(st);
        Receiver { shared: self.shared.clone(), next }
    }

    /// Number of live receivers.
    pub fn receiver_count(&self) -> usize {
        self.shared.state.lock().rx_count
    }

    /// Whether both senders feed the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Number of values currently retained in the ring buffer (at most the
    /// capacity).
    pub fn len(&self) -> usize {
        let st = self.shared.state.lock();
        st.tail.min(self.shared.capacity as u64) as usize
    }

    /// `true` when nothing was sent yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.state.lock().tx_count += 1;
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut wakers = Vec::new();
        let mut st = self.shared.state.lock();
        st.tx_count -= 1;
        if st.tx_count == 0 {
            st.waiters.notify_all(&mut wakers);
        }
        drop(st);
        wake_all(wakers);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

enum Attempt<T> {
    Value(T),
    Lagged(u64),
    Empty,
    Closed,
}

/// Reads the value at `*next` (advancing it), or reports a lag (moving `*next`
/// to the oldest retained value), or why there is nothing to read.
fn attempt<T: Clone>(next: &mut u64, capacity: usize, st: &State<T>) -> Attempt<T> {
    let cap = capacity as u64;
    if *next >= st.tail {
        return if st.tx_count == 0 { Attempt::Closed } else { Attempt::Empty };
    }
    let oldest = st.tail.saturating_sub(cap);
    if *next < oldest {
        let missed = oldest - *next;
        *next = oldest;
        return Attempt::Lagged(missed);
    }
    let v = st.slots[(*next % cap) as usize].clone().expect("retained slot holds a value");
    *next += 1;
    Attempt::Value(v)
}

impl<T: Clone> Receiver<T> {
    /// Receives the next value, waiting for one.
    ///
    /// Errors: [`RecvError::Lagged`]`(n)` when `n` values were overwritten
    /// before this receiver read them (the next call returns the oldest retained
    /// one); [`RecvError::Closed`] once every sender is gone and nothing is left.
    ///
    /// Cancel safety: dropping the future loses no value.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        Recv { rx: self, waiter: None }.await
    }

    /// Receives the next value without waiting (errors as [`Receiver::recv`],
    /// plus [`TryRecvError::Empty`]).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let st = self.shared.state.lock();
        match attempt(&mut self.next, self.shared.capacity, &st) {
            Attempt::Value(v) => Ok(v),
            Attempt::Lagged(n) => Err(TryRecvError::Lagged(n)),
            Attempt::Empty => Err(TryRecvError::Empty),
            Attempt::Closed => Err(TryRecvError::Closed),
        }
    }

    /// A new receiver on the same channel that sees the values sent from now on
    /// (not the ones this receiver has yet to read).
    pub fn resubscribe(&self) -> Receiver<T> {
        let mut st = self.shared.state.lock();
        st.rx_count += 1;
        let next = st.tail;
        drop(st);
        Receiver { shared: self.shared.clone(), next }
    }
}

impl<T> Receiver<T> {
    /// Values sent that this receiver has not read yet (including ones already
    /// overwritten, which it will be told about as a lag).
    pub fn len(&self) -> usize {
        let st = self.shared.state.lock();
        st.tail.saturating_sub(self.next) as usize
    }

    /// `true` when there is nothing new to read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` once every sender is gone (values may still be retained).
    pub fn is_closed(&self) -> bool {
        self.shared.state.lock().tx_count == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.state.lock().rx_count -= 1;
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("next", &self.next).finish_non_exhaustive()
    }
}

/// The future of `Receiver::recv`.
struct Recv<'a, T> {
    rx: &'a mut Receiver<T>,
    waiter: Option<usize>,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = ready!(coop::poll_proceed(cx));
        let this = &mut *self;
        let rx = &mut *this.rx;
        let mut st = rx.shared.state.lock();
        if let Some(key) = this.waiter.take() {
            st.waiters.remove(key);
        }
        let r = match attempt(&mut rx.next, rx.shared.capacity, &st) {
            Attempt::Value(v) => Ok(v),
            Attempt::Lagged(n) => Err(RecvError::Lagged(n)),
            Attempt::Closed => Err(RecvError::Closed),
            Attempt::Empty => {
                this.waiter = Some(st.waiters.push_back(cx.waker()));
                return Poll::Pending;
            }
        };
        drop(st);
        coop.made_progress();
        Poll::Ready(r)
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.waiter.take() {
            self.rx.shared.state.lock().waiters.remove(key);
        }
    }
}
