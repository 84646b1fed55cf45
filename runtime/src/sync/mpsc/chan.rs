//! The state both mpsc flavours share: the buffer, the slot accounting of a
//! bounded channel, the receiver's waker and the open/closed flags, all under one
//! lock. Wakers are always woken, and values dropped, after the lock is released.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use super::error::TryRecvError;
use super::wait_list::{wake_all, Permits, WaitList};
use crate::loom::{Mutex, MutexGuard};

#[derive(Debug)]
pub(crate) struct Chan<T> {
    state: Mutex<State<T>>,
    /// `None` for an unbounded channel.
    bound: Option<usize>,
}

#[derive(Debug)]
struct State<T> {
    buffer: VecDeque<T>,
    /// Free buffer slots, with the senders waiting for one (bounded only).
    slots: Permits,
    /// Slots held by live `Permit`s: messages that may still arrive after `close`.
    held: usize,
    rx_waker: Option<Waker>,
    /// `Receiver::close` was called or the receiver was dropped.
    rx_closed: bool,
    rx_dropped: bool,
    /// Live (strong) senders.
    tx_count: usize,
    /// Tasks in `Sender::closed`.
    closed_waiters: WaitList,
}

impl<T> Chan<T> {
    pub(crate) fn new(bound: Option<usize>) -> Chan<T> {
        Chan {
            state: Mutex::new(State {
                buffer: VecDeque::new(),
                slots: Permits::new(bound.unwrap_or(0)),
                held: 0,
                rx_waker: None,
                rx_closed: false,
                rx_dropped: false,
                tx_count: 1,
                closed_waiters: WaitList::new(),
            }),
            bound,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }

    pub(crate) fn bound(&self) -> Option<usize> {
        self.bound
    }

    // ----- senders -----

    pub(crate) fn add_sender(&self) {
        self.lock().tx_count += 1;
    }

    /// A weak sender upgrades only while a strong one is alive.
    pub(crate) fn try_add_sender(&self) -> bool {
        let mut st = self.lock();
        if st.tx_count == 0 {
            return false;
        }
        st.tx_count += 1;
        true
    }

    pub(crate) fn sender_count(&self) -> usize {
        self.lock().tx_count
    }

    pub(crate) fn drop_sender(&self) {
        let mut st = self.lock();
        st.tx_count -= 1;
        let w = if st.tx_count == 0 { st.rx_waker.take() } else { None };
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().rx_closed
    }

    /// Free slots of a bounded channel (`0` for an unbounded one).
    pub(crate) fn available(&self) -> usize {
        self.lock().slots.available()
    }

    /// Unbounded send: no slot needed.
    pub(crate) fn push_unbounded(&self, value: T) -> Result<(), T> {
        let mut st = self.lock();
        if st.rx_closed {
            return Err(value);
        }
        st.buffer.push_back(value);
        let w = st.rx_waker.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
    }

    /// Takes a slot without waiting.
    pub(crate) fn try_reserve(&self) -> Result<(), Reserve> {
        let mut st = self.lock();
        if st.rx_closed {
            Err(Reserve::Closed)
        } else if st.slots.try_acquire() {
            st.held += 1;
            Ok(())
        } else {
            Err(Reserve::Full)
        }
    }

    /// Takes a slot or queues the caller (FIFO). On `Ready(Ok)` the caller holds
    /// a slot; on `Ready(Err)` the receiver is gone and `waiter` was given up.
    pub(crate) fn poll_reserve(
        &self,
        waiter: &mut Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ()>> {
        let mut st = self.lock();
        if st.rx_closed {
            let w = st.slots.cancel(waiter);
            drop(st);
            if let Some(w) = w {
                w.wake();
            }
            return Poll::Ready(Err(()));
        }
        if st.slots.poll_acquire(waiter, cx.waker()) {
            st.held += 1;
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// A pending reservation was dropped: its place, or the slot it had already
    /// been handed, goes to the next waiter.
    pub(crate) fn cancel_reserve(&self, waiter: &mut Option<usize>) {
        if waiter.is_none() {
            return;
        }
        let w = self.lock().slots.cancel(waiter);
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Sends on a held slot. A value sent after the receiver was dropped is dropped.
    pub(crate) fn push_reserved(&self, value: T) {
        let mut st = self.lock();
        st.held -= 1;
        if st.rx_dropped {
            let w = st.slots.release();
            drop(st);
            drop(value);
            if let Some(w) = w {
                w.wake();
            }
            return;
        }
        st.buffer.push_back(value);
        let w = st.rx_waker.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
    }

    /// A held slot was not used.
    pub(crate) fn release_reserved(&self) {
        let mut st = self.lock();
        st.held -= 1;
        let mut wakers: Vec<Waker> = st.slots.release().into_iter().collect();
        if st.rx_closed && st.held == 0 {
            wakers.extend(st.rx_waker.take());
        }
        drop(st);
        wake_all(wakers);
    }

    /// `Sender::closed`: ready once the receiver closed or dropped.
    pub(crate) fn poll_closed(&self, waiter: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.lock();
        if st.rx_closed {
            if let Some(key) = waiter.take() {
                st.closed_waiters.remove(key);
            }
            return Poll::Ready(());
        }
        match *waiter {
            Some(key) => st.closed_waiters.set_waker(key, cx.waker()),
            None => *waiter = Some(st.closed_waiters.push_back(cx.waker())),
        }
        Poll::Pending
    }

    pub(crate) fn cancel_closed(&self, waiter: &mut Option<usize>) {
        if let Some(key) = waiter.take() {
            self.lock().closed_waiters.remove(key);
        }
    }

    // ----- receiver -----

    /// Whether the receiver has seen the last message: closed (or senderless),
    /// empty, and no slot held by a `Permit` any more.
    fn finished(st: &State<T>) -> bool {
        st.buffer.is_empty() && (st.tx_count == 0 || st.rx_closed) && st.held == 0
    }

    /// Pops the front message; the freed slot goes to the oldest waiting sender.
    fn pop(&self, st: &mut State<T>, wakers: &mut Vec<Waker>) -> Option<T> {
        let v = st.buffer.pop_front()?;
        if self.bound.is_some() {
            wakers.extend(st.slots.release());
        }
        Some(v)
    }

    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut wakers = Vec::new();
        let mut st = self.lock();
        let r = if let Some(v) = self.pop(&mut st, &mut wakers) {
            Poll::Ready(Some(v))
        } else if Self::finished(&st) {
            Poll::Ready(None)
        } else {
            match &st.rx_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.rx_waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        };
        drop(st);
        wake_all(wakers);
        r
    }

    /// Moves up to `limit` messages into `out`: `Ready(n)` with `n > 0`, or
    /// `Ready(0)` when the channel is finished.
    pub(crate) fn poll_recv_many(&self, cx: &mut Context<'_>, out: &mut Vec<T>, limit: usize) -> Poll<usize> {
        let mut wakers = Vec::new();
        let mut st = self.lock();
        let mut n = 0;
        while n < limit {
            match self.pop(&mut st, &mut wakers) {
                Some(v) => {
                    out.push(v);
                    n += 1;
                }
                None => break,
            }
        }
        let r = if n > 0 || Self::finished(&st) {
            Poll::Ready(n)
        } else {
            match &st.rx_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.rx_waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        };
        drop(st);
        wake_all(wakers);
        r
    }

    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut wakers = Vec::new();
        let mut st = self.lock();
        let r = match self.pop(&mut st, &mut wakers) {
            Some(v) => Ok(v),
            None if Self::finished(&st) => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        };
        drop(st);
        wake_all(wakers);
        r
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().buffer.len()
    }

    /// `Receiver::close`: no new sends; buffered messages stay receivable.
    pub(crate) fn close_rx(&self) {
        let mut st = self.lock();
        let wakers = Self::close_locked(&mut st);
        drop(st);
        wake_all(wakers);
    }

    fn close_locked(st: &mut State<T>) -> Vec<Waker> {
        let mut wakers = Vec::new();
        if !st.rx_closed {
            st.rx_closed = true;
            st.slots.waiter_wakers(&mut wakers);
            st.closed_waiters.notify_all(&mut wakers);
        }
        wakers
    }

    /// The receiver is dropped: close, and drop the buffered messages now.
    pub(crate) fn drop_rx(&self) {
        let mut st = self.lock();
        let mut wakers = Self::close_locked(&mut st);
        st.rx_dropped = true;
        st.rx_waker = None;
        let buffered = std::mem::take(&mut st.buffer);
        if self.bound.is_some() {
            for _ in 0..buffered.len() {
                wakers.extend(st.slots.release());
            }
        }
        drop(st);
        drop(buffered);
        wake_all(wakers);
    }
}

/// Why a slot could not be taken without waiting.
pub(crate) enum Reserve {
    Full,
    Closed,
}
