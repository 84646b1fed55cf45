//! A bounded, async priority queue.
//!
//! [`PriorityQueue::get`] returns the greatest item (a max-heap by `Ord`), and
//! among equal items the one put first. [`PriorityQueue::put`] waits while the
//! queue holds `capacity` items. Share the queue with an `Arc`.
//!
//! Both sides wait in FIFO order and are cancellation safe: a released slot or a
//! new item goes straight to the oldest waiter, and a waiter dropped after it was
//! handed one passes it on, so no slot, item or wake-up is lost.
//!
//! Every await point spends one unit of the task's co-operative budget.
//!
//! ```
//! use tern_runtime::sync::priority_queue::PriorityQueue;
//!
//! tern_runtime::block_on(async {
//!     let q = PriorityQueue::new(8);
//!     for x in [3, 9, 1] {
//!         q.put(x).await.unwrap();
//!     }
//!     assert_eq!(q.get().await, Some(9));
//!     assert_eq!(q.get().await, Some(3));
//! })
//! ```

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use crate::coop;
use crate::loom::{Mutex, MutexGuard};
use crate::sync::mpsc::wait_list::{wake_all, Permits};

/// `put` found the queue closed; the item comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct PutError<T>(pub T);

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PutError(..)")
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue closed")
    }
}

impl<T> Error for PutError<T> {}

/// `try_put` failed; the item comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TryPutError<T> {
    /// The queue is full (or other `put`s already wait).
    Full(T),
    /// The queue is closed.
    Closed(T),
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("queue full"),
            TryPutError::Closed(_) => f.write_str("queue closed"),
        }
    }
}

impl<T> Error for TryPutError<T> {}

/// `try_get` found no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryGetError {
    /// No item available now (or waiting `get`s come first).
    Empty,
    /// Closed and drained.
    Closed,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("queue empty"),
            TryGetError::Closed => f.write_str("queue closed"),
        }
    }
}

impl Error for TryGetError {}

/// A heap entry: by item, then earlier `seq` first.
struct Entry<T> {
    item: T,
    seq: Reverse<u64>,
}

impl<T: Ord> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}

impl<T: Ord> Eq for Entry<T> {}

impl<T: Ord> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.item.cmp(&other.item).then(self.seq.cmp(&other.seq))
    }
}

struct State<T> {
    heap: BinaryHeap<Entry<T>>,
    next_seq: u64,
    /// Free capacity, with the `put`s waiting for it.
    slots: Permits,
    /// Items not yet promised to a `get`, with the `get`s waiting for one.
    items: Permits,
    closed: bool,
}

/// A bounded async max-priority queue (see the [module docs](self)).
pub struct PriorityQueue<T> {
    state: Mutex<State<T>>,
    capacity: usize,
}

impl<T: Ord> PriorityQueue<T> {
    /// A queue holding at most `capacity` items.
    ///
    /// # Panics
    ///
    /// Panics if `capacity` is 0.
    #[track_caller]
    pub fn new(capacity: usize) -> PriorityQueue<T> {
        assert!(capacity > 0, "priority queue requires capacity > 0");
        PriorityQueue {
            state: Mutex::new(State {
                heap: BinaryHeap::new(),
                next_seq: 0,
                slots: Permits::new(capacity),
                items: Permits::new(0),
                closed: false,
            }),
            capacity,
        }
    }

    /// Pushes `item` on a slot already taken, handing it to the oldest `get`.
    fn push(st: &mut State<T>, item: T) -> Option<Waker> {
        let seq = Reverse(st.next_seq);
        st.next_seq += 1;
        st.heap.push(Entry { item, seq });
        st.items.release()
    }

    /// Pops the greatest item on a unit of `items` already taken, handing its
    /// slot to the oldest `put`.
    fn pop(st: &mut State<T>) -> (T, Option<Waker>) {
        let e = st.heap.pop().expect("an item was promised");
        (e.item, st.slots.release())
    }

    /// Inserts `item`, waiting while the queue is full.
    ///
    /// Errors, returning the item, if the queue is (or gets) closed.
    ///
    /// Cancel safety: dropping the future drops `item` unsent; its place among
    /// the waiting `put`s, or the slot it was just handed, goes to the next one.
    pub async fn put(&self, item: T) -> Result<(), PutError<T>> {
        match (Acquire { queue: self, side: Side::Put, waiter: None }).await {
            true => {
                let mut st = self.lock();
                let w = Self::push(&mut st, item);
                drop(st);
                if let Some(w) = w {
                    w.wake();
                }
                Ok(())
            }
            false => Err(PutError(item)),
        }
    }

