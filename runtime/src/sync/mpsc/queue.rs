//! The lock-free message queue under both mpsc flavours: many senders push, one
//! receiver pops, in one global order.
//!
//! # Layout
//!
//! Messages live in a singly linked list of blocks of [`BLOCK_CAP`] slots. Every
//! message has an index (its position in the channel, counted from 0, modulo
//! 2^(`usize::BITS` - 1)); block `b` holds indices `b.start .. b.start + BLOCK_CAP`
//! and its successor starts where it ends.
//!
//! `tail` holds the next index to hand out, shifted left by one, with the CLOSED
//! flag in bit 0. `block_tail` points at a block no later than the block of any
//! index a sender has claimed but not yet written (see "Finding a block").
//!
//! # Sending
//!
//! 1. Claim an index with one `fetch_add` on `tail` (acquire-release). Its result
//!    also says whether the queue was closed: a claim that finds CLOSED still owns
//!    its slot (the receiver will wait for it), so it marks the slot as a
//!    tombstone (a bit in the block's `skipped` word) instead of writing a value,
//!    and the send fails.
//! 2. Find the index's block, walking from `block_tail` and appending blocks as
//!    needed (a CAS on the last block's `next`, null to new; whoever loses the
//!    race appends its block further down instead, so no allocation is wasted).
//! 3. Write the value into the slot, then publish it: one `fetch_or`
//!    (acquire-release) on the block's `ready` word sets the slot's bit. The
//!    value it returns says whether the receiver is waiting for exactly this slot
//!    (see "Waiting"); only then does the sender wake it.
//!
//! Nothing waits: a sender never depends on another sender's progress. (The
//! receiver does: a message is received only after every message claimed before
//! it is written, as in any FIFO queue.)
//!
//! # Receiving
//!
//! The receiver keeps its own index `head` and block. It loads the block's
//! `ready` word (acquire); if the slot's bit is clear, nothing is available yet
//! (the slot may be claimed and still being written). Otherwise it takes the
//! value (skipping tombstones, which exist only once the receiver closed the
//! queue) and moves on; at the end of a block it follows `next` (acquire), which
//! may still be null.
//!
//! # Waiting
//!
//! Messages arrive in index order, so a receiver that found slot `head` empty can
//! only be helped by the sender of that one slot. Before it sleeps, it registers
//! its waker (in the channel's `AtomicWaker`) and then *arms* the slot: one
//! `fetch_xor` (acquire-release) on the same `ready` word writes `WAITING` and the
//! slot number into bits above the slot bits (the receiver is the only writer of
//! those bits; the block of `head` is linked first if it does not exist yet). That
//! RMW and the sender's publishing `fetch_or` are ordered on one word:
//!
//! - publication first: the arming RMW returns the slot's bit, and the receiver
//!   takes the message instead of sleeping;
//! - arming first: the publishing RMW returns the armed slot, and it synchronises
//!   with the arming RMW, so the sender's wake finds the waker registered before.
//!
//! So no sender pays for a wake-up that nobody waits for (no RMW on the waker
//! per message), and no fence is needed. The field is stale once the slot is
//! published; the receiver replaces it (the same XOR) when it arms another slot
//! of the block, and a block's reuse clears it.
//!
//! # Finding a block, and freeing it
//!
//! A block may be freed only when no sender can reach it any more. Senders reach
//! blocks only by loading `block_tail` (after claiming their index) and walking
//! `next` from there, so:
//!
//! - `block_tail` moves from a block `B` to `B.next` (a CAS, by a sender walking
//!   past) only once every slot of `B` is published (`B` is *final*). Then no sender
//!   still needs `B` for its own slot, and every unwritten slot is at or after
//!   `block_tail`, so a walk never has to go backwards.
//! - Right after moving `block_tail` off `B`, the sender that did it reads `tail`
//!   with an RMW (`fetch_add(0)`, acquire-release) and stores the index it saw in
//!   `B.released`. A sender that loaded `B` from `block_tail` claimed its index with
//!   its own RMW on `tail` before that: had its RMW come after the observing one,
//!   it would have synchronised with it, so its later load of `block_tail` would
//!   have seen the move. Hence every sender that can still be in `B` (or walking
//!   on from it) holds an index below `B.released`.
//! - The receiver frees the blocks it has passed, in list order, each once it is
//!   released and `head` has reached its `released` index. Every sender with a
//!   smaller index has published its slot (its last access to any block) and the
//!   receiver has read that publication (acquire), so nobody touches the block any
//!   more. A freed block is reset and appended at the end of the list for reuse
//!   (a few tries), or deallocated.
//!
//! # Closing and dropping
//!
//! [`Queue::close`] sets CLOSED (the unbounded channel's `Receiver::close`): every
//! later claim fails, and the receiver knows the queue is finished once `head`
//! reaches the index `tail` held. Dropping the queue (when every handle of the
//! channel is gone, so every claimed slot is published) drops the values from
//! `head` on and frees every block.

