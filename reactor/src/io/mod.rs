//! The I/O driver: an edge-triggered `mio` event loop with per-source readiness and wakers.
//!
//! - [`Driver`] owns the `mio::Poll`. Whoever drives it (later: a runtime worker about to
//!   park) calls [`Driver::turn`], which blocks in the OS poller until an event, a timeout or
//!   [`Handle::unpark`], records each event's readiness on its source and wakes the tasks
//!   waiting on it. The driver holds no executor.
//! - [`Handle`] (cloneable, `Send + Sync`) registers sources ([`Handle::register`]) and
//!   interrupts a blocked turn ([`Handle::unpark`], through a `mio::Waker` with a reserved
//!   token). [`Handle::enter`] makes a handle the thread's current one
//!   ([`Handle::current`]).
//! - [`Registration`] links one source to the driver: its readiness ([`Ready`]: readable,
//!   writable, read-closed, write-closed, error) and one waker per [`Direction`]. Tasks use
//!   [`Registration::poll_read_ready`] / [`Registration::poll_write_ready`], then
//!   [`Registration::clear_readiness`] after a `WouldBlock`, or [`Registration::poll_io`],
//!   which does the whole loop.
//!
//! # Design
//!
//! Sources live in a [`slab::Slab`] behind one mutex. A source's `mio::Token` holds its slab
//! index in the low 24 bits and a generation in the high 40 (16/16 on 32-bit targets); the
//! all-ones index is reserved for the waker's token. The driver checks the generation before
//! delivering an event, so an event reported for a source that was deregistered, and whose
//! slot was reused before the event was dispatched, never reaches the new owner.
//!
//! Each slab entry (`ScheduledIo`) holds an atomic readiness word (the readiness bits plus a
//! tick that counts delivered events) and a small mutex around the two waker slots. The
//! protocol (detailed in `scheduled_io.rs`):
//!
//! - *Driver*: OR the event's bits into the word and advance the tick; then, under the waker
//!   lock, take the waker of each direction the bits concern (an error or a full hang-up
//!   concerns both); after every lock is released, wake them.
//! - *Task*: read the word; if its direction is ready, return the bits and tick as a
//!   [`ReadyEvent`]. Otherwise store the waker under the waker lock and read the word again
//!   under that lock before returning `Pending`. Either the driver's locked section comes
//!   first, and the re-check sees its readiness, or the task's does, and the driver finds the
//!   waker: no wake-up is lost.
//! - *Clear*: after an I/O call returns `WouldBlock`, the task clears the bits of the
//!   [`ReadyEvent`] it acted on, but only if the tick is still the one it saw. An edge that
//!   arrived between the failed call and the clear moved the tick, so it survives and the
//!   next poll sees it. `READ_CLOSED` and `WRITE_CLOSED` are final and never cleared.
//!
//! Nothing spins: a task waits by returning `Pending` with its waker stored, the driver waits
//! inside the OS poller.
//!
//! # Ownership
//!
//! A [`Registration`] does not own its source. Its owner deregisters the source
//! ([`Registration::deregister`]) before dropping both; dropping the registration frees the
//! slab slot. Dropping the [`Driver`] fails every registration's polls (waking their tasks)
//! and every later [`Handle::register`].
//!
//! # Sources
//!
//! Ideas from tokio's `runtime/io/` (`ScheduledIo`'s readiness word with a tick, `Registration`,
//! the generation in the token), async-io's `Reactor`/`Source`, and the `mio` documentation.

mod driver;
mod ready;
mod registration;
mod scheduled_io;
mod token;

#[cfg(test)]
mod tests;

pub use self::driver::{Driver, EnterGuard, Handle};
pub use self::ready::{Direction, Ready, ReadyEvent};
pub use self::registration::Registration;

/// Internals exposed for the loom models in `loom-tests/` (only with `--cfg loom`).
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use super::scheduled_io::ScheduledIo;
}
