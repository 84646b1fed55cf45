//! [`UnixListener`].

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll};

use super::UnixStream;
use crate::io::Direction;
use crate::net::backoff;
use crate::net::evented::{current_handle, PollEvented};

/// A Unix-domain socket listening for connections, registered with a tern I/O driver.
///
/// Dropping the listener deregisters and closes it; like the standard library's, it does not
/// remove the socket file at its path.
pub struct UnixListener {
    io: PollEvented<mio::net::UnixListener>,
}

impl UnixListener {
    /// Binds a listener at `path` (which must not exist yet) and registers it with the current
    /// thread's I/O driver. Synchronous, like `bind(2)` on a path.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread; the bind or
    /// listen error, e.g. `AddrInUse` if the path exists.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let handle = current_handle()?;
        let listener = mio::net::UnixListener::bind(path)?;
        Ok(UnixListener { io: PollEvented::with_handle(listener, &handle)? })
    }

    /// Wraps a listener from the standard library: puts it into non-blocking mode and
    /// registers it with the current thread's I/O driver.
    ///
    /// # Errors
    ///
    /// An error of kind `Other` if no tern reactor is running on this thread (the listener is
    /// then closed); the error of `set_nonblocking` or of the registration.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        let handle = current_handle()?;
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            io: PollEvented::with_handle(mio::net::UnixListener::from_std(listener), &handle)?,
        })
    }

    /// Deregisters the listener and returns it as a standard-library listener, still in
    /// non-blocking mode.
    ///
    /// # Errors
    ///
    /// The poller's deregistration error (the listener is then closed).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        self.io.into_inner().map(std::os::unix::net::UnixListener::from)
    }

    /// Accepts a connection: waits until one is pending and returns the connected stream
    /// (registered with this listener's driver) and the peer's address (usually unnamed).
    ///
    /// Connections that failed before they were taken (`ECONNABORTED`, and on Linux `EPROTO`
    /// or `EPERM`) are skipped with a `tracing::debug!` record. Cancel-safe.
    ///
    /// # Errors
    ///
    /// Any other `accept(2)` error, e.g. `EMFILE` (see
    /// [`UnixListener::accept_with_backoff`]); an error of kind `Other` once the driver has
    /// shut down.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection, as [`UnixListener::accept`] does.
    ///
    /// # Errors
    ///
    /// As for [`UnixListener::accept`].
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        loop {
            match std::task::ready!(self.io.poll_io(cx, Direction::Read, |listener| listener.accept())) {
                Ok((stream, addr)) => {
                    return Poll::Ready(UnixStream::from_mio(stream, self.io.handle()).map(|s| (s, addr)));
                }
                Err(e) if backoff::is_connection_error(&e) => {
                    tracing::debug!(error = %e, "unix accept: skipping a connection that failed before it was accepted");
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Like [`UnixListener::accept`], but waits out resource exhaustion (`EMFILE`, `ENFILE`,
    /// `ENOBUFS`, `ENOMEM`): logs a `tracing::warn!` record, sleeps on the current timer
    /// driver (1 ms doubling up to 1 s; each call starts again at 1 ms) and tries again. It
    /// never spins.
    ///
    /// # Errors
    ///
    /// The other errors of [`UnixListener::accept`]; the resource-exhaustion error itself if
    /// no timer driver is current on the polling thread.
    pub async fn accept_with_backoff(&self) -> io::Result<(UnixStream, SocketAddr)> {
        backoff::accept_with_backoff("unix", |cx| self.poll_accept(cx)).await
    }

    /// The address (path) the listener is bound to.
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
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

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener").field("io", &self.io).finish()
    }
}