use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};

use crossbeam_utils::CachePadded;

use crate::loom::{AtomicPtr, AtomicUsize, Ordering, UnsafeCell};

/// Slots per block: half the bits of the `ready` word (the upper half holds the
/// receiver's wait field). Two under loom, so the models cross block boundaries.
#[cfg(not(loom))]
pub(crate) const BLOCK_CAP: usize = usize::BITS as usize / 2;
#[cfg(loom)]
pub(crate) const BLOCK_CAP: usize = 2;

const SLOT_MASK: usize = BLOCK_CAP - 1;
/// The `ready` bits of a block whose every slot is published.
const FINAL: usize = (1 << BLOCK_CAP) - 1;
/// In `ready`, above the slot bits: the receiver waits for the slot numbered in
/// the bits from `WAIT_SHIFT` on.
const WAITING: usize = 1 << BLOCK_CAP;
const WAIT_SHIFT: u32 = BLOCK_CAP as u32 + 1;
const _: () = assert!(WAIT_SHIFT + SLOT_MASK.count_ones() <= usize::BITS, "the wait field fits in `ready`");
/// Bit 0 of `tail`.
const CLOSED: usize = 1;
/// Indices count modulo 2^(`usize::BITS` - 1) (they live in `tail >> 1`).
const INDEX_MASK: usize = usize::MAX >> 1;
/// Bit 0 of `Block::released`: `block_tail` has moved past the block.
const RELEASED: usize = 1;
/// How many blocks the receiver walks to append a freed block for reuse.
const REUSE_TRIES: usize = 3;

fn next_index(i: usize, n: usize) -> usize {
    i.wrapping_add(n) & INDEX_MASK
}

/// `a` is at or after `b` (indices are close to each other, so a wrapping
/// distance below half the index space means "after").
fn at_or_after(a: usize, b: usize) -> bool {
    a.wrapping_sub(b) & INDEX_MASK <= INDEX_MASK / 2
}

struct Block<T> {
    /// Index of slot 0. Written only while the block is private (new, or being
    /// reset for reuse by the receiver), read by whoever reached the block through
    /// an acquire load of the pointer to it.
    start: usize,
    next: AtomicPtr<Block<T>>,
    /// Bit `s`: slot `s` is published. Above: `WAITING` and the slot the receiver
    /// waits for (written only by the receiver).
    ready: AtomicUsize,
    /// Bit `s`: slot `s` is a tombstone (set before its `ready` bit).
    skipped: AtomicUsize,
    /// `observed << 1 | RELEASED` once `block_tail` moved past this block, where
    /// `observed` is the `tail` index seen right after; 0 before.
    released: AtomicUsize,
    slots: [UnsafeCell<MaybeUninit<T>>; BLOCK_CAP],
    /// Under loom: read on every sender access, written when the receiver
    /// reclaims the block, so a sender access that is not ordered before the
    /// reclamation is a loom causality error.
    #[cfg(loom)]
    live: UnsafeCell<()>,
}

impl<T> Block<T> {
    fn alloc(start: usize) -> NonNull<Block<T>> {
        let block = Box::new(Block {
            start,
            next: AtomicPtr::new(ptr::null_mut()),
            ready: AtomicUsize::new(0),
            skipped: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            slots: std::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
            #[cfg(loom)]
            live: UnsafeCell::new(()),
        });
        NonNull::from(Box::leak(block))
    }

