//! [`PollEvented`]: a `mio` source together with its [`Registration`], and the readiness
//! loop every network type runs its non-blocking calls through.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use mio::event::Source;

use crate::io::{Direction, Handle, Ready, ReadyEvent, Registration};

/// The error a network type's constructor returns when no I/O driver is current.
pub(crate) fn no_reactor() -> io::Error {
    io::Error::other(
        "no tern reactor is running on this thread: network types must be created on a runtime \
         thread or inside `tern_reactor::io::Handle::enter`",
    )
}

/// The current thread's I/O driver handle, or the [`no_reactor`] error.
pub(crate) fn current_handle() -> io::Result<Handle> {
    Handle::try_current().ok_or_else(no_reactor)
}

/// Marks a stored [`ReadyEvent`] as present in [`PollEvented::last`].
const PRESENT: usize = 1 << 6;
/// Where the tick starts in a stored event (the same place as in the readiness word).
const TICK_SHIFT: u32 = 8;

fn encode(event: ReadyEvent) -> usize {
    (event.tick << TICK_SHIFT) | PRESENT | event.ready.bits()
}

fn decode(word: usize) -> Option<ReadyEvent> {
    (word & PRESENT != 0).then(|| ReadyEvent { tick: word >> TICK_SHIFT, ready: Ready::from_bits(word) })
}

fn slot(direction: Direction) -> usize {
    match direction {
        Direction::Read => 0,
        Direction::Write => 1,
    }
}

/// A `mio` source registered (readable and writable, edge-triggered) with an I/O driver.
///
/// - Readiness loop: [`PollEvented::poll_io`] waits for readiness in a direction, runs the
///   non-blocking call, and on `WouldBlock` clears the readiness it acted on and waits again.
/// - `readable()` / `try_read()` style API: [`PollEvented::poll_ready`] remembers the last
///   [`ReadyEvent`] it saw per direction; [`PollEvented::try_io`] loads it *before* its call
///   and clears it after a `WouldBlock`. Because the tick check makes a clear a no-op once a
///   newer event arrived, and the event was observed before the call, no edge is lost.
/// - Drop: deregisters the source, then closes it; the [`Registration`] (dropped last) frees
///   its slab slot.
pub(crate) struct PollEvented<S: Source> {
    /// `None` only after [`PollEvented::into_inner`] took it.
    io: Option<S>,
    registration: Registration,
    /// The last event [`PollEvented::poll_ready`] observed, per direction, encoded by
    /// [`encode`] (0: none yet).
    last: [AtomicUsize; 2],
}

impl<S: Source> PollEvented<S> {
    /// Registers `io` with the driver of `handle`.
    ///
    /// # Errors
    ///
    /// The driver's registration error (e.g. the driver was dropped).
    pub(crate) fn with_handle(mut io: S, handle: &Handle) -> io::Result<Self> {
        let registration = handle.register(&mut io, mio::Interest::READABLE | mio::Interest::WRITABLE)?;
        Ok(PollEvented { io: Some(io), registration, last: [AtomicUsize::new(0), AtomicUsize::new(0)] })
    }

    /// The source.
    pub(crate) fn get_ref(&self) -> &S {
        self.io.as_ref().expect("PollEvented source taken")
    }

    /// The driver the source is registered with.
    pub(crate) fn handle(&self) -> &Handle {
        self.registration.handle()
    }

    /// Polls for readiness in `direction` (see [`Registration::poll_ready`]) and remembers the
    /// event for a later [`PollEvented::try_io`].
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Result<()>> {
        let event = std::task::ready!(self.registration.poll_ready(cx, direction))?;
        self.last[slot(direction)].store(encode(event), Ordering::Release);
        Poll::Ready(Ok(()))
    }

    /// Polls for readiness in `direction` and returns the raw event, to be passed to
    /// [`PollEvented::clear_readiness`] after a `WouldBlock`.
    pub(crate) fn poll_ready_event(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        self.registration.poll_ready(cx, direction)
    }

