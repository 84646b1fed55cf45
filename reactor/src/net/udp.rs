//! [`UdpSocket`].

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{Context, Poll};

use crate::io::Direction;
use crate::net::evented::{current_handle, PollEvented};

/// A UDP socket registered with a tern I/O driver.
///
/// Unconnected, it sends with [`UdpSocket::send_to`] and receives from anyone with
/// [`UdpSocket::recv_from`]; after [`UdpSocket::connect`] it can use [`UdpSocket::send`] and
/// [`UdpSocket::recv`], which talk to that peer only. All methods take `&self`, so one task
/// can receive while another sends (wrap the socket in an `Arc`). Dropping it deregisters and
/// closes the socket.
pub struct UdpSocket {
    io: PollEvented<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr` and registers it with the current thread's I/O driver.
    ///
    /// `addr` is resolved synchronously with [`ToSocketAddrs`] (a host name blocks on the
    /// system resolver); each address is tried in turn. Port 0 asks the OS for a free port.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread; the resolver's
    /// error; the last address's bind error, or `InvalidInput` if `addr` resolved to no
    /// address.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let handle = current_handle()?;
        super::each_addr(addr, |addr| {
            Ok(UdpSocket { io: PollEvented::with_handle(mio::net::UdpSocket::bind(addr)?, &handle)? })
        })
    }

    /// Wraps a socket from the standard library: puts it into non-blocking mode and registers
    /// it with the current thread's I/O driver.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread (the socket is
    /// then closed); the error of `set_nonblocking` or of the registration.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        let handle = current_handle()?;
        socket.set_nonblocking(true)?;
        Ok(UdpSocket { io: PollEvented::with_handle(mio::net::UdpSocket::from_std(socket), &handle)? })
    }

    /// Deregisters the socket and returns it as a standard-library socket, still in
    /// non-blocking mode.
    ///
    /// # Errors
    ///
    /// The poller's deregistration error (the socket is then closed).
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        self.io.into_inner().map(std::net::UdpSocket::from)
    }

    /// Connects the socket to `addr`: [`UdpSocket::send`] then sends there and
    /// [`UdpSocket::recv`] only receives from there. Resolved like [`UdpSocket::bind`]; the
    /// first address that `connect(2)` accepts is used.
    ///
    /// # Errors
    ///
    /// The resolver's error; the last address's `connect(2)` error, or `InvalidInput` if
    /// `addr` resolved to no address.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        super::each_addr(addr, |addr| self.io.get_ref().connect(addr))
    }

    /// Sends `buf` to the connected peer, waiting until the socket is writable; returns the
    /// number of bytes sent.
    ///
    /// # Errors
    ///
    /// The `send(2)` error (e.g. `NotConnected`, or `ConnectionRefused` reported by an earlier
    /// ICMP message); an error of kind `Other` once the driver has shut down.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.io(Direction::Write, |socket| socket.send(buf)).await
    }

    /// Polls [`UdpSocket::send`].
    ///
    /// # Errors
    ///
    /// As for [`UdpSocket::send`].
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Write, |socket| socket.send(buf))
    }

    /// Sends `buf` to the connected peer without waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the send buffer is full (clearing the readiness seen by the last
    /// [`UdpSocket::writable`]); the `send(2)` error.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Write, |socket| socket.send(buf))
    }

    /// Receives one datagram from the connected peer into `buf`, waiting for one; returns its
    /// length (a datagram longer than `buf` is truncated).
    ///
    /// # Errors
    ///
    /// The `recv(2)` error; an error of kind `Other` once the driver has shut down.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(Direction::Read, |socket| socket.recv(buf)).await
    }

    /// Polls [`UdpSocket::recv`].
    ///
    /// # Errors
    ///
    /// As for [`UdpSocket::recv`].
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Read, |socket| socket.recv(buf))
    }

    /// Receives one datagram from the connected peer without waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if none is queued (clearing the readiness seen by the last
    /// [`UdpSocket::readable`]); the `recv(2)` error.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Read, |socket| socket.recv(buf))
    }

    /// Sends `buf` to `target`, waiting until the socket is writable. `target` is resolved
    /// synchronously; the first address is used.
    ///
    /// # Errors
    ///
    /// The resolver's error, `InvalidInput` if `target` resolved to no address; the
    /// `sendto(2)` error; an error of kind `Other` once the driver has shut down.
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let target = target.to_socket_addrs()?.next().ok_or_else(super::no_addresses)?;
        self.io.io(Direction::Write, |socket| socket.send_to(buf, target)).await
    }

    /// Polls a send of `buf` to `target` (see [`UdpSocket::send_to`]).
    ///
    /// # Errors
    ///
    /// The `sendto(2)` error; an error of kind `Other` once the driver has shut down.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Write, |socket| socket.send_to(buf, target))
    }

    /// Sends `buf` to `target` without waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the send buffer is full (clearing the readiness seen by the last
    /// [`UdpSocket::writable`]); the `sendto(2)` error.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.io.try_io(Direction::Write, |socket| socket.send_to(buf, target))
    }

    /// Receives one datagram into `buf`, waiting for one; returns its length (truncated to
    /// `buf`) and its sender.
    ///
    /// # Errors
    ///
    /// The `recvfrom(2)` error; an error of kind `Other` once the driver has shut down.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.io(Direction::Read, |socket| socket.recv_from(buf)).await
    }

    /// Polls [`UdpSocket::recv_from`].
    ///
    /// # Errors
    ///
    /// As for [`UdpSocket::recv_from`].
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_io(cx, Direction::Read, |socket| socket.recv_from(buf))
    }

    /// Receives one datagram without waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if none is queued (clearing the readiness seen by the last
    /// [`UdpSocket::readable`]); the `recvfrom(2)` error.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_io(Direction::Read, |socket| socket.recv_from(buf))
    }

    /// Like [`UdpSocket::recv_from`], but leaves the datagram queued: the next receive
    /// returns it again.
    ///
    /// # Errors
    ///
    /// As for [`UdpSocket::recv_from`].
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.io(Direction::Read, |socket| socket.peek_from(buf)).await
    }

    /// Polls [`UdpSocket::peek_from`].
    ///
    /// # Errors
    ///
    /// As for [`UdpSocket::recv_from`].
    pub fn poll_peek_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_io(cx, Direction::Read, |socket| socket.peek_from(buf))
    }

    /// Waits until a datagram (or an error) is queued. May be a false positive after a stale
    /// readiness; a `try_recv*` returning `WouldBlock` clears it.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.ready(Direction::Read).await
    }

    /// Waits until the socket can send (or an error is pending); see
    /// [`UdpSocket::readable`].
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.ready(Direction::Write).await
    }

    /// The local address the socket is bound to.
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
    /// `NotConnected` if [`UdpSocket::connect`] was not called; the `getpeername(2)` error.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sets `SO_BROADCAST` (allow sending to broadcast addresses).
    ///
    /// # Errors
    ///
    /// The `setsockopt(2)` error.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// The `SO_BROADCAST` option.
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }

    /// Sets `IP_TTL`, the time-to-live of the packets this socket sends.
    ///
    /// # Errors
    ///
    /// The `setsockopt(2)` error.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The `IP_TTL` option.
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
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket").field("io", &self.io).finish()
    }
}