    /// Inserts `item` if there is room now.
    ///
    /// Errors: [`TryPutError::Full`] (also when `put`s are already waiting),
    /// [`TryPutError::Closed`].
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        let mut st = self.lock();
        if st.closed {
            return Err(TryPutError::Closed(item));
        }
        if !st.slots.try_acquire() {
            return Err(TryPutError::Full(item));
        }
        let w = Self::push(&mut st, item);
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
    }

    /// Removes the greatest item (the earliest put among equals), waiting while
    /// the queue is empty. Returns `None` once the queue is closed and drained.
    ///
    /// Cancel safety: dropping the future loses no item; an item it had been
    /// promised goes to the next waiting `get`.
    pub async fn get(&self) -> Option<T> {
        if !(Acquire { queue: self, side: Side::Get, waiter: None }).await {
            return None;
        }
        let mut st = self.lock();
        let (item, w) = Self::pop(&mut st);
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
        Some(item)
    }

    /// Removes the greatest item if one is available now.
    ///
    /// Errors: [`TryGetError::Empty`] (also when `get`s are waiting for the
    /// items there are), [`TryGetError::Closed`] when closed and drained.
    pub fn try_get(&self) -> Result<T, TryGetError> {
        let mut st = self.lock();
        if !st.items.try_acquire() {
            return Err(if st.closed && st.heap.is_empty() {
                TryGetError::Closed
            } else {
                TryGetError::Empty
            });
        }
        let (item, w) = Self::pop(&mut st);
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
        Ok(item)
    }
}

impl<T> PriorityQueue<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }

    /// Items in the queue now.
    pub fn len(&self) -> usize {
        self.lock().heap.len()
    }

    /// `true` when the queue holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound given to [`PriorityQueue::new`].
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Closes the queue: `put`s (waiting or later) fail, `get`s return the
    /// remaining items, then `None`. Idempotent.
    pub fn close(&self) {
        let mut wakers = Vec::new();
        let mut st = self.lock();
        if !st.closed {
            st.closed = true;
            st.slots.waiter_wakers(&mut wakers);
            st.items.waiter_wakers(&mut wakers);
        }
        drop(st);
        wake_all(wakers);
    }

    /// `true` once [`PriorityQueue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

impl<T> fmt::Debug for PriorityQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PriorityQueue").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Waiting for a free slot.
    Put,
    /// Waiting for an item.
    Get,
}

/// Waits for a slot (`Put`) or an item (`Get`): `true` once taken, `false` when
/// the queue is closed (and, for `Get`, drained). Dropping it passes on what it
/// was handed.
struct Acquire<'a, T> {
    queue: &'a PriorityQueue<T>,
    side: Side,
    waiter: Option<usize>,
}

impl<T> Acquire<'_, T> {
    fn permits(side: Side, st: &mut State<T>) -> &mut Permits {
        match side {
            Side::Put => &mut st.slots,
            Side::Get => &mut st.items,
        }
    }
}

impl<T> Future for Acquire<'_, T> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let coop = ready!(coop::poll_proceed(cx));
        let this = &mut *self;
        let mut st = this.queue.lock();
        let side = this.side;
        // A put on a closed queue fails. A get takes an item it was promised or
        // one still unpromised; after `close` no item comes any more.
        if !(st.closed && side == Side::Put)
            && Self::permits(side, &mut st).poll_acquire(&mut this.waiter, cx.waker())
        {
            drop(st);
            coop.made_progress();
            return Poll::Ready(true);
        }
        if !st.closed {
            return Poll::Pending;
        }
        let w = Self::permits(side, &mut st).cancel(&mut this.waiter);
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
        coop.made_progress();
        Poll::Ready(false)
    }
}

impl<T> Drop for Acquire<'_, T> {
    fn drop(&mut self) {
        if self.waiter.is_none() {
            return;
        }
        let mut st = self.queue.lock();
        let w = Self::permits(self.side, &mut st).cancel(&mut self.waiter);
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
    }
}
