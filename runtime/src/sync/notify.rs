//! `Notify`: wake one task or all waiting tasks, with a stored permit.
//!
//! # Protocol
//!
//! `state` packs a two-bit state (EMPTY, WAITING: the queue is non-empty,
//! NOTIFIED: one permit stored) with a counter of `notify_waiters` calls in the
//! upper bits. Waiters sit in a FIFO [`SlabList`] behind `waiters`.
//!
//! - `notify_one` sets NOTIFIED with a CAS when the state is not WAITING (no lock);
//!   otherwise it takes the lock and marks the front waiter notified.
//! - A `Notified` consumes NOTIFIED with a CAS; otherwise it takes the lock and
//!   re-reads the state: it consumes a permit stored meanwhile, or sets WAITING
//!   and queues. WAITING is only set or cleared under the lock, and `notify_one`
//!   only leaves the lock-free path while the state is WAITING, so a permit is
//!   either stored (and seen by the waiter's re-read under the lock) or given to
//!   a queued waiter: never lost.
//! - `notify_waiters` bumps the counter and drains the queue under the lock. A
//!   `Notified` remembers the counter when it is created and completes as soon as
//!   it sees a different one, so it receives every `notify_waiters` call made after
//!   its creation, even before its first poll.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use super::waiters::{set_waker, SlabList, WakeList};
use crate::coop;
use crate::loom::{AtomicUsize, Mutex, MutexGuard, Ordering::SeqCst};

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
    waiters: Mutex<SlabList<Waiter>>,
}

struct Waiter {
    waker: Option<Waker>,
    notified: Option<Kind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// By `notify_one` (or a hand-off); `store`: hand it on as a permit if the
    /// `Notified` is dropped and nobody else waits.
    One { store: bool },
    /// By `notify_waiters`.
    All,
}

impl Notify {
    /// A `Notify` with no stored permit.
    pub fn new() -> Notify {
        Notify { state: AtomicUsize::new(EMPTY), waiters: Mutex::new(SlabList::new()) }
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
        let mut list = self.waiters.lock();
        let waker = self.notify_locked(&mut list, store);
        drop(list);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Under the lock: gives a notification to the front waiter, or stores a
    /// permit (if `store`) when none waits. Returns the waker to fire.
    fn notify_locked(&self, list: &mut MutexGuard<'_, SlabList<Waiter>>, store: bool) -> Option<Waker> {
        let mut curr = self.state.load(SeqCst);
        loop {
            if get_state(curr) == WAITING {
                let key = list.pop_front().expect("WAITING with an empty queue");
                let waiter = list.get_mut(key);
                waiter.notified = Some(Kind::One { store });
                let waker = waiter.waker.take();
                if list.is_empty() {
                    // Nobody changes a WAITING state without the lock.
                    self.state.store(set_state(curr, EMPTY), SeqCst);
                }
                return waker;
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
        let mut wakers = WakeList::new();
        {
            let mut list = self.waiters.lock();
            let curr = self.state.load(SeqCst);
            if get_state(curr) == WAITING {
                while let Some(key) = list.pop_front() {
                    let waiter = list.get_mut(key);
                    waiter.notified = Some(Kind::All);
                    wakers.push(waiter.waker.take());
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
    /// Queued under this key.
    Waiting(usize),
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
            Stage::Waiting(key) => {
                let mut list = notify.waiters.lock();
                let waiter = list.get_mut(key);
                if waiter.notified.is_some() {
                    list.remove(key);
                    self.stage = Stage::Done;
                    return Poll::Ready(());
                }
                if let Some(w) = waker {
                    set_waker(&mut waiter.waker, w);
                }
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
                let mut list = notify.waiters.lock();
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
                let key = list.push_back(Waiter { waker: waker.cloned(), notified: None });
                self.stage = Stage::Waiting(key);
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
        let Stage::Waiting(key) = self.stage else { return };
        let notify = self.notify;
        let mut list = notify.waiters.lock();
        let waiter = list.remove(key);
        if list.is_empty() {
            let curr = notify.state.load(SeqCst);
            if get_state(curr) == WAITING {
                notify.state.store(set_state(curr, EMPTY), SeqCst);
            }
        }
        if let Some(Kind::One { store }) = waiter.notified {
            // Picked by `notify_one` but never completed: pass it on.
            let waker = notify.notify_locked(&mut list, store);
            drop(list);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            Stage::Init => "init",
            Stage::Waiting(_) => "waiting",
            Stage::Done => "done",
        };
        f.debug_struct("Notified").field("stage", &stage).finish()
    }
}