    /// A sender is about to access this block (checked under loom only).
    #[inline(always)]
    fn touch(&self) {
        #[cfg(loom)]
        self.live.with(|_| ());
    }

    /// The receiver reclaims this block (checked under loom only).
    #[inline(always)]
    fn retire(&self) {
        #[cfg(loom)]
        self.live.with_mut(|_| ());
    }

    fn is_final(&self) -> bool {
        self.ready.load(Ordering::Acquire) & FINAL == FINAL
    }

    /// Publishes slot `slot`; `true` if the receiver waits for exactly this slot.
    fn publish(&self, slot: usize) -> bool {
        self.touch();
        // Acquire too: if the receiver armed this slot, its waker registration
        // happened before, and the caller's wake must find it.
        let prev = self.ready.fetch_or(1 << slot, Ordering::AcqRel);
        prev & WAITING != 0 && (prev >> WAIT_SHIFT) & SLOT_MASK == slot
    }
}

/// Sender-side state (one cache line, written by every send).
struct Tx<T> {
    tail: AtomicUsize,
    block_tail: AtomicPtr<Block<T>>,
}

/// Receiver-side state (another cache line, only the receiver touches it).
struct Rx<T> {
    /// Index of the next message to receive.
    head: usize,
    /// The block holding `head`, or its predecessor when `head` just left it.
    block: NonNull<Block<T>>,
    /// The oldest block not yet freed (`block` or before it).
    free_head: NonNull<Block<T>>,
    /// The wait field this receiver wrote into `block`'s `ready` word (0: none).
    armed: usize,
    /// The receiver closed the queue: tombstones may exist.
    closed: bool,
    /// Under loom, reclaimed blocks are kept allocated until the queue is dropped,
    /// so that a (buggy) late access is reported by loom rather than being a
    /// use-after-free.
    #[cfg(loom)]
    graveyard: Vec<NonNull<Block<T>>>,
}

pub(crate) struct Queue<T> {
    tx: CachePadded<Tx<T>>,
    rx: CachePadded<UnsafeCell<Rx<T>>>,
}

// SAFETY: values of type `T` are moved in by senders and out by the receiver
// (possibly on other threads), hence `T: Send`. The raw block pointers are shared
// under the protocol in the module docs.
unsafe impl<T: Send> Send for Queue<T> {}
// SAFETY: `&Queue` only allows the operations above: pushes from any thread, and
// receiver-side operations whose callers promise to be the single receiver.
unsafe impl<T: Send> Sync for Queue<T> {}

/// What [`Queue::push`] did.
pub(crate) struct Pushed<T> {
    /// `Err` gives the value back: the queue was closed.
    pub(crate) result: Result<(), T>,
    /// The receiver waits for this slot: the caller must wake it.
    pub(crate) wake: bool,
}

/// What [`Queue::pop`] found.
pub(crate) enum Pop<T> {
    Value(T),
    /// Nothing published at `head` yet.
    Empty,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Queue<T> {
        let first = Block::alloc(0);
        Queue {
            tx: CachePadded::new(Tx {
                tail: AtomicUsize::new(0),
                block_tail: AtomicPtr::new(first.as_ptr()),
            }),
            rx: CachePadded::new(UnsafeCell::new(Rx {
                head: 0,
                block: first,
                free_head: first,
                armed: 0,
                closed: false,
                #[cfg(loom)]
                graveyard: Vec::new(),
            })),
        }
    }

    /// Appends `value`, or gives it back if the queue was closed.
    pub(crate) fn push(&self, value: T) -> Pushed<T> {
        let tail = self.tx.tail.fetch_add(1 << 1, Ordering::AcqRel);
        let index = tail >> 1;
        let block = self.find_block(index);
        // SAFETY: `find_block` returned a live block (module docs: it is not freed
        // before the receiver has read this slot's publication, which comes below).
        let block = unsafe { block.as_ref() };
        let slot = index & SLOT_MASK;
        if tail & CLOSED == CLOSED {
            block.skipped.fetch_or(1 << slot, Ordering::Relaxed);
            return Pushed { wake: block.publish(slot), result: Err(value) };
        }
        // SAFETY: this sender claimed `index`, so no one else writes the slot, and
        // the receiver reads it only after the publication below.
        block.slots[slot].with_mut(|p| unsafe { (*p).write(value) });
        Pushed { wake: block.publish(slot), result: Ok(()) }
    }

