//! A waker slot that one task registers into and any thread wakes, without a lock
//! and without waiting: the receiver's waker of an mpsc channel.
//!
//! # Protocol
//!
//! Wakers are stored in [`Slot`]s. `current` points at the slot holding the
//! registered waker (null when none is registered), and a slot belongs to exactly
//! one party at a time:
//!
//! - the **registrar** (the single receiver), while the slot's `busy` flag is
//!   clear: it may write the slot's waker;
//! - **`current`**, from the registrar's `swap` that publishes it;
//! - a **taker**, from its `swap` of `current` to null (acquire-release) that
//!   returned the slot, until it has moved the waker out and cleared `busy`
//!   (release). Then the registrar owns the slot again.
//!
//! `register` writes a clone of the waker into a slot it owns, sets `busy`, and
//! `swap`s the slot into `current` (acquire-release). A slot it gets back was
//! never taken: it drops that waker and keeps the slot. Two slots are inline, so
//! the registrar always has one while the other is in `current`; only if a taker
//! still holds the other one (a taker stalled between its `swap` and clearing
//! `busy`) does it fall back to a heap slot, which the taker frees.
//!
//! No state needs waiting for: unlike the `REGISTERING`/`WAKING` state machine of
//! `futures`' `AtomicWaker`, a `register` never meets a wake "in progress" on its
//! slot, so it never has to wake its own task to be polled again.
//!
//! Ordering: a task publishes its change (a message, a close), then calls `take`;
//! the receiver registers, then re-checks. Both `swap`s are RMWs on `current`, so
//! either the `take` comes later in that word's order and finds the new slot (the
//! task is woken), or the register's `swap` reads from it (or from a later swap),
//! synchronises with it, and the re-check sees the change.

use std::ptr;
use std::task::Waker;

use crate::loom::{AtomicBool, AtomicPtr, Ordering, UnsafeCell};

struct Slot {
    waker: UnsafeCell<Option<Waker>>,
    /// Set by the registrar before it publishes the slot; cleared by whoever gives
    /// it back to the registrar.
    busy: AtomicBool,
}

impl Slot {
    fn new() -> Slot {
        Slot { waker: UnsafeCell::new(None), busy: AtomicBool::new(false) }
    }
}

/// (`pub` only for the loom models, through `tern_runtime::__loom`.)
pub struct AtomicWaker {
    current: AtomicPtr<Slot>,
    inline: [Slot; 2],
}

// SAFETY: a slot's waker is only accessed by the slot's owner (see the protocol);
// `Waker` is `Send + Sync`.
unsafe impl Send for AtomicWaker {}
// SAFETY: as for `Send`.
unsafe impl Sync for AtomicWaker {}

impl AtomicWaker {
    /// An empty slot.
    #[allow(clippy::new_without_default)]
    pub fn new() -> AtomicWaker {
        AtomicWaker { current: AtomicPtr::new(ptr::null_mut()), inline: [Slot::new(), Slot::new()] }
    }

    fn is_inline(&self, slot: *const Slot) -> bool {
        ptr::eq(slot, &self.inline[0]) || ptr::eq(slot, &self.inline[1])
    }

    /// Stores a clone of `waker` for the next [`AtomicWaker::take`], replacing
    /// any waker stored before.
    ///
    /// # Safety
    /// One registering thread at a time (the channel's receiver).
    pub unsafe fn register(&self, waker: &Waker) {
        let free = self.inline.iter().find(|s| !s.busy.load(Ordering::Acquire));
        let slot: *mut Slot = match free {
            Some(s) => ptr::from_ref(s).cast_mut(),
            None => Box::into_raw(Box::new(Slot::new())),
        };
        // SAFETY: the registrar owns `slot`: an inline slot whose `busy` is clear
        // (its last taker finished, acquire above), or a new heap slot.
        unsafe {
            (*slot).waker.with_mut(|w| *w = Some(waker.clone()));
            (*slot).busy.store(true, Ordering::Relaxed);
        }
        let old = self.current.swap(slot, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: the swap took `old` out of `current` before any taker did:
            // the registrar owns it now.
            unsafe { self.give_back(old) };
        }
    }

    /// Takes the stored waker out, if any.
    pub fn take(&self) -> Option<Waker> {
        let slot = self.current.swap(ptr::null_mut(), Ordering::AcqRel);
        if slot.is_null() {
            return None;
        }
        // SAFETY: the swap made this thread the slot's owner until it clears `busy`.
        unsafe {
            let w = (*slot).waker.with_mut(|w| (*w).take());
            self.give_back(slot);
            w
        }
    }

    /// Returns an emptied slot to the registrar (inline) or frees it (heap).
    ///
    /// # Safety
    /// The caller owns `slot` and does not touch it afterwards.
    unsafe fn give_back(&self, slot: *mut Slot) {
        if self.is_inline(slot) {
            // SAFETY: the caller owns the slot until the release store below.
            unsafe {
                drop((*slot).waker.with_mut(|w| (*w).take()));
                (*slot).busy.store(false, Ordering::Release);
            }
        } else {
            // SAFETY: heap slots come from `Box::into_raw` in `register`, and the
            // caller owns this one.
            drop(unsafe { Box::from_raw(slot) });
        }
    }

    /// Wakes the stored waker, if any (see [`AtomicWaker::take`]).
    pub fn wake(&self) {
        if let Some(w) = self.take() {
            w.wake();
        }
    }
}

impl Drop for AtomicWaker {
    fn drop(&mut self) {
        drop(self.take());
    }
}

impl std::fmt::Debug for AtomicWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicWaker")
            .field("registered", &!self.current.load(Ordering::Relaxed).is_null())
            .finish()
    }
}
