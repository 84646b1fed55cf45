//! Building blocks shared by the semaphore and `Notify`: a FIFO queue of waiter
//! nodes kept in a slab (so a waiting future holds a plain key, needs no pinning
//! and no `unsafe`), and a small list of wakers to fire after a lock is released.

use std::task::Waker;

use slab::Slab;

const NIL: usize = usize::MAX;

struct Entry<T> {
    value: T,
    prev: usize,
    next: usize,
    linked: bool,
}

/// A doubly linked FIFO queue threaded through a slab. An entry stays in the slab
/// (addressable by its key) after it is unlinked from the queue, until its owner
/// removes it: the owner (a waiting future) is the only one that ever frees a
/// key, so keys are never reused under it.
pub(crate) struct SlabList<T> {
    slab: Slab<Entry<T>>,
    head: usize,
    tail: usize,
}

impl<T> SlabList<T> {
    pub(crate) fn new() -> Self {
        SlabList { slab: Slab::new(), head: NIL, tail: NIL }
    }

    /// No entry is linked into the queue.
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// Stores `value` and links it at the back of the queue; returns its key.
    pub(crate) fn push_back(&mut self, value: T) -> usize {
        let key = self.slab.insert(Entry { value, prev: self.tail, next: NIL, linked: true });
        if self.tail == NIL {
            self.head = key;
        } else {
            self.slab[self.tail].next = key;
        }
        self.tail = key;
        key
    }

    /// Number of stored entries (linked or not).
    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    /// Unlinks and frees the front entry, returning its value.
    pub(crate) fn take_front(&mut self) -> Option<T> {
        let key = self.front()?;
        Some(self.remove(key))
    }

    /// Key of the entry at the front of the queue.
    pub(crate) fn front(&self) -> Option<usize> {
        (self.head != NIL).then_some(self.head)
    }

    /// Unlinks the front entry (it stays stored) and returns its key.
    pub(crate) fn pop_front(&mut self) -> Option<usize> {
        let key = self.front()?;
        self.unlink(key);
        Some(key)
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> &mut T {
        &mut self.slab[key].value
    }

    /// Unlinks `key` from the queue if it is linked; returns whether it was.
    pub(crate) fn unlink(&mut self, key: usize) -> bool {
        let e = &mut self.slab[key];
        if !e.linked {
            return false;
        }
        e.linked = false;
        let (prev, next) = (e.prev, e.next);
        e.prev = NIL;
        e.next = NIL;
        if prev == NIL {
            self.head = next;
        } else {
            self.slab[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slab[next].prev = prev;
        }
        true
    }

    /// Unlinks (if needed) and frees `key`, returning its value.
    pub(crate) fn remove(&mut self, key: usize) -> T {
        self.unlink(key);
        self.slab.remove(key).value
    }
}

/// Wakers collected under a lock and fired after it is released. The first one
/// is stored inline, so waking a single waiter does not allocate.
#[derive(Default)]
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    pub(crate) fn new() -> Self {
        WakeList::default()
    }

    /// Makes room for `n` more wakers without reallocating.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.rest.reserve(n.saturating_sub(1));
    }

    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(w) = waker else { return };
        if self.first.is_none() {
            self.first = Some(w);
        } else {
            self.rest.push(w);
        }
    }

    pub(crate) fn wake_all(self) {
        if let Some(w) = self.first {
            w.wake();
        }
        for w in self.rest {
            w.wake();
        }
    }
}

/// Stores `waker` in `slot` unless the one there already wakes the same task.
pub(crate) fn set_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}