    /// The block holding `index` (claimed by the caller and not yet published).
    #[inline]
    fn find_block(&self, index: usize) -> NonNull<Block<T>> {
        let target = index & !SLOT_MASK;
        let block = self.tx.block_tail.load(Ordering::Acquire);
        // SAFETY: as in `walk_to`; the common case: the slot is in `block_tail`.
        let b = unsafe { &*block };
        b.touch();
        if b.start == target {
            // SAFETY: `block_tail` is never null.
            return unsafe { NonNull::new_unchecked(block) };
        }
        self.walk_to(block, target)
    }

    /// The slow path of [`Queue::find_block`]: walks from `block` (loaded from
    /// `block_tail`) to the block starting at `target`.
    #[cold]
    fn walk_to(&self, mut block: *mut Block<T>, target: usize) -> NonNull<Block<T>> {
        let mut may_advance = true;
        loop {
            // SAFETY: `block` came from `block_tail` (loaded after claiming `index`)
            // or from `next` links after it: it is not freed before the receiver
            // has read this caller's slot (module docs).
            let b = unsafe { &*block };
            b.touch();
            debug_assert!(at_or_after(target, b.start), "a claimed slot's block is behind block_tail");
            if b.start == target {
                // SAFETY: pointers in `block_tail` and `next` are never null here.
                return unsafe { NonNull::new_unchecked(block) };
            }
            let mut next = b.next.load(Ordering::Acquire);
            if next.is_null() {
                next = self.grow(b);
            }
            // Move `block_tail` past `b` if every slot of `b` is published.
            if may_advance && b.is_final() {
                match self.tx.block_tail.compare_exchange(block, next, Ordering::Release, Ordering::Relaxed) {
                    Ok(_) => {
                        let observed = self.tx.tail.fetch_add(0, Ordering::AcqRel) >> 1;
                        // After this store the receiver may free `b`: `b` is not
                        // touched again (`next` was read above).
                        b.released.store((observed << 1) | RELEASED, Ordering::Release);
                    }
                    Err(_) => may_advance = false,
                }
            } else {
                may_advance = false;
            }
            block = next;
        }
    }

    /// Appends a new block after `b`, whose `next` was null; returns `b.next`
    /// (this block, or the one another thread linked first, in which case this
    /// one is appended further down the list).
    fn grow(&self, b: &Block<T>) -> *mut Block<T> {
        let new = Block::<T>::alloc(next_index(b.start, BLOCK_CAP));
        let actual =
            match b.next.compare_exchange(ptr::null_mut(), new.as_ptr(), Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return new.as_ptr(),
                Err(actual) => actual,
            };
        // SAFETY: `actual` and the blocks after it are after `b` in the list, so
        // they are live for as long as `b` is (the caller's walk protects `b`).
        unsafe { append(actual, new) };
        actual
    }

