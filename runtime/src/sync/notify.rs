//! `Notify`: wake one task or all waiting tasks, with a stored permit.
//!
//! # Protocol
//!
//! `state` packs a two-bit state (EMPTY, WAITING: the queue is non-empty,
//! NOTIFIED: one permit stored) with a counter of `notify_waiters` calls in the
//! upper bits. Waiters sit in a FIFO [`SlabList`] behind `waiters`.
//!
//! - `notify_one` sets NOTIFIED with a CAS when the state is not WAITING (no lock);
//!   otherwise it takes the lock, unqueues the front waiter and marks it notified.
//! - A `Notified` consumes NOTIFIED with a CAS; otherwise it takes the lock and
//!   re-reads the state: it consumes a permit stored meanwhile, or sets WAITING
//!   and queues. WAITING is only set or cleared under the lock, and `notify_one`
//!   only leaves the lock-free path while the state is WAITING, so a permit is
//!   either stored (and seen by the waiter's re-read under the lock) or given to
//!   a queued waiter: never lost.
//! - `notify_waiters` bumps the counter: with a CAS when the state is not WAITING
//!   (no lock), otherwise under the lock while draining the queue. A `Notified`
//!   remembers the counter when it is created and completes as soon as it sees a
//!   different one, so it receives every `notify_waiters` call made after its
//!   creation, even before its first poll.
//! - A queued waiter shares one atomic word with its queue entry (`Slot`). A
//!   notifier removes the entry from the queue and writes the slot in the same
//!   critical section, so a woken waiter completes by reading its slot, without
//!   the lock; it takes the lock only to renew its waker or to leave the queue,
//!   and then reads the slot again under the lock (where a zero slot means its
//!   entry is still queued under its key). Slots are `Arc`s, reused: the queue
//!   keeps a few slots of waiters that left it and hands one to a new waiter once
//!   its previous `Notified` has dropped its clone (`Arc::get_mut`), so a task
//!   that waits in a loop allocates no slot per wait.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use super::waiters::{set_waker, SlabList, WakeList};
use crate::coop;
use crate::loom::{
    Arc, AtomicUsize, Mutex, MutexGuard, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
    Ordering::SeqCst,
};

const EMPTY: usize = 0;
const WAITING: usize = 1;
const NOTIFIED: usize = 2;
const STATE_MASK: usize = 3;
const CALL_ONE: usize = 4;

fn get_state(word: usize) -> usize {
    word & STATE_MASK
}

fn set_state(word: usize, state: usize) -> usize {
    (word & !STATE_MASK) | state
}

fn calls(word: usize) -> usize {
    word & !STATE_MASK
}

/// Notifies one task, or all waiting tasks, of an event. Carries no data.
///
/// - [`notify_one`](Notify::notify_one) wakes the task that waits longest; if none
///   waits it stores a single permit (permits do not add up), which the next
///   [`notified`](Notify::notified) future consumes at once. So a notification sent
///   just before a task starts waiting is not lost.
/// - [`notify_waiters`](Notify::notify_waiters) wakes every waiting task (every
///   `Notified` created before the call, polled or not) and stores no permit.
///
/// ```
/// use std::sync::Arc;
/// use tern_runtime::sync::Notify;
///
/// tern_runtime::block_on(async {
///     let notify = Arc::new(Notify::new());
///     let n2 = notify.clone();
///     let h = tern_runtime::spawn(async move { n2.notified().await; 1 });
///     notify.notify_one();
///     assert_eq!(h.await.unwrap(), 1);
/// });
/// ```
pub struct Notify {
    state: AtomicUsize,
    waiters: Mutex<Queue>,
}

/// The waiter queue and the slots kept for reuse, under `Notify::waiters`.
struct Queue {
    list: SlabList<Waiter>,
    /// Slots of waiters that left the queue, reused once their `Notified` has
    /// dropped its clone (at most [`SPARE_SLOTS`]): a task that waits again and
    /// again allocates no new slot.
    spare: Vec<Slot>,
}

/// Spare slots a `Notify` keeps.
const SPARE_SLOTS: usize = 4;

impl Queue {
    /// A `PENDING` slot for a new waiter: a spare that nobody else holds any more,
    /// or a new one.
    fn take_slot(&mut self) -> Slot {
        // `get_mut` succeeds only for the last reference, and its check synchronises
        // with the drop of every other clone, so the `Notified` that used the slot
        // is done with it before the store below.
        match self.spare.iter_mut().position(|s| Arc::get_mut(s).is_some()) {
            Some(i) => {
                let slot = self.spare.swap_remove(i);
                slot.store(PENDING, Relaxed);
                slot
            }
            None => Slot::new(AtomicUsize::new(PENDING)),
        }
    }

