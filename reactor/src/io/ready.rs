//! Readiness bits, the readiness event a task observes, and the two directions.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// A set of readiness bits for one source: readable, writable, read-closed (hang-up on the
/// read half), write-closed (hang-up on the write half) and error.
///
/// Values are built from the associated constants with `|`.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Ready(usize);

impl Ready {
    /// No readiness.
    pub const EMPTY: Ready = Ready(0);
    /// The source is readable (data, or a pending connection on a listener).
    pub const READABLE: Ready = Ready(0b0_0001);
    /// The source is writable (buffer space, or a non-blocking `connect` finished).
    pub const WRITABLE: Ready = Ready(0b0_0010);
    /// The read half is closed: the peer shut down its write half or the connection hung up.
    /// A read returns 0 (end of file) or an error, never `WouldBlock`. Final: never cleared.
    pub const READ_CLOSED: Ready = Ready(0b0_0100);
    /// The write half is closed: the peer shut down its read half, reset or hung up. A write
    /// fails (`EPIPE`/`ECONNRESET`), never `WouldBlock`. Final: never cleared.
    pub const WRITE_CLOSED: Ready = Ready(0b0_1000);
    /// An error is pending on the source (`SO_ERROR`, e.g. after a reset or a refused UDP
    /// send); the next I/O call reports it.
    pub const ERROR: Ready = Ready(0b1_0000);

    /// Every readiness bit.
    pub(crate) const ALL: Ready = Ready(0b1_1111);
    /// The final bits, which [`Registration::clear_readiness`](super::Registration::clear_readiness)
    /// never clears.
    pub(crate) const CLOSED: Ready = Ready(Self::READ_CLOSED.0 | Self::WRITE_CLOSED.0);

    /// The readiness reported by one `mio` event.
    pub(crate) fn from_mio(event: &mio::event::Event) -> Ready {
        let mut ready = Ready::EMPTY;
        if event.is_readable() {
            ready |= Ready::READABLE;
        }
        if event.is_writable() {
            ready |= Ready::WRITABLE;
        }
        if event.is_read_closed() {
            ready |= Ready::READ_CLOSED;
        }
        if event.is_write_closed() {
            ready |= Ready::WRITE_CLOSED;
        }
        if event.is_error() {
            ready |= Ready::ERROR;
        }
        ready
    }

    pub(crate) const fn from_bits(bits: usize) -> Ready {
        Ready(bits & Self::ALL.0)
    }

    pub(crate) const fn bits(self) -> usize {
        self.0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Ready) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether [`Ready::READABLE`] is set.
    pub const fn is_readable(self) -> bool {
        self.contains(Ready::READABLE)
    }

    /// Whether [`Ready::WRITABLE`] is set.
    pub const fn is_writable(self) -> bool {
        self.contains(Ready::WRITABLE)
    }

    /// Whether [`Ready::READ_CLOSED`] is set.
    pub const fn is_read_closed(self) -> bool {
        self.contains(Ready::READ_CLOSED)
    }

    /// Whether [`Ready::WRITE_CLOSED`] is set.
    pub const fn is_write_closed(self) -> bool {
        self.contains(Ready::WRITE_CLOSED)
    }

    /// Whether [`Ready::ERROR`] is set.
    pub const fn is_error(self) -> bool {
        self.contains(Ready::ERROR)
    }

    pub(crate) const fn intersection(self, other: Ready) -> Ready {
        Ready(self.0 & other.0)
    }

    pub(crate) const fn difference(self, other: Ready) -> Ready {
        Ready(self.0 & !other.0)
    }
}

impl BitOr for Ready {
    type Output = Ready;
    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

impl BitOrAssign for Ready {
    fn bitor_assign(&mut self, rhs: Ready) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Ready::READABLE, "READABLE"),
            (Ready::WRITABLE, "WRITABLE"),
            (Ready::READ_CLOSED, "READ_CLOSED"),
            (Ready::WRITE_CLOSED, "WRITE_CLOSED"),
            (Ready::ERROR, "ERROR"),
        ];
        let mut first = true;
        f.write_str("Ready(")?;
        for (bit, name) in names {
            if self.contains(bit) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("EMPTY")?;
        }
        f.write_str(")")
    }
}

/// One of the two directions a source is waited on in; each has its own waker slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Direction {
    /// Waiting to read (or accept, or receive).
    Read,
    /// Waiting to write (or for a non-blocking connect to finish, or to send).
    Write,
}

impl Direction {
    /// The readiness bits that make this direction ready: each guarantees the next I/O call in
    /// this direction does not return `WouldBlock` (it makes progress, returns end of file, or
    /// returns an error).
    ///
    /// Read: `READABLE | READ_CLOSED | ERROR`. Write: `WRITABLE | WRITE_CLOSED | ERROR`.
    pub const fn mask(self) -> Ready {
        match self {
            Direction::Read => Ready(Ready::READABLE.0 | Ready::READ_CLOSED.0 | Ready::ERROR.0),
            Direction::Write => Ready(Ready::WRITABLE.0 | Ready::WRITE_CLOSED.0 | Ready::ERROR.0),
        }
    }
}

/// Readiness observed by [`Registration::poll_read_ready`](super::Registration::poll_read_ready)
/// or [`poll_write_ready`](super::Registration::poll_write_ready): the bits of one direction
/// plus the driver's tick at the moment they were read.
///
/// Pass it back to [`Registration::clear_readiness`](super::Registration::clear_readiness) once
/// an I/O call returned `WouldBlock`; the tick makes that clear a no-op if the driver delivered
/// a newer event in between.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReadyEvent {
    pub(crate) tick: usize,
    pub(crate) ready: Ready,
}

impl ReadyEvent {
    /// The readiness bits observed, limited to the polled direction's [`Direction::mask`].
    pub fn ready(&self) -> Ready {
        self.ready
    }
}
