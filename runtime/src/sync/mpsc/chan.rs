//! The state both mpsc flavours share, lock-free on every send and receive path.
//!
//! - Messages go through the lock-free [`Queue`] (see its module docs).
//! - A bounded channel's free slots are a [`Semaphore`] of `capacity` permits: a
//!   send acquires one (FIFO among waiting senders, cancel safe, lock-free while
//!   nobody waits) and hands it to its message; `recv` releases it when it takes
//!   the message out. A [`Permit`](super::Permit) is an acquired permit. Closing
//!   the channel closes the semaphore, which fails waiting and later acquires.
//! - The unbounded channel has no semaphore; `close` sets the queue's CLOSED flag.
//! - The receiver's waker is an [`AtomicWaker`]. Before it sleeps, the receiver
//!   registers, arms the slot it waits for (see the queue's docs: only that slot's
//!   sender wakes it, other sends never touch the waker), and checks again. The
//!   other events it waits for (the last sender leaving, a permit coming back
//!   after `close`) are published first and then woken through the waker.
//! - `tx_count` counts strong senders; the last one to leave wakes the receiver.
//!   A sender finishes its pushes before it is dropped, so once the receiver sees
//!   `tx_count == 0` (acquire) every message is published.
//! - Only `Sender::closed` waiters sit behind a lock (they are rare and cold).
//!
//! # When the receiver is done
//!
//! `recv` returns `None` once nothing more can be claimed and everything claimed
//! was received: all senders are gone, or the receiver closed and (bounded) every
//! permit is back in the semaphore, so no outstanding `Permit` can still send, or
//! (unbounded) the CLOSED flag turns every later claim into a failed send.

use std::task::{Context, Poll, Waker};

use super::atomic_waker::AtomicWaker;
use super::error::TryRecvError;
use super::queue::{Pop, Queue};
use super::wait_list::{wake_all, WaitList};
use crate::loom::{AtomicUsize, Mutex, Ordering};
use crate::sync::semaphore::{self, Semaphore, TryAcquireError};

/// `rx_state` bits.
const RX_CLOSED: usize = 1;
const RX_DROPPED: usize = 2;

pub(crate) struct Chan<T> {
    queue: Queue<T>,
    rx_waker: AtomicWaker,
    /// Free slots of a bounded channel; `None` for an unbounded one.
    sem: Option<Semaphore>,
    /// The bound given to `channel`.
    bound: Option<usize>,
    /// The semaphore's permits when all are free (`bound`, at most
    /// `Semaphore::MAX_PERMITS`).
    permits: usize,
    /// Live (strong) senders.
    tx_count: AtomicUsize,
    /// `RX_CLOSED`: `Receiver::close` was called or the receiver was dropped;
    /// `RX_DROPPED`: the receiver was dropped.
    rx_state: AtomicUsize,
    /// Tasks in `Sender::closed`.
    closed_waiters: Mutex<WaitList>,
}

/// Why a slot could not be taken without waiting.
pub(crate) enum Reserve {
    Full,
    Closed,
}

impl<T> Chan<T> {
    pub(crate) fn new(bound: Option<usize>) -> Chan<T> {
        let permits = bound.map_or(0, |b| b.min(Semaphore::MAX_PERMITS));
        Chan {
            queue: Queue::new(),
            rx_waker: AtomicWaker::new(),
            sem: bound.map(|_| Semaphore::new(permits)),
            bound,
            permits,
            tx_count: AtomicUsize::new(1),
            rx_state: AtomicUsize::new(0),
            closed_waiters: Mutex::new(WaitList::new()),
        }
    }

    pub(crate) fn bound(&self) -> Option<usize> {
        self.bound
    }

    // ----- senders -----

    pub(crate) fn add_sender(&self) {
        // Relaxed, as `Arc::clone`: the caller holds a sender, so the count is
        // at least 1 and cannot reach 0 meanwhile.
        self.tx_count.fetch_add(1, Ordering::Relaxed);
    }