    /// Keeps the slot of a waiter that left the queue, if there is room.
    fn recycle(&mut self, slot: Slot) {
        if self.spare.len() < SPARE_SLOTS {
            self.spare.push(slot);
        }
    }
}

struct Waiter {
    waker: Option<Waker>,
    slot: Slot,
}

/// What a queued waiter was notified by, shared between its queue entry and its
/// `Notified`: `PENDING` while queued, then one of the `BY_*` values, written
/// once, under the lock, as the entry leaves the queue.
type Slot = Arc<AtomicUsize>;

const PENDING: usize = 0;
/// By `notify_one` (or a hand-off): hand it on as a permit if the `Notified` is
/// dropped before completing and nobody else waits.
const BY_ONE_STORE: usize = 1;
/// By `notify_one_waiter`: hand it on to a waiter only.
const BY_ONE: usize = 2;
/// By `notify_waiters`.
const BY_ALL: usize = 3;

impl Notify {
    /// A `Notify` with no stored permit.
    pub fn new() -> Notify {
        Notify {
            state: AtomicUsize::new(EMPTY),
            waiters: Mutex::new(Queue { list: SlabList::new(), spare: Vec::new() }),
        }
    }

    /// A future that completes when this is notified. It receives
    /// [`notify_waiters`](Notify::notify_waiters) calls from its creation on; it
    /// competes for [`notify_one`](Notify::notify_one) (and stored permits) from its
    /// first poll (or [`Notified::enable`]) on, in FIFO order.
    ///
    /// # Cancel safety
    /// Dropping a `Notified` that was picked by `notify_one` but not yet polled to
    /// completion hands the notification on to the next waiter (or stores it as a
    /// permit), so no `notify_one` is lost to cancellation.
    pub fn notified(&self) -> Notified<'_> {
        Notified { notify: self, calls: calls(self.state.load(SeqCst)), stage: Stage::Init }
    }

    /// Wakes the longest-waiting task, or stores one permit if no task waits.
    pub fn notify_one(&self) {
        self.notify_one_inner(true);
    }

    /// Wakes the longest-waiting task, if any; stores nothing otherwise (the
    /// semantics of a condition variable).
    pub(crate) fn notify_one_waiter(&self) {
        self.notify_one_inner(false);
    }

    fn notify_one_inner(&self, store: bool) {
        let mut curr = self.state.load(SeqCst);
        while get_state(curr) != WAITING {
            if !store {
                return;
            }
            match self.state.compare_exchange(curr, set_state(curr, NOTIFIED), SeqCst, SeqCst) {
                Ok(_) => return,
                Err(actual) => curr = actual,
            }
        }
        let mut q = self.waiters.lock();
        let waker = self.notify_locked(&mut q, store);
        drop(q);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Under the lock: gives a notification to the front waiter, or stores a
    /// permit (if `store`) when none waits. Returns the waker to fire.
    fn notify_locked(&self, q: &mut MutexGuard<'_, Queue>, store: bool) -> Option<Waker> {
        let mut curr = self.state.load(SeqCst);
        loop {
            if get_state(curr) == WAITING {
                let waiter = q.list.take_front().expect("WAITING with an empty queue");
                waiter.slot.store(if store { BY_ONE_STORE } else { BY_ONE }, Release);
                q.recycle(waiter.slot);
                if q.list.is_empty() {
                    // Nobody changes a WAITING state without the lock.
                    self.state.store(set_state(curr, EMPTY), SeqCst);
                }
                return waiter.waker;
            }
            if !store {
                return None;
            }
            match self.state.compare_exchange(curr, set_state(curr, NOTIFIED), SeqCst, SeqCst) {
                Ok(_) => return None,
                Err(actual) => curr = actual,
            }
        }
    }

    /// Wakes every task waiting now: every [`Notified`] created before this call
    /// completes, whether or not it was polled yet. Stores no permit.
    pub fn notify_waiters(&self) {
        // Nobody queued: bumping the counter is all there is to do. The CAS fails
        // if a waiter queues (sets WAITING) meanwhile; then drain under the lock.
        let mut curr = self.state.load(SeqCst);
        while get_state(curr) != WAITING {
            match self.state.compare_exchange(curr, curr.wrapping_add(CALL_ONE), SeqCst, SeqCst) {
                Ok(_) => return,
                Err(actual) => curr = actual,
            }
        }
        let mut wakers = WakeList::new();
        {
            let mut q = self.waiters.lock();
            let curr = self.state.load(SeqCst);
            if get_state(curr) == WAITING {
                wakers.reserve(q.list.len());
                while let Some(waiter) = q.list.take_front() {
                    waiter.slot.store(BY_ALL, Release);
                    wakers.push(waiter.waker);
                    q.recycle(waiter.slot);
                }
                self.state.store(set_state(curr.wrapping_add(CALL_ONE), EMPTY), SeqCst);
            } else {
                // EMPTY <-> NOTIFIED may change concurrently: add, do not store.
                self.state.fetch_add(CALL_ONE, SeqCst);
            }
        }
        wakers.wake_all();
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match get_state(self.state.load(SeqCst)) {
            EMPTY => "empty",
            WAITING => "waiting",
            _ => "notified",
        };
        f.debug_struct("Notify").field("state", &state).finish()
    }
}

