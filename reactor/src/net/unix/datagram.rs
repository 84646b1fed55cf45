//! [`UnixDatagram`].

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll};

use crate::io::Direction;
use crate::net::evented::{current_handle, PollEvented};

/// A Unix-domain datagram socket registered with a tern I/O driver.
///
/// All methods take `&self`. Dropping it deregisters and closes the socket (a socket file it
/// was bound to stays on disk).
pub struct UnixDatagram {
    io: PollEvented<mio::net::UnixDatagram>,
}

impl UnixDatagram {
    /// A socket bound to `path` (which must not exist yet).
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread; the `bind(2)`
    /// error.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        let handle = current_handle()?;
        Ok(UnixDatagram { io: PollEvented::with_handle(mio::net::UnixDatagram::bind(path)?, &handle)? })
    }

    /// A socket bound to no address (it can send, and receive replies once connected).
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread; the
    /// `socket(2)` error.
    pub fn unbound() -> io::Result<UnixDatagram> {
        let handle = current_handle()?;
        Ok(UnixDatagram { io: PollEvented::with_handle(mio::net::UnixDatagram::unbound()?, &handle)? })
    }

    /// A connected pair of anonymous sockets (`socketpair(2)`).
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread; the
    /// `socketpair(2)` or registration error.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let handle = current_handle()?;
        let (a, b) = mio::net::UnixDatagram::pair()?;
        Ok((
            UnixDatagram { io: PollEvented::with_handle(a, &handle)? },
            UnixDatagram { io: PollEvented::with_handle(b, &handle)? },
        ))
    }

    /// Wraps a socket from the standard library: puts it into non-blocking mode and registers
    /// it with the current thread's I/O driver.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread (the socket is
    /// then closed); the error of `set_nonblocking` or of the registration.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        let handle = current_handle()?;
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram { io: PollEvented::with_handle(mio::net::UnixDatagram::from_std(socket), &handle)? })
    }

    /// Connects the socket to the one bound at `path`: [`UnixDatagram::send`] then sends
    /// there and [`UnixDatagram::recv`] only receives from there.
    ///
    /// # Errors
    ///
    /// The `connect(2)` error, e.g. `NotFound`.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// Sends `buf` to the connected peer, waiting until the socket is writable.
    ///
    /// # Errors
    ///
    /// The `send(2)` error; an error of kind `Other` once the driver has shut down.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.io(Direction::Write, |socket| socket.send(buf)).await
    }

    /// Sends `buf` to the connected peer without waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the peer's queue is full; the `send(2)` error.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Write, |socket| socket.send(buf))
    }

    /// Receives one datagram from the connected peer, waiting for one.
    ///
    /// # Errors
    ///
    /// The `recv(2)` error; an error of kind `Other` once the driver has shut down.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(Direction::Read, |socket| socket.recv(buf)).await
    }

    /// Receives one datagram without waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if none is queued; the `recv(2)` error.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Read, |socket| socket.recv(buf))
    }

    /// Sends `buf` to the socket bound at `path`, waiting until the socket is writable.
    ///
    /// # Errors
    ///
    /// The `sendto(2)` error; an error of kind `Other` once the driver has shut down.
    pub async fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.io.io(Direction::Write, |socket| socket.send_to(buf, path)).await
    }

    /// Receives one datagram and its sender's address, waiting for one.
    ///
    /// # Errors
    ///
    /// The `recvfrom(2)` error; an error of kind `Other` once the driver has shut down.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.io(Direction::Read, |socket| socket.recv_from(buf)).await
    }

    /// Polls [`UnixDatagram::recv_from`].
    ///
    /// # Errors
    ///
    /// As for [`UnixDatagram::recv_from`].
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_io(cx, Direction::Read, |socket| socket.recv_from(buf))
    }

    /// Waits until a datagram (or an error) is queued; may be a false positive.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.ready(Direction::Read).await
    }

    /// Waits until the socket can send; may be a false positive.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.ready(Direction::Write).await
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// The `getpeername(2)` error, e.g. `NotConnected`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// # Errors
    ///
    /// The `shutdown(2)` error.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Takes the pending `SO_ERROR` error, if any.
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram").field("io", &self.io).finish()
    }
}
