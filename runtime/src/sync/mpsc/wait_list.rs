//! A FIFO list of parked tasks, kept under the owning channel's lock.
//!
//! Shared by every channel in `sync/` (it lives here because `sync/mod.rs` is not
//! this module's to edit). Each waiting future owns one entry, found again through
//! the key `push_back` returned; an entry leaves the *list* when it is notified,
//! but its slot stays until its owner calls [`WaitList::remove`], so a key is never
//! reused while a future still holds it. The list is doubly linked through slab
//! indices: pushing, notifying the head and removing any entry are O(1).

use std::task::Waker;

use slab::Slab;

#[derive(Debug)]
struct Node {
    waker: Waker,
    prev: Option<usize>,
    next: Option<usize>,
    /// Unlinked by `notify_one` (and, for a permit list, handed a permit).
    notified: bool,
}

/// Waiters in arrival order.
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    nodes: Slab<Node>,
    head: Option<usize>,
    tail: Option<usize>,
}

impl WaitList {
    pub(crate) fn new() -> WaitList {
        WaitList::default()
    }

    /// `true` when no entry is linked (notified entries not yet removed don't count).
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Appends a waiter; the returned key identifies it until [`WaitList::remove`].
    pub(crate) fn push_back(&mut self, waker: &Waker) -> usize {
        let key =
            self.nodes.insert(Node { waker: waker.clone(), prev: self.tail, next: None, notified: false });
        match self.tail {
            Some(t) => self.nodes[t].next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        key
    }

    /// Stores `waker` in entry `key` unless it would wake the same task already.
    pub(crate) fn set_waker(&mut self, key: usize, waker: &Waker) {
        let node = &mut self.nodes[key];
        if !node.waker.will_wake(waker) {
            node.waker = waker.clone();
        }
    }

    /// Whether entry `key` was notified.
    pub(crate) fn is_notified(&self, key: usize) -> bool {
        self.nodes[key].notified
    }

    /// Frees entry `key` (unlinking it if still linked); returns whether it had
    /// been notified.
    pub(crate) fn remove(&mut self, key: usize) -> bool {
        if !self.nodes[key].notified {
            self.unlink(key);
        }
        self.nodes.remove(key).notified
    }

    /// Unlinks the oldest waiter, marks it notified and returns its waker (to be
    /// woken after the lock is released).
    pub(crate) fn notify_one(&mut self) -> Option<Waker> {
        let key = self.head?;
        self.unlink(key);
        let node = &mut self.nodes[key];
        node.notified = true;
        Some(node.waker.clone())
    }

    /// Unlinks and notifies every waiter, appending their wakers to `out`.
    pub(crate) fn notify_all(&mut self, out: &mut Vec<Waker>) {
        while let Some(w) = self.notify_one() {
            out.push(w);
        }
    }

    /// Clones the waker of every linked waiter, leaving them linked and
    /// un-notified (each re-checks the channel's state when polled).
    pub(crate) fn wakers(&self, out: &mut Vec<Waker>) {
        let mut cur = self.head;
        while let Some(k) = cur {
            out.push(self.nodes[k].waker.clone());
            cur = self.nodes[k].next;
        }
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next) = {
            let n = &mut self.nodes[key];
            (n.prev.take(), n.next.take())
        };
        match prev {
            Some(p) => self.nodes[p].next = next,
            None => self.head = next,
        }
        match next {
            Some(n) => self.nodes[n].prev = prev,
            None => self.tail = prev,
        }
    }
}

/// Wakes every waker in `wakers` (call with no lock held).
pub(crate) fn wake_all(wakers: Vec<Waker>) {
    for w in wakers {
        w.wake();
    }
}

/// A counted resource (buffer slots, or items for a queue's consumers) with FIFO
/// waiters. A released unit goes straight to the oldest waiter (its entry is
/// notified), so a newcomer never overtakes a waiter, and a notified waiter that
/// gives up hands its unit on with [`Permits::cancel`]: nothing is lost.
#[derive(Debug)]
pub(crate) struct Permits {
    available: usize,
    waiters: WaitList,
}

impl Permits {
    pub(crate) fn new(available: usize) -> Permits {
        Permits { available, waiters: WaitList::new() }
    }

    /// Takes a unit if one is free and nobody waits for one.
    pub(crate) fn try_acquire(&mut self) -> bool {
        if self.available > 0 && self.waiters.is_empty() {
            self.available -= 1;
            true
        } else {
            false
        }
    }

    /// Takes a unit or queues the caller. `waiter` is the caller's entry (`None`
    /// before it first waits); it is `None` again after `Ready`.
    pub(crate) fn poll_acquire(&mut self, waiter: &mut Option<usize>, waker: &Waker) -> bool {
        match *waiter {
            Some(key) if self.waiters.is_notified(key) => {
                self.waiters.remove(key);
                *waiter = None;
                true
            }
            Some(key) => {
                self.waiters.set_waker(key, waker);
                false
            }
            None if self.try_acquire() => true,
            None => {
                *waiter = Some(self.waiters.push_back(waker));
                false
            }
        }
    }

    /// Gives up the caller's place; a unit it had already been handed goes to the
    /// next waiter (whose waker is returned) or back to the pool.
    pub(crate) fn cancel(&mut self, waiter: &mut Option<usize>) -> Option<Waker> {
        let key = waiter.take()?;
        if self.waiters.remove(key) {
            self.release()
        } else {
            None
        }
    }

    /// Returns one unit: to the oldest waiter (whose waker is returned) or to the pool.
    pub(crate) fn release(&mut self) -> Option<Waker> {
        let w = self.waiters.notify_one();
        if w.is_none() {
            self.available += 1;
        }
        w
    }

    /// The wakers of every waiter (for closing: each re-checks and fails).
    pub(crate) fn waiter_wakers(&self, out: &mut Vec<Waker>) {
        self.waiters.wakers(out);
    }
}