enum Stage {
    /// Not registered yet.
    Init,
    /// Queued under this key, sharing this slot with the queue entry.
    Waiting(usize, Slot),
    /// Completed.
    Done,
}

/// Future returned by [`Notify::notified`]. Each poll spends one unit of the
/// co-operative budget.
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    /// `notify_waiters` counter at creation.
    calls: usize,
    stage: Stage,
}

impl Notified<'_> {
    /// Registers as a waiter without a waker (so a later `notify_one` can pick
    /// this future even before it is polled), or completes. Returns `true` if the
    /// future is already notified (it will complete on its next poll).
    ///
    /// Use it to register before checking a condition, without the race of a
    /// notification in between.
    pub fn enable(self: Pin<&mut Self>) -> bool {
        self.get_mut().poll_inner(None).is_ready()
    }

    fn poll_inner(&mut self, waker: Option<&Waker>) -> Poll<()> {
        let notify = self.notify;
        match self.stage {
            Stage::Done => Poll::Ready(()),
            Stage::Waiting(key, ref slot) => {
                // Woken: the notifier already took the entry out of the queue.
                if slot.load(Acquire) != PENDING {
                    self.stage = Stage::Done;
                    return Poll::Ready(());
                }
                let Some(w) = waker else { return Poll::Pending };
                let mut q = notify.waiters.lock();
                if slot.load(Acquire) != PENDING {
                    drop(q);
                    self.stage = Stage::Done;
                    return Poll::Ready(());
                }
                // Still PENDING under the lock: the entry is queued under `key`.
                set_waker(&mut q.list.get_mut(key).waker, w);
                Poll::Pending
            }
            Stage::Init => {
                // Lock-free: a `notify_waiters` since creation, or a stored permit.
                let mut curr = notify.state.load(SeqCst);
                loop {
                    if calls(curr) != self.calls {
                        self.stage = Stage::Done;
                        return Poll::Ready(());
                    }
                    if get_state(curr) != NOTIFIED {
                        break;
                    }
                    match notify.state.compare_exchange(curr, set_state(curr, EMPTY), SeqCst, SeqCst) {
                        Ok(_) => {
                            self.stage = Stage::Done;
                            return Poll::Ready(());
                        }
                        Err(actual) => curr = actual,
                    }
                }
                let mut q = notify.waiters.lock();
                let mut curr = notify.state.load(SeqCst);
                loop {
                    if calls(curr) != self.calls {
                        self.stage = Stage::Done;
                        return Poll::Ready(());
                    }
                    let next = match get_state(curr) {
                        WAITING => break,
                        NOTIFIED => EMPTY,
                        _ => WAITING,
                    };
                    match notify.state.compare_exchange(curr, set_state(curr, next), SeqCst, SeqCst) {
                        Ok(_) if next == EMPTY => {
                            self.stage = Stage::Done;
                            return Poll::Ready(());
                        }
                        Ok(_) => break,
                        Err(actual) => curr = actual,
                    }
                }
                let slot = q.take_slot();
                let key = q.list.push_back(Waiter { waker: waker.cloned(), slot: slot.clone() });
                self.stage = Stage::Waiting(key, slot);
                Poll::Pending
            }
        }
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let coop = ready!(coop::poll_proceed(cx));
        let r = self.get_mut().poll_inner(Some(cx.waker()));
        if r.is_ready() {
            coop.made_progress();
        }
        r
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Stage::Waiting(key, ref slot) = self.stage else { return };
        let notify = self.notify;
        if slot.load(Acquire) == BY_ALL {
            // Nothing to hand on, and the entry is gone.
            return;
        }
        let mut q = notify.waiters.lock();
        let store = match slot.load(Acquire) {
            PENDING => {
                // Still queued under `key`: leave the queue.
                let waiter = q.list.remove(key);
                q.recycle(waiter.slot);
                if q.list.is_empty() {
                    let curr = notify.state.load(SeqCst);
                    if get_state(curr) == WAITING {
                        notify.state.store(set_state(curr, EMPTY), SeqCst);
                    }
                }
                return;
            }
            BY_ONE_STORE => true,
            BY_ONE => false,
            _ => return,
        };
        // Picked by `notify_one` but never completed: pass it on.
        let waker = notify.notify_locked(&mut q, store);
        drop(q);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            Stage::Init => "init",
            Stage::Waiting(..) => "waiting",
            Stage::Done => "done",
        };
        f.debug_struct("Notified").field("stage", &stage).finish()
    }
}