    /// Marks the queue closed: every later [`Queue::push`] fails.
    ///
    /// # Safety
    /// As [`Queue::pop`].
    pub(crate) unsafe fn close(&self) {
        // SAFETY: the caller is the receiver.
        self.rx.with_mut(|rx| unsafe { (*rx).closed = true });
        self.tx.tail.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// Takes the message at `head`, if it is published.
    ///
    /// # Safety
    /// Only the single receiver calls the receiver-side methods (`pop`, `arm`,
    /// `close`, `is_drained`, `len`), never two at once.
    pub(crate) unsafe fn pop(&self) -> Pop<T> {
        // SAFETY: the caller is the only receiver (this function's contract).
        self.rx.with_mut(|rx| unsafe { self.pop_rx(&mut *rx) })
    }

    /// # Safety
    /// As [`Queue::pop`].
    unsafe fn pop_rx(&self, rx: &mut Rx<T>) -> Pop<T> {
        loop {
            // SAFETY: the caller is the receiver.
            let Some(block) = (unsafe { self.head_block(rx, false) }) else { return Pop::Empty };
            let slot = rx.head & SLOT_MASK;
            if block.ready.load(Ordering::Acquire) & (1 << slot) == 0 {
                return Pop::Empty;
            }
            rx.head = next_index(rx.head, 1);
            // Tombstones exist only once this receiver closed the queue; their bit
            // was set before the `ready` bit read above (acquire).
            if rx.closed && block.skipped.load(Ordering::Relaxed) & (1 << slot) != 0 {
                continue;
            }
            // SAFETY: the slot was published (acquire above) by the sender that
            // wrote it, and `head` moved past it, so it is read exactly once.
            return Pop::Value(block.slots[slot].with(|p| unsafe { (*p).assume_init_read() }));
        }
    }

    /// Moves `rx.block` forward to the block holding `head` (freeing what it
    /// passes), appending that block first if `link` and it does not exist yet.
    ///
    /// # Safety
    /// Only the receiver calls it.
    #[inline]
    unsafe fn head_block<'a>(&self, rx: &mut Rx<T>, link: bool) -> Option<&'a Block<T>> {
        // SAFETY: `rx.block` is the receiver's block: never freed while it is.
        let block: &'a Block<T> = unsafe { &*rx.block.as_ptr() };
        if block.start == rx.head & !SLOT_MASK {
            return Some(block);
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.next_head_block(rx, link) }
    }

    /// The slow path of [`Queue::head_block`]: `head` left `rx.block`.
    ///
    /// # Safety
    /// Only the receiver calls it.
    #[cold]
    unsafe fn next_head_block<'a>(&self, rx: &mut Rx<T>, link: bool) -> Option<&'a Block<T>> {
        loop {
            // SAFETY: `rx.block` is the receiver's block: never freed while it is,
            // and the receiver does not free it before it moves past it.
            let block: &'a Block<T> = unsafe { &*rx.block.as_ptr() };
            if block.start == rx.head & !SLOT_MASK {
                return Some(block);
            }
            let mut next = block.next.load(Ordering::Acquire);
            if next.is_null() {
                if !link {
                    return None;
                }
                next = self.grow(block);
            }
            // SAFETY: `next` came from a `next` link: not null.
            rx.block = unsafe { NonNull::new_unchecked(next) };
            // Every slot of the old block is published: its wait field is stale.
            rx.armed = 0;
            // SAFETY: the caller is the receiver.
            unsafe { self.reclaim(rx) };
        }
    }

    /// Arms the slot at `head` before the receiver sleeps (its waker must be
    /// registered already): the slot's sender will wake it. Returns `true` if the
    /// slot is published already (pop it instead of sleeping).
    ///
    /// # Safety
    /// As [`Queue::pop`].
    pub(crate) unsafe fn arm(&self) -> bool {
        // SAFETY: the caller is the only receiver.
        self.rx.with_mut(|rx| unsafe {
            let rx = &mut *rx;
            let block = self.head_block(rx, true).expect("linked on demand");
            let slot = rx.head & SLOT_MASK;
            let field = WAITING | (slot << WAIT_SHIFT);
            // Always an RMW, even when the field does not change: it is what
            // orders this wait against the slot's publication.
            let prev = block.ready.fetch_xor(rx.armed ^ field, Ordering::AcqRel);
            rx.armed = field;
            prev & (1 << slot) != 0
        })
    }

    /// Frees (or reuses) the blocks before `rx.block` that no sender can reach.
    ///
    /// # Safety
    /// Only the receiver calls it.
    unsafe fn reclaim(&self, rx: &mut Rx<T>) {
        while rx.free_head != rx.block {
            // SAFETY: blocks from `free_head` on are not freed yet (only this
            // function frees them, in order).
            let b = unsafe { rx.free_head.as_ref() };
            let released = b.released.load(Ordering::Acquire);
            if released & RELEASED == 0 || !at_or_after(rx.head, released >> 1) {
                return;
            }
            let next = b.next.load(Ordering::Acquire);
            let freed = rx.free_head;
            // SAFETY: `free_head` is before `rx.block`, so `next` is linked.
            rx.free_head = unsafe { NonNull::new_unchecked(next) };
            b.retire();
            // SAFETY: `freed` is released and `head` reached its observed tail:
            // no sender can reach it (module docs); the receiver passed it.
            if !unsafe { reuse(freed, rx.block) } {
                #[cfg(loom)]
                rx.graveyard.push(freed);
                // SAFETY: `freed` came from `Block::alloc` (a leaked `Box`) and is
                // private; its slots hold no values (`MaybeUninit` drops nothing).
                #[cfg(not(loom))]
                drop(unsafe { Box::from_raw(freed.as_ptr()) });
            }
        }
    }

    /// Every claimed index was received (or skipped): `head` caught up with `tail`.
    ///
    /// # Safety
    /// As [`Queue::pop`].
    pub(crate) unsafe fn is_drained(&self) -> bool {
        let tail = self.tx.tail.load(Ordering::Acquire) >> 1;
        // SAFETY: the caller is the receiver; this only reads.
        self.rx.with(|rx| unsafe { (*rx).head }) == tail
    }

    /// Claimed indices not yet received (including claims still being written,
    /// and, around a close, claims that turn into tombstones).
    ///
    /// # Safety
    /// As [`Queue::pop`], except that several `len` calls may run at once.
    pub(crate) unsafe fn len(&self) -> usize {
        let tail = self.tx.tail.load(Ordering::Acquire) >> 1;
        // SAFETY: the caller is the receiver (or another `len`); this only reads.
        let head = self.rx.with(|rx| unsafe { (*rx).head });
        tail.wrapping_sub(head) & INDEX_MASK
    }
}

/// Resets the reclaimed `block` and appends it at the end of the list for reuse
/// (starting the search at `from`, the receiver's block); `false` if the end was
/// not reached within a few steps (a long list, or racing appends): the caller
/// frees the block then.
///
/// # Safety
/// `block` is no longer reachable by anyone but the caller, and every earlier
/// access to it happened before this call; `from` is live.
unsafe fn reuse<T>(block: NonNull<Block<T>>, from: NonNull<Block<T>>) -> bool {
    let raw = block.as_ptr();
    // SAFETY: nobody else can access `block` (the caller's contract).
    unsafe {
        (*raw).next.store(ptr::null_mut(), Ordering::Relaxed);
        (*raw).ready.store(0, Ordering::Relaxed);
        (*raw).skipped.store(0, Ordering::Relaxed);
        (*raw).released.store(0, Ordering::Relaxed);
    }
    let mut cur = from.as_ptr();
    for _ in 0..REUSE_TRIES {
        // SAFETY: `from` and the blocks after it are live (only the receiver
        // frees, and only blocks before its own).
        let c = unsafe { &*cur };
        let next = c.next.load(Ordering::Acquire);
        if !next.is_null() {
            cur = next;
            continue;
        }
        // SAFETY: `block` is still private.
        unsafe { (*raw).start = next_index(c.start, BLOCK_CAP) };
        // Release: whoever reaches `block` through this link sees it reset.
        match c.next.compare_exchange(ptr::null_mut(), raw, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(actual) => cur = actual,
        }
    }
    false
}

/// Links the private block `new` after the last block reachable from `cur`.
///
/// # Safety
/// `cur` and every block after it stay live during the call; `new` is private.
unsafe fn append<T>(mut cur: *mut Block<T>, new: NonNull<Block<T>>) {
    loop {
        // SAFETY: the caller's contract.
        let c = unsafe { &*cur };
        c.touch();
        // SAFETY: `new` is private until the CAS below succeeds.
        unsafe { (*new.as_ptr()).start = next_index(c.start, BLOCK_CAP) };
        match c.next.compare_exchange(ptr::null_mut(), new.as_ptr(), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(next) => cur = next,
        }
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        // Every handle is gone, so every claimed slot is published (a send
        // finishes before its sender is dropped) and nothing runs concurrently.
        // SAFETY: `&mut self`: exclusive access.
        let (head, block, free_head) =
            self.rx.with(|rx| unsafe { ((*rx).head, (*rx).block, (*rx).free_head) });
        // Blocks the receiver passed but did not free yet hold no values.
        let mut cur = free_head.as_ptr();
        while cur != block.as_ptr() {
            // SAFETY: exclusive access; `cur` is a live block from `Block::alloc`.
            let b = unsafe { Box::from_raw(cur) };
            cur = b.next.load(Ordering::Acquire);
        }
        // From the receiver's block on: drop the published values from `head` on.
        while !cur.is_null() {
            // SAFETY: as above.
            let b = unsafe { Box::from_raw(cur) };
            let ready = b.ready.load(Ordering::Acquire);
            let skipped = b.skipped.load(Ordering::Relaxed);
            for slot in 0..BLOCK_CAP {
                let published = ready & (1 << slot) != 0 && skipped & (1 << slot) == 0;
                if published && at_or_after(next_index(b.start, slot), head) {
                    // SAFETY: published and not received: the slot holds a value
                    // nobody else will read or drop.
                    b.slots[slot].with_mut(|p| unsafe { (*p).assume_init_drop() });
                }
            }
            cur = b.next.load(Ordering::Acquire);
        }
        #[cfg(loom)]
        // SAFETY: exclusive access; the graveyard holds reclaimed blocks, which
        // are in no list and hold no values.
        self.rx.with_mut(|rx| unsafe {
            for b in (*rx).graveyard.drain(..) {
                drop(Box::from_raw(b.as_ptr()));
            }
        });
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("tail", &self.tx.tail.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    use super::*;

    impl<T> Queue<T> {
        /// Blocks still allocated (passed but not yet freed, and ahead).
        fn blocks(&self) -> usize {
            let mut n = 0;
            let mut cur = self.rx.with(|rx| unsafe { (*rx).free_head.as_ptr() });
            while !cur.is_null() {
                n += 1;
                cur = unsafe { &*cur }.next.load(Ordering::Acquire);
            }
            n
        }

        fn pop_value(&self) -> Option<T> {
            match unsafe { self.pop() } {
                Pop::Value(v) => Some(v),
                Pop::Empty => None,
            }
        }
    }

    #[test]
    fn fifo_across_blocks_and_blocks_are_reused() {
        let q = Queue::new();
        for round in 0..100 {
            for i in 0..3 * BLOCK_CAP + 1 {
                q.push(round * 1000 + i).result.unwrap();
            }
            assert_eq!(unsafe { q.len() }, 3 * BLOCK_CAP + 1);
            for i in 0..3 * BLOCK_CAP + 1 {
                assert_eq!(q.pop_value(), Some(round * 1000 + i));
            }
            assert!(q.pop_value().is_none());
            assert!(unsafe { q.is_drained() });
        }
        // Steady state: the list does not grow with the number of messages.
        assert!(q.blocks() <= 6, "{} blocks", q.blocks());
    }

    #[test]
    fn close_turns_later_claims_into_tombstones() {
        let q = Queue::new();
        q.push(1).result.unwrap();
        unsafe { q.close() };
        assert_eq!(q.push(2).result, Err(2));
        assert_eq!(unsafe { q.len() }, 2, "the failed claim is counted until skipped");
        assert_eq!(q.pop_value(), Some(1));
        assert_eq!(q.pop_value(), None);
        assert!(unsafe { q.is_drained() });
    }

    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn drop_drops_every_value_not_received() {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = Queue::new();
        for _ in 0..2 * BLOCK_CAP + 3 {
            q.push(Counted(drops.clone())).result.map_err(drop).unwrap();
        }
        for _ in 0..BLOCK_CAP + 1 {
            drop(q.pop_value().unwrap());
        }
        assert_eq!(drops.load(SeqCst), BLOCK_CAP + 1);
        drop(q);
        assert_eq!(drops.load(SeqCst), 2 * BLOCK_CAP + 3);
    }

    #[test]
    fn concurrent_pushes_arrive_once_in_per_thread_order() {
        const THREADS: usize = 4;
        const PER: usize = 20_000;
        let q = Arc::new(Queue::new());
        let ths: Vec<_> = (0..THREADS)
            .map(|t| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..PER {
                        q.push((t, i)).result.unwrap();
                    }
                })
            })
            .collect();
        let mut next = [0; THREADS];
        let mut n = 0;
        while n < THREADS * PER {
            match q.pop_value() {
                Some((t, i)) => {
                    assert_eq!(i, next[t]);
                    next[t] += 1;
                    n += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        for th in ths {
            th.join().unwrap();
        }
        assert!(q.pop_value().is_none());
        assert!(q.blocks() <= 2 + THREADS * 2, "{} blocks", q.blocks());
    }
}
