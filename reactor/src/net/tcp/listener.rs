//! [`TcpListener`].

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{Context, Poll};

use super::TcpStream;
use crate::io::Direction;
use crate::net::backoff;
use crate::net::evented::{current_handle, PollEvented};

/// A TCP socket listening for connections, registered with a tern I/O driver.
///
/// Created by [`TcpListener::bind`] or [`TcpListener::from_std`]; connections are taken with
/// [`TcpListener::accept`] (or [`TcpListener::accept_with_backoff`], which also waits out
/// file-descriptor exhaustion). Dropping the listener deregisters and closes it.
pub struct TcpListener {
    io: PollEvented<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds a listener to `addr` (`SO_REUSEADDR` set, backlog 128) and registers it with the
    /// current thread's I/O driver.
    ///
    /// `addr` is resolved synchronously with [`ToSocketAddrs`] (a host name blocks the thread
    /// on the system resolver; IP addresses do not); each address is tried in turn and the
    /// first that binds is used. Port 0 asks the OS for a free port
    /// ([`TcpListener::local_addr`] tells which).
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread; the resolver's
    /// error; the last address's bind or listen error (e.g. `AddrInUse`), or `InvalidInput` if
    /// `addr` resolved to no address.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let handle = current_handle()?;
        super::super::each_addr(addr, |addr| {
            let listener = mio::net::TcpListener::bind(addr)?;
            Ok(TcpListener { io: PollEvented::with_handle(listener, &handle)? })
        })
    }

    /// Wraps a listener from the standard library: puts it into non-blocking mode and
    /// registers it with the current thread's I/O driver.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread (the listener is
    /// then closed); the error of `set_nonblocking` or of the registration.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        let handle = current_handle()?;
        listener.set_nonblocking(true)?;
        Ok(TcpListener { io: PollEvented::with_handle(mio::net::TcpListener::from_std(listener), &handle)? })
    }

    /// Deregisters the listener and returns it as a standard-library listener, still in
    /// non-blocking mode (use `set_nonblocking(false)` to change that).
    ///
    /// # Errors
    ///
    /// The poller's deregistration error (the listener is then closed).
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        self.io.into_inner().map(std::net::TcpListener::from)
    }

    /// Accepts a connection: waits until one is pending and returns the connected stream
    /// (registered with this listener's driver) and the peer's address.
    ///
    /// A connection that failed before it could be taken (`ECONNABORTED`, and on Linux
    /// `EPROTO` or `EPERM`) is skipped with a `tracing::debug!` record and the next one is
    /// awaited. Cancel-safe: dropping the future loses no connection.
    ///
    /// # Errors
    ///
    /// Any other `accept(2)` error, e.g. `EMFILE` when the process is out of file descriptors
    /// (the connection stays queued; see [`TcpListener::accept_with_backoff`]), or an error of
    /// kind `Other` once the driver has shut down.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection, as [`TcpListener::accept`] does: `Pending` (with `cx`'s waker
    /// stored) until one is pending. Only the last task to poll is woken.
    ///
    /// # Errors
    ///
    /// As for [`TcpListener::accept`].
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        loop {
            match std::task::ready!(self.io.poll_io(cx, Direction::Read, |listener| listener.accept())) {
                Ok((stream, addr)) => {
                    return Poll::Ready(TcpStream::from_mio(stream, self.io.handle()).map(|s| (s, addr)));
                }
                Err(e) if backoff::is_connection_error(&e) => {
                    tracing::debug!(error = %e, "tcp accept: skipping a connection that failed before it was accepted");
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Like [`TcpListener::accept`], but waits out resource exhaustion instead of returning
    /// it: on `EMFILE`, `ENFILE`, `ENOBUFS` or `ENOMEM` it logs a `tracing::warn!` record,
    /// sleeps on the current timer driver (1 ms, doubling up to 1 s; each call starts again at
    /// 1 ms) and tries again. The pending connection stays queued meanwhile, so it is accepted
    /// once descriptors are freed. It never spins.
    ///
    /// # Errors
    ///
    /// The other errors of [`TcpListener::accept`]; the resource-exhaustion error itself if no
    /// timer driver is current on the polling thread (see `tern_reactor::time::Handle`).
    pub async fn accept_with_backoff(&self) -> io::Result<(TcpStream, SocketAddr)> {
        backoff::accept_with_backoff("tcp", |cx| self.poll_accept(cx)).await
    }

    /// The local address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `IP_TTL`, the time-to-live of packets sent from accepted sockets.
    ///
    /// # Errors
    ///
    /// The `setsockopt(2)` error.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The `IP_TTL` option (see [`TcpListener::set_ttl`]).
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

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener").field("io", &self.io).finish()
    }
}