    /// A weak sender upgrades only while a strong one is alive.
    pub(crate) fn try_add_sender(&self) -> bool {
        let mut n = self.tx_count.load(Ordering::Relaxed);
        loop {
            if n == 0 {
                return false;
            }
            match self.tx_count.compare_exchange_weak(n, n + 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
    }

    pub(crate) fn sender_count(&self) -> usize {
        self.tx_count.load(Ordering::Acquire)
    }

    pub(crate) fn drop_sender(&self) {
        // Release: this sender's pushes happen before the receiver sees 0.
        if self.tx_count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.rx_waker.wake();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.rx_state.load(Ordering::Acquire) & RX_CLOSED == RX_CLOSED
    }

    /// Free slots of a bounded channel (`0` for an unbounded one).
    pub(crate) fn available(&self) -> usize {
        self.sem.as_ref().map_or(0, Semaphore::available_permits)
    }

    /// Unbounded send: no slot needed.
    pub(crate) fn push_unbounded(&self, value: T) -> Result<(), T> {
        // Checked first so that sends into a closed channel do not claim (and
        // allocate) slots; a close racing this send is caught by the queue.
        if self.is_closed() {
            return Err(value);
        }
        let pushed = self.queue.push(value);
        // Also after a failed claim: the receiver may wait for that slot.
        if pushed.wake {
            self.rx_waker.wake();
        }
        pushed.result
    }

    fn sem(&self) -> &Semaphore {
        self.sem.as_ref().expect("a bounded channel has a semaphore")
    }

    /// Takes a slot without waiting.
    pub(crate) fn try_reserve(&self) -> Result<(), Reserve> {
        match self.sem().try_acquire_raw(1) {
            Ok(()) => Ok(()),
            Err(TryAcquireError::NoPermits) => Err(Reserve::Full),
            Err(TryAcquireError::Closed) => Err(Reserve::Closed),
        }
    }

    /// The semaphore's acquire of one slot (FIFO, cancel safe; it spends the
    /// task's co-operative budget).
    pub(crate) fn acquire(&self) -> semaphore::Acquire<'_> {
        self.sem().acquire_raw(1)
    }

    /// An acquire of the semaphore finished with `Ok`: keep the slot, unless the
    /// channel was closed meanwhile (a waiting sender may be handed a slot just
    /// before `close`), in which case the slot goes back and the send fails, as
    /// it would have if the close had come first.
    pub(crate) fn acquired(&self) -> Result<(), ()> {
        if self.sem().is_closed() {
            self.release_reserved();
            Err(())
        } else {
            Ok(())
        }
    }

    /// An acquire was dropped before it finished; the semaphore already passed on
    /// any slot it had been handed. After `close`, that slot coming back may be the
    /// last one the receiver waits for.
    pub(crate) fn acquire_cancelled(&self) {
        if self.sem().is_closed() {
            self.rx_waker.wake();
        }
    }

    /// Sends on a held slot: the slot goes with the message. A value sent after
    /// the receiver was dropped is dropped.
    pub(crate) fn push_reserved(&self, value: T) {
        if self.rx_state.load(Ordering::Acquire) & RX_DROPPED == RX_DROPPED {
            drop(value);
            self.release_reserved();
            return;
        }
        // The bounded queue is never closed (closing is the semaphore's job), so
        // the push cannot fail. A value pushed while the receiver is being
        // dropped stays in the queue until the channel is freed.
        let pushed = self.queue.push(value);
        debug_assert!(pushed.result.is_ok());
        if pushed.wake {
            self.rx_waker.wake();
        }
    }

    /// A held slot was not used.
    pub(crate) fn release_reserved(&self) {
        let sem = self.sem();
        sem.release(1);
        // `is_closed` reads the word the release just wrote: either the release
        // came before `close` (and the receiver's later check sees the permit),
        // or this sees CLOSED and wakes the receiver, which may wait for it.
        if sem.is_closed() {
            self.rx_waker.wake();
        }
    }

    /// `Sender::closed`: ready once the receiver closed or dropped.
    pub(crate) fn poll_closed(&self, waiter: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<()> {
        let mut list = self.closed_waiters.lock();
        // Under the lock: `close_rx` sets the flag before it takes the lock.
        if self.is_closed() {
            if let Some(key) = waiter.take() {
                list.remove(key);
            }
            return Poll::Ready(());
        }
        match *waiter {
            Some(key) => list.set_waker(key, cx.waker()),
            None => *waiter = Some(list.push_back(cx.waker())),
        }
        Poll::Pending
    }

    pub(crate) fn cancel_closed(&self, waiter: &mut Option<usize>) {
        if let Some(key) = waiter.take() {
            self.closed_waiters.lock().remove(key);
        }
    }

    // ----- receiver -----
    //
    // Safety of the `unsafe fn`s below: only the channel's single receiver calls
    // them, never two at once (`Receiver` methods take `&mut self`, except `len`).

    /// Pops a message; a bounded channel's slot is released by the caller.
    ///
    /// # Safety
    /// Receiver only (see above).
    unsafe fn pop_raw(&self) -> Option<T> {
        // SAFETY: forwarded from the caller.
        match unsafe { self.queue.pop() } {
            Pop::Value(v) => Some(v),
            Pop::Empty => None,
        }
    }

    /// Pops a message and frees its slot for the next sender.
    ///
    /// # Safety
    /// Receiver only.
    unsafe fn pop(&self) -> Option<T> {
        // SAFETY: forwarded from the caller.
        let v = unsafe { self.pop_raw() }?;
        if let Some(sem) = &self.sem {
            sem.release(1);
        }
        Some(v)
    }

    /// No more claims can be made (or, after a close, none that will carry a
    /// message): every sender is gone, or the receiver closed and (bounded)
    /// every permit is back.
    fn no_more_sends(&self) -> bool {
        if self.tx_count.load(Ordering::Acquire) == 0 {
            return true;
        }
        if !self.is_closed() {
            return false;
        }
        match &self.sem {
            Some(sem) => sem.available_permits() == self.permits,
            None => true,
        }
    }

    /// One attempt: `Some(Some(v))` a message, `Some(None)` the channel is
    /// finished, `None` nothing yet.
    ///
    /// # Safety
    /// Receiver only.
    unsafe fn try_pop(&self) -> Option<Option<T>> {
        // SAFETY: forwarded from the caller (all three calls).
        if let Some(v) = unsafe { self.pop() } {
            return Some(Some(v));
        }
        if self.no_more_sends() {
            // What was published before the senders left is visible now.
            if let Some(v) = unsafe { self.pop() } {
                return Some(Some(v));
            }
            // Claimed but unpublished slots are still being written (the writer
            // wakes us); otherwise the channel is finished.
            if unsafe { self.queue.is_drained() } {
                return Some(None);
            }
        }
        None
    }

    /// # Safety
    /// Receiver only.
    pub(crate) unsafe fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY (every receiver-side call below): forwarded from the caller.
        if let Some(r) = unsafe { self.try_pop() } {
            return Poll::Ready(r);
        }
        // Register, then arm the awaited slot (its sender wakes us), then check
        // again: for the message (if arming found it published), and for the
        // events that wake through the waker alone (the last sender leaving, a
        // permit coming back after `close`).
        unsafe { self.rx_waker.register(cx.waker()) };
        // Each round consumes a published slot: a message, or a tombstone (then
        // the next slot is armed).
        while unsafe { self.queue.arm() } {
            if let Some(v) = unsafe { self.pop() } {
                return Poll::Ready(Some(v));
            }
        }
        if self.no_more_sends() {
            if let Some(r) = unsafe { self.try_pop() } {
                return Poll::Ready(r);
            }
        }
        Poll::Pending
    }

    /// Moves up to `limit` messages into `out`: `Ready(n)` with `n > 0`, or
    /// `Ready(0)` when the channel is finished.
    ///
    /// # Safety
    /// Receiver only.
    pub(crate) unsafe fn poll_recv_many(
        &self,
        cx: &mut Context<'_>,
        out: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        let mut n = 0;
        // SAFETY: forwarded from the caller.
        while n < limit {
            match unsafe { self.pop_raw() } {
                Some(v) => {
                    out.push(v);
                    n += 1;
                }
                None => break,
            }
        }
        if n > 0 {
            if let Some(sem) = &self.sem {
                sem.release(n);
            }
            return Poll::Ready(n);
        }
        // Nothing yet: as `poll_recv`, for one message.
        // SAFETY: forwarded from the caller.
        match unsafe { self.poll_recv(cx) } {
            Poll::Ready(Some(v)) => {
                out.push(v);
                Poll::Ready(1)
            }
            Poll::Ready(None) => Poll::Ready(0),
            Poll::Pending => Poll::Pending,
        }
    }

    /// # Safety
    /// Receiver only.
    pub(crate) unsafe fn try_recv(&self) -> Result<T, TryRecvError> {
        // SAFETY: forwarded from the caller.
        match unsafe { self.try_pop() } {
            Some(Some(v)) => Ok(v),
            Some(None) => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Messages claimed and not yet received (a send between its claim and its
    /// publication counts already).
    ///
    /// # Safety
    /// Receiver only (concurrent `len` calls are fine).
    pub(crate) unsafe fn len(&self) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { self.queue.len() }
    }

    /// `Receiver::close`: no new sends; buffered messages stay receivable.
    ///
    /// # Safety
    /// Receiver only.
    pub(crate) unsafe fn close_rx(&self) {
        if self.rx_state.fetch_or(RX_CLOSED, Ordering::AcqRel) & RX_CLOSED == RX_CLOSED {
            return;
        }
        match &self.sem {
            Some(sem) => sem.close(),
            // SAFETY: forwarded from the caller.
            None => unsafe { self.queue.close() },
        }
        let mut wakers: Vec<Waker> = Vec::new();
        self.closed_waiters.lock().notify_all(&mut wakers);
        wake_all(wakers);
    }

    /// The receiver is dropped: close, and drop the buffered messages now.
    ///
    /// # Safety
    /// Receiver only, once.
    pub(crate) unsafe fn drop_rx(&self) {
        self.rx_state.fetch_or(RX_DROPPED, Ordering::AcqRel);
        // SAFETY: forwarded from the caller.
        unsafe { self.close_rx() };
        drop(self.rx_waker.take());
        // Messages behind a slot that is still being written stay in the queue
        // until the channel is freed.
        let mut n = 0;
        // SAFETY: forwarded from the caller.
        while let Some(v) = unsafe { self.pop_raw() } {
            drop(v);
            n += 1;
        }
        if let (Some(sem), true) = (&self.sem, n > 0) {
            sem.release(n);
        }
    }
}

impl<T> std::fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chan")
            .field("bound", &self.bound)
            .field("tx_count", &self.tx_count.load(Ordering::Relaxed))
            .field("rx_state", &self.rx_state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
