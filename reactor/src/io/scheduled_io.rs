//! Per-source state: the readiness word and the two waker slots.
//!
//! # The readiness word
//!
//! One `AtomicUsize`: the [`Ready`] bits in bits 0..5, the shutdown flag in bit 7, and a
//! *tick* in bits 8.. that the driver increments (wrapping) on every event it delivers to the
//! source. Readiness is only ever set by the driver ([`ScheduledIo::dispatch`]) and only ever
//! cleared by the task that observed it ([`ScheduledIo::clear_readiness`]), and a clear is
//! conditional on the tick being the one observed.
//!
//! # No lost wake-up
//!
//! A waiting task runs "check readiness; else lock the waker slots, store its waker, re-check
//! readiness under the lock"; the driver runs "set readiness (atomic); then lock the waker
//! slots and take the wakers". The lock orders the two critical sections: if the task's comes
//! first, the driver finds its waker; if the driver's comes first, the readiness it stored
//! before locking is visible to the task's re-check (the unlock/lock pair is a
//! happens-before edge). Wakers are taken under the lock and woken by the caller after every
//! lock is released.
//!
//! # No lost edge
//!
//! Edge-triggered polling reports each readiness change once. A task that saw readiness,
//! tried its I/O call and got `WouldBlock` clears the readiness it saw with the
//! [`ReadyEvent`] it saw; if an event arrived after the observation (so the `WouldBlock` may
//! predate the new data), the tick differs and the clear does nothing, and the task's next
//! poll sees the readiness again.

use std::io;
use std::task::{Context, Poll, Waker};

use super::ready::{Direction, Ready, ReadyEvent};
use crate::loom::{AtomicUsize, Mutex, Ordering};

/// Set once the driver is gone: every poll then fails.
const SHUTDOWN: usize = 1 << 7;
/// Readiness bits plus the shutdown flag.
const STATE_MASK: usize = Ready::ALL.bits() | SHUTDOWN;
/// Where the tick starts.
const TICK_SHIFT: u32 = 8;
/// Mask of a tick value (before it is shifted into place).
const TICK_MASK: usize = usize::MAX >> TICK_SHIFT;

fn tick_of(word: usize) -> usize {
    word >> TICK_SHIFT
}

/// The error every poll returns once the driver was dropped.
pub(crate) fn shutdown_error() -> io::Error {
    io::Error::other("the tern I/O driver has shut down")
}

/// The readiness state and wakers of one registered source (one slab entry).
///
/// Public only so the loom models can drive it (through `io::__loom` under `--cfg loom`);
/// the supported API is [`Registration`](super::Registration).
#[derive(Debug)]
pub struct ScheduledIo {
    /// The generation of this source's token; events for other generations are stale.
    generation: usize,
    /// Readiness bits, shutdown flag and tick (see the module docs).
    readiness: AtomicUsize,
    /// One waker slot per direction.
    waiters: Mutex<Waiters>,
}

#[derive(Debug, Default)]
struct Waiters {
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Waiters {
    fn slot(&mut self, direction: Direction) -> &mut Option<Waker> {
        match direction {
            Direction::Read => &mut self.reader,
            Direction::Write => &mut self.writer,
        }
    }
}

impl ScheduledIo {
    /// A source with no readiness and no wakers, for token generation `generation`.
    pub fn new(generation: usize) -> ScheduledIo {
        ScheduledIo { generation, readiness: AtomicUsize::new(0), waiters: Mutex::new(Waiters::default()) }
    }

    /// The token generation this source was created with.
    pub(crate) fn generation(&self) -> usize {
        self.generation
    }

    /// The driver's side: records `ready` (OR-ing it into the readiness bits and advancing the
    /// tick), then takes the waker of each direction whose [`Direction::mask`] `ready` meets
    /// and pushes it onto `wakers`. The caller wakes them after releasing its locks.
    ///
    /// An error or a full hang-up (both halves closed) meets both masks and so wakes both
    /// directions; a half-close wakes only the direction it finishes.
    pub fn dispatch(&self, ready: Ready, wakers: &mut Vec<Waker>) {
        let ready = ready.intersection(Ready::ALL);
        let _ = self.readiness.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            let tick = tick_of(word).wrapping_add(1) & TICK_MASK;
            Some((tick << TICK_SHIFT) | (word & STATE_MASK) | ready.bits())
        });
        let mut waiters = self.waiters.lock();
        for direction in [Direction::Read, Direction::Write] {
            if !ready.intersection(direction.mask()).is_empty() {
                if let Some(waker) = waiters.slot(direction).take() {
                    wakers.push(waker);
                }
            }
        }
    }

    /// Marks the source shut down (every later poll fails) and takes both wakers onto
    /// `wakers`.
    pub fn shutdown(&self, wakers: &mut Vec<Waker>) {
        self.readiness.fetch_or(SHUTDOWN, Ordering::AcqRel);
        let mut waiters = self.waiters.lock();
        wakers.extend(waiters.reader.take());
        wakers.extend(waiters.writer.take());
    }

    /// The outcome of a poll in `direction` given readiness word `word`, or `None` if not
    /// ready.
    fn ready_in(word: usize, direction: Direction) -> Option<io::Result<ReadyEvent>> {
        if word & SHUTDOWN != 0 {
            return Some(Err(shutdown_error()));
        }
        let ready = Ready::from_bits(word).intersection(direction.mask());
        (!ready.is_empty()).then_some(Ok(ReadyEvent { tick: tick_of(word), ready }))
    }

    /// The task's side: `Ready` with the readiness of `direction` if there is any; otherwise
    /// stores `cx`'s waker in `direction`'s slot (replacing the previous one) and returns
    /// `Pending`, and the next event for `direction` wakes it.
    ///
    /// # Errors
    ///
    /// Once the driver is gone, an error of kind `Other`.
    pub fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Result<ReadyEvent>> {
        if let Some(outcome) = Self::ready_in(self.readiness.load(Ordering::Acquire), direction) {
            return Poll::Ready(outcome);
        }
        let mut waiters = self.waiters.lock();
        let slot = waiters.slot(direction);
        match slot {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        // Re-check under the lock: an event whose `dispatch` took the lock before us stored
        // its readiness before doing so. (Our waker stays stored; a later spurious wake-up is
        // harmless.)
        match Self::ready_in(self.readiness.load(Ordering::Acquire), direction) {
            Some(outcome) => Poll::Ready(outcome),
            None => Poll::Pending,
        }
    }

    /// Clears the non-final bits of `event` (all but `READ_CLOSED`/`WRITE_CLOSED`), unless the
    /// driver delivered an event after `event` was observed (the tick moved on).
    pub fn clear_readiness(&self, event: ReadyEvent) {
        let clear = event.ready.difference(Ready::CLOSED).bits();
        let _ = self.readiness.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            (tick_of(word) == event.tick).then_some(word & !clear)
        });
    }

    /// Waits for readiness in `direction` and runs `f`; while `f` returns `WouldBlock`,
    /// clears the readiness it ran on and waits again. Returns `f`'s first other result.
    ///
    /// # Errors
    ///
    /// `f`'s error (other than `WouldBlock`), or the shutdown error of
    /// [`ScheduledIo::poll_ready`].
    pub fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut f: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let event = std::task::ready!(self.poll_ready(cx, direction))?;
            match f() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(event),
                result => return Poll::Ready(result),
            }
        }
    }
}