    /// Clears the readiness `event` reported (see [`Registration::clear_readiness`]).
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        self.registration.clear_readiness(event);
    }

    /// Waits until the source is ready in `direction` (possibly a false positive).
    pub(crate) async fn ready(&self, direction: Direction) -> io::Result<()> {
        poll_fn(|cx| self.poll_ready(cx, direction)).await
    }

    /// Runs `f` on the source once it is ready in `direction`, clearing readiness and waiting
    /// again while `f` returns `WouldBlock` (see [`Registration::poll_io`]).
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut f: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.get_ref();
        self.registration.poll_io(cx, direction, || f(io))
    }

    /// [`PollEvented::poll_io`] as a future.
    pub(crate) async fn io<R>(
        &self,
        direction: Direction,
        mut f: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        poll_fn(|cx| self.poll_io(cx, direction, &mut f)).await
    }

    /// Runs `f` once, without waiting. On `WouldBlock`, clears the readiness last observed by
    /// [`PollEvented::poll_ready`] in `direction` (loaded before the call), so that the next
    /// `readable()`/`writable()` waits for a new event instead of returning at once.
    pub(crate) fn try_io<R>(
        &self,
        direction: Direction,
        f: impl FnOnce(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let seen = decode(self.last[slot(direction)].load(Ordering::Acquire));
        let result = f(self.get_ref());
        if let (Err(e), Some(event)) = (&result, seen) {
            if e.kind() == io::ErrorKind::WouldBlock {
                self.registration.clear_readiness(event);
            }
        }
        result
    }

    /// Deregisters the source and returns it (still in non-blocking mode).
    ///
    /// # Errors
    ///
    /// The poller's deregistration error; the source is then closed.
    pub(crate) fn into_inner(mut self) -> io::Result<S> {
        let mut io = self.io.take().expect("PollEvented source taken");
        self.registration.deregister(&mut io)?;
        Ok(io)
    }
}

impl<S: Source> PollEvented<S>
where
    for<'a> &'a S: Read + Write,
{
    /// Reads into `buf` once readable.
    pub(crate) fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_io(cx, Direction::Read, |mut io| io.read(buf))
    }

    /// Reads into `buf`, which may be uninitialized, once readable: `read(2)` straight into
    /// the buffer, so an adapter that hands out uninitialized memory (hyper's `ReadBufCursor`)
    /// need not zero it first. Returns the number of bytes written at the front of `buf`.
    #[cfg(all(unix, feature = "hyper"))]
    pub(crate) fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>>
    where
        S: std::os::fd::AsRawFd,
    {
        self.poll_io(cx, Direction::Read, |io| {
            // SAFETY: `buf` is a live, writable region of `buf.len()` bytes for the whole
            // call; `read(2)` writes at most that many bytes into it and never reads it.
            let n = unsafe { libc::read(io.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            usize::try_from(n).map_err(|_| io::Error::last_os_error())
        })
    }

    /// Reads into `bufs` once readable.
    pub(crate) fn poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(cx, Direction::Read, |mut io| io.read_vectored(bufs))
    }

    /// Writes `buf` once writable.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_io(cx, Direction::Write, |mut io| io.write(buf))
    }

    /// Writes `bufs` once writable.
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(cx, Direction::Write, |mut io| io.write_vectored(bufs))
    }
}

impl<S: Source> Drop for PollEvented<S> {
    fn drop(&mut self) {
        if let Some(mut io) = self.io.take() {
            // Deregister first, then close: the registration (dropped after this) frees the
            // slab slot, and the generation in the token keeps a late event from reaching the
            // slot's next owner.
            let _ = self.registration.deregister(&mut io);
            drop(io);
        }
    }
}

impl<S: Source + fmt::Debug> fmt::Debug for PollEvented<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollEvented").field("io", &self.io).field("registration", &self.registration).finish()
    }
}
