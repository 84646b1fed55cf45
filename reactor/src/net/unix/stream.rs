//! [`UnixStream`].

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll};

use super::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::io::{Direction, Handle};
use crate::net::evented::{current_handle, PollEvented};
use crate::net::stream_io::{async_read_via, async_write_via};

/// A connected Unix-domain stream socket, registered with a tern I/O driver.
///
/// Created by [`UnixStream::connect`], [`UnixStream::pair`],
/// [`UnixListener::accept`](super::UnixListener::accept) or [`UnixStream::from_std`].
/// Implements `futures_io::AsyncRead` and `futures_io::AsyncWrite` (`poll_close` shuts down
/// the write half); [`UnixStream::split`] and [`UnixStream::into_split`] give separate halves.
/// Dropping the stream deregisters and closes the socket.
pub struct UnixStream {
    io: PollEvented<mio::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket bound at `path`: a non-blocking `connect(2)`, then waits until
    /// the socket is writable and checks `SO_ERROR`.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread; the connect
    /// error, e.g. `NotFound` (no such path), `ConnectionRefused` (nothing listening there) or
    /// `WouldBlock` (the listener's backlog is full; Linux does not queue the attempt).
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let handle = current_handle()?;
        let stream = UnixStream::from_mio(mio::net::UnixStream::connect(path)?, &handle)?;
        poll_fn(|cx| stream.poll_connected(cx)).await?;
        Ok(stream)
    }

    /// Waits until writable, then reports the connect's outcome (`SO_ERROR`).
    fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.io.poll_ready(cx, Direction::Write))?;
        Poll::Ready(match self.io.get_ref().take_error()? {
            Some(e) => Err(e),
            None => Ok(()),
        })
    }

    /// A connected pair of anonymous sockets (`socketpair(2)`), both registered with the
    /// current thread's I/O driver.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread; the
    /// `socketpair(2)` or registration error.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let handle = current_handle()?;
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream::from_mio(a, &handle)?, UnixStream::from_mio(b, &handle)?))
    }

    /// Registers a connected non-blocking mio stream with `handle`'s driver.
    pub(super) fn from_mio(stream: mio::net::UnixStream, handle: &Handle) -> io::Result<UnixStream> {
        Ok(UnixStream { io: PollEvented::with_handle(stream, handle)? })
    }

    /// Wraps a connected stream from the standard library: puts it into non-blocking mode and
    /// registers it with the current thread's I/O driver.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread (the stream is
    /// then closed); the error of `set_nonblocking` or of the registration.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        let handle = current_handle()?;
        stream.set_nonblocking(true)?;
        UnixStream::from_mio(mio::net::UnixStream::from_std(stream), &handle)
    }

    /// Deregisters the stream and returns it as a standard-library stream, still in
    /// non-blocking mode.
    ///
    /// # Errors
    ///
    /// The poller's deregistration error (the stream is then closed).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        self.io.into_inner().map(std::os::unix::net::UnixStream::from)
    }

    /// The local address (unnamed unless the socket was bound).
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address (the listener's path for a connected stream; unnamed for a pair).
    ///
    /// # Errors
    ///
    /// The `getpeername(2)` error.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Takes the pending `SO_ERROR` error, if any.
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Shuts down the read half, the write half or both (`shutdown(2)`).
    ///
    /// # Errors
    ///
    /// The `shutdown(2)` error.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Waits until readable (data, end of file or an error pending). May be a false positive
    /// after a stale readiness; a [`UnixStream::try_read`] returning `WouldBlock` clears it.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.ready(Direction::Read).await
    }

    /// Waits until writable; like [`UnixStream::readable`] in the write direction.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.ready(Direction::Write).await
    }

    /// Reads without waiting: `Ok(0)` is end of file.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if no data is available (the readiness seen by the last
    /// [`UnixStream::readable`] is then cleared); the `read(2)` error.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Read, |mut socket| io::Read::read(&mut socket, buf))
    }

    /// Writes without waiting; returns how many bytes were written.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the send buffer is full (the readiness seen by the last
    /// [`UnixStream::writable`] is then cleared); the `write(2)` error.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Write, |mut socket| io::Write::write(&mut socket, buf))
    }

    /// Borrows the stream as a read half and a write half, usable concurrently.
    ///
    /// With `futures::io::AsyncReadExt` in scope, method syntax `stream.split()` on an owned
    /// stream resolves to that trait's consuming `split` (a lock-based split); write
    /// `UnixStream::split(&mut stream)` to get this one.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        split::split(self)
    }

    /// Splits the stream into owned halves sharing it through an `Arc`;
    /// [`OwnedReadHalf::reunite`] puts them back together, and dropping the
    /// [`OwnedWriteHalf`] shuts down the write direction (unless
    /// [`forget`](OwnedWriteHalf::forget)-ed).
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split::split_owned(self)
    }

    pub(super) fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_read(cx, buf)
    }

    /// Reads into a possibly uninitialized buffer (for the hyper adapter).
    #[cfg(all(unix, feature = "hyper"))]
    pub(crate) fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_read_uninit(cx, buf)
    }

    pub(super) fn poll_read_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_read_vectored(cx, bufs)
    }

    pub(super) fn poll_write_priv(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write(cx, buf)
    }

    pub(super) fn poll_write_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_vectored(cx, bufs)
    }

    /// `poll_close`: shuts down the write half.
    pub(super) fn poll_shutdown_priv(&self) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

async_read_via!(UnixStream, s => s);
async_write_via!(UnixStream, s => s);

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream").field("io", &self.io).finish()
    }
}
