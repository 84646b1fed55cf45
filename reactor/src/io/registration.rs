//! [`Registration`]: one source's link to the driver.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::driver::Handle;
use super::ready::{Direction, ReadyEvent};
use super::scheduled_io::ScheduledIo;

/// A source registered with a [`Driver`](super::Driver) by [`Handle::register`]: its slab
/// entry (readiness plus one waker slot per direction) and its token.
///
/// The registration does not own the source. The owning type (e.g. a future `TcpStream`)
/// calls [`Registration::deregister`] with the source before dropping both; dropping the
/// registration then frees its slab slot. If an event for the old token is still in flight
/// when the slot is reused, the generation in the token makes the driver drop it.
///
/// Each direction has one waker slot: if two tasks poll the same direction, only the last one
/// to poll is woken. One reader task and one writer task may share a registration.
pub struct Registration {
    handle: Handle,
    io: Arc<ScheduledIo>,
    token: mio::Token,
}

impl Registration {
    pub(crate) fn new(handle: Handle, io: Arc<ScheduledIo>, token: mio::Token) -> Registration {
        Registration { handle, io, token }
    }

    /// The handle of the driver this source is registered with.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Polls for read readiness (`READABLE`, `READ_CLOSED` or `ERROR`).
    ///
    /// `Ready` with the observed [`ReadyEvent`] if the source is ready to read; otherwise
    /// stores `cx`'s waker, which the next read-direction event wakes, and returns `Pending`.
    /// Readiness stays set until cleared with [`Registration::clear_readiness`] after an I/O
    /// call returned `WouldBlock`.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver was dropped.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        self.io.poll_ready(cx, Direction::Read)
    }

    /// Polls for write readiness (`WRITABLE`, `WRITE_CLOSED` or `ERROR`); like
    /// [`Registration::poll_read_ready`] in the other direction.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver was dropped.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        self.io.poll_ready(cx, Direction::Write)
    }

    /// [`Registration::poll_read_ready`] or [`Registration::poll_write_ready`] by `direction`.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver was dropped.
    pub fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Result<ReadyEvent>> {
        self.io.poll_ready(cx, direction)
    }

    /// Clears the readiness `event` reported, after an I/O call returned `WouldBlock`; the
    /// final bits (`READ_CLOSED`, `WRITE_CLOSED`) are never cleared. Does nothing if the driver
    /// delivered a newer event since `event` was observed, so an edge that arrived between the
    /// I/O call and this clear is not lost.
    pub fn clear_readiness(&self, event: ReadyEvent) {
        self.io.clear_readiness(event);
    }

    /// Runs the non-blocking I/O call `f` once the source is ready in `direction`; while `f`
    /// returns `WouldBlock`, clears the readiness it ran on and waits again (returning
    /// `Pending` with `cx`'s waker stored). Returns `f`'s first other result.
    ///
    /// # Errors
    ///
    /// `f`'s error (any kind but `WouldBlock`), or an error of kind `Other` once the driver
    /// was dropped.
    pub fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        f: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.io.poll_io(cx, direction, f)
    }

    /// Changes the interest `source` (the source this registration was made for) is
    /// registered with. Readiness already recorded is kept.
    ///
    /// # Errors
    ///
    /// The OS error from the poller (e.g. `ENOENT` if `source` is not registered).
    pub fn reregister(
        &self,
        source: &mut impl mio::event::Source,
        interest: mio::Interest,
    ) -> io::Result<()> {
        self.handle.reregister(source, self.token, interest)
    }

    /// Removes `source` (the source this registration was made for) from the poller. The
    /// owner calls this before dropping the source and the registration. Tasks already waiting
    /// are not woken.
    ///
    /// # Errors
    ///
    /// The OS error from the poller (e.g. `ENOENT` if `source` is not registered).
    pub fn deregister(&self, source: &mut impl mio::event::Source) -> io::Result<()> {
        self.handle.deregister(source)
    }

    #[cfg(test)]
    pub(crate) fn token(&self) -> mio::Token {
        self.token
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let (index, _) = super::token::decode(self.token);
        let mut sources = self.handle.inner.sources.lock();
        if sources.slab.get(index).is_some_and(|io| Arc::ptr_eq(io, &self.io)) {
            sources.slab.remove(index);
        }
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration").field("token", &self.token).finish_non_exhaustive()
    }
}
