//! [`TcpStream`].

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{Context, Poll};

use super::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::io::{Direction, Handle};
use crate::net::evented::{current_handle, PollEvented};
use crate::net::stream_io::{async_read_via, async_write_via};

/// A connected TCP stream, registered with a tern I/O driver.
///
/// Created by [`TcpStream::connect`], [`TcpListener::accept`](super::TcpListener::accept) or
/// [`TcpStream::from_std`]. Implements `futures_io::AsyncRead` and `futures_io::AsyncWrite`
/// (`poll_close` shuts down the write half); `&self` methods ([`TcpStream::readable`],
/// [`TcpStream::try_read`], [`TcpStream::peek`], ...) allow one reader and one writer to share
/// it. [`TcpStream::split`] and [`TcpStream::into_split`] give separate halves. Dropping the
/// stream deregisters and closes the socket.
pub struct TcpStream {
    pub(super) io: PollEvented<mio::net::TcpStream>,
}

impl TcpStream {
    /// Opens a connection to `addr`: a non-blocking `connect(2)`, then waits until the socket
    /// is writable and checks the outcome (`SO_ERROR`, then that a peer address is known).
    ///
    /// `addr` is resolved synchronously with [`ToSocketAddrs`] (a host name blocks the thread
    /// on the system resolver); the addresses are tried in turn until one connects.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread; the resolver's
    /// error; the last address's connect error (e.g. `ConnectionRefused` when nothing listens
    /// on the port), or `InvalidInput` if `addr` resolved to no address.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let handle = current_handle()?;
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match TcpStream::connect_addr(addr, &handle).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(super::super::no_addresses))
    }

    async fn connect_addr(addr: SocketAddr, handle: &Handle) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?, handle)?;
        poll_fn(|cx| stream.poll_connected(cx)).await?;
        Ok(stream)
    }

    /// Waits for a non-blocking connect to finish (writable), then reports its outcome.
    fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let event = std::task::ready!(self.io.poll_ready_event(cx, Direction::Write))?;
            let socket = self.io.get_ref();
            if let Some(e) = socket.take_error()? {
                return Poll::Ready(Err(e));
            }
            match socket.peer_addr() {
                Ok(_) => return Poll::Ready(Ok(())),
                // Hung up with no pending error: the connect failed, and `WRITE_CLOSED` is
                // final, so waiting again would return at once.
                Err(e) if e.kind() == io::ErrorKind::NotConnected && event.ready().is_write_closed() => {
                    return Poll::Ready(Err(e));
                }
                // A writable event before the handshake finished: clear it, wait for the next.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => self.io.clear_readiness(event),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Registers an already connected non-blocking mio stream with `handle`'s driver.
    pub(crate) fn from_mio(stream: mio::net::TcpStream, handle: &Handle) -> io::Result<TcpStream> {
        Ok(TcpStream { io: PollEvented::with_handle(stream, handle)? })
    }

    /// Wraps a connected stream from the standard library: puts it into non-blocking mode and
    /// registers it with the current thread's I/O driver.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread (the stream is
    /// then closed); the error of `set_nonblocking` or of the registration.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        let handle = current_handle()?;
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream), &handle)
    }

    /// Deregisters the stream and returns it as a standard-library stream, still in
    /// non-blocking mode (use `set_nonblocking(false)` to change that).
    ///
    /// # Errors
    ///
    /// The poller's deregistration error (the stream is then closed).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.io.into_inner().map(std::net::TcpStream::from)
    }

    /// The local address of this end of the connection.
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The address of the peer.
    ///
    /// # Errors
    ///
    /// The `getpeername(2)` error, e.g. `NotConnected`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm when `true`).
    ///
    /// # Errors
    ///
    /// The `setsockopt(2)` error.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// The `TCP_NODELAY` option (see [`TcpStream::set_nodelay`]).
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets `IP_TTL`, the time-to-live of the packets this socket sends.
    ///
    /// # Errors
    ///
    /// The `setsockopt(2)` error.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The `IP_TTL` option (see [`TcpStream::set_ttl`]).
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Takes the pending `SO_ERROR` error, if any.
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Shuts down the read half, the write half or both (`shutdown(2)`). After
    /// `Shutdown::Write` the peer reads end of file once it has read what was sent.
    ///
    /// # Errors
    ///
    /// The `shutdown(2)` error, e.g. `NotConnected`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Waits until the stream is readable: data, end of file or an error is pending. May
    /// return on a stale readiness (a false positive); a following [`TcpStream::try_read`]
    /// that returns `WouldBlock` clears it, so the next call waits.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.ready(Direction::Read).await
    }

    /// Waits until the stream is writable (or the write half closed or an error is pending);
    /// like [`TcpStream::readable`] in the write direction.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.ready(Direction::Write).await
    }

    /// Polls for read readiness, as [`TcpStream::readable`] does; stores `cx`'s waker when
    /// `Pending`.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_ready(cx, Direction::Read)
    }

    /// Polls for write readiness, as [`TcpStream::writable`] does; stores `cx`'s waker when
    /// `Pending`.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_ready(cx, Direction::Write)
    }

    /// Reads without waiting: `Ok(0)` is end of file.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if no data is available (the readiness seen by the last
    /// [`TcpStream::readable`] is then cleared); the `read(2)` error.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Read, |mut socket| io::Read::read(&mut socket, buf))
    }

    /// Vectored [`TcpStream::try_read`].
    ///
    /// # Errors
    ///
    /// As for [`TcpStream::try_read`].
    pub fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.io.try_io(Direction::Read, |mut socket| io::Read::read_vectored(&mut socket, bufs))
    }

    /// Writes without waiting; returns how many bytes were written.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the send buffer is full (the readiness seen by the last
    /// [`TcpStream::writable`] is then cleared); the `write(2)` error, e.g. `BrokenPipe`.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Write, |mut socket| io::Write::write(&mut socket, buf))
    }

    /// Vectored [`TcpStream::try_write`].
    ///
    /// # Errors
    ///
    /// As for [`TcpStream::try_write`].
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.io.try_io(Direction::Write, |mut socket| io::Write::write_vectored(&mut socket, bufs))
    }

    /// Reads pending data into `buf` without removing it from the receive queue, waiting
    /// until some is available; `Ok(0)` is end of file.
    ///
    /// # Errors
    ///
    /// The `recv(2)` error; an error of kind `Other` once the driver has shut down.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(Direction::Read, |socket| socket.peek(buf)).await
    }

    /// Polls [`TcpStream::peek`].
    ///
    /// # Errors
    ///
    /// As for [`TcpStream::peek`].
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Read, |socket| socket.peek(buf))
    }

    /// Borrows the stream as a read half and a write half, usable concurrently (e.g. with
    /// `futures::join!`) in one task or two.
    ///
    /// With `futures::io::AsyncReadExt` in scope, method syntax `stream.split()` on an owned
    /// stream resolves to that trait's consuming `split` (a lock-based split); write
    /// `TcpStream::split(&mut stream)` to get this one.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        split::split(self)
    }

    /// Splits the stream into owned halves sharing it through an `Arc`, so each can move to
    /// its own task or thread. [`OwnedReadHalf::reunite`] puts them back together; dropping
    /// the [`OwnedWriteHalf`] shuts down the write direction (unless it was
    /// [`forget`](OwnedWriteHalf::forget)-ed), and the socket closes when both are dropped.
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

async_read_via!(TcpStream, s => s);
async_write_via!(TcpStream, s => s);

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream").field("io", &self.io).finish()
    }
}
