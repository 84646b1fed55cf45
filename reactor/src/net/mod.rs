//! Network types on the I/O driver: TCP ([`TcpListener`], [`TcpStream`]), UDP
//! ([`UdpSocket`]) and, on Unix, Unix-domain sockets ([`UnixListener`], [`UnixStream`],
//! [`UnixDatagram`]).
//!
//! Each type owns a non-blocking `mio` socket registered (edge-triggered, readable and
//! writable) with the thread's current I/O driver ([`crate::io::Handle::current`]) when it is
//! created; with no driver current, construction fails with an error of kind `Other` saying
//! that no tern reactor is running on this thread. Sockets produced by a listener's `accept`
//! are registered with the listener's driver. Dropping a type deregisters its socket from the
//! driver, then closes it.
//!
//! Every operation is a non-blocking call run through the driver's readiness loop: wait for
//! readiness in the call's direction, run the call, and on `WouldBlock` clear the readiness it
//! ran on and wait for the next event (see [`crate::io::Registration::poll_io`]). The
//! `readable()`/`writable()` + `try_*` pairs expose the same loop by hand: a `try_*` call that
//! returns `WouldBlock` clears the readiness the last `readable()`/`writable()` observed, so
//! the next one waits for a new event.
//!
//! Streams implement `futures_io::AsyncRead` and `futures_io::AsyncWrite` (`poll_close`
//! shuts the write half down); [`TcpStream::into_split`] / [`UnixStream::into_split`] give
//! owned halves that a reader task and a writer task can use concurrently.
//!
//! Listeners' `accept` skips connections that failed before they were taken
//! (`ECONNABORTED`, and on Linux `EPROTO`/`EPERM`); `accept_with_backoff` additionally waits
//! out resource exhaustion (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) with an exponential
//! back-off from 1 ms to 1 s on the current timer driver.
//!
//! Address arguments use [`std::net::ToSocketAddrs`], resolved synchronously: IP addresses
//! and `"ip:port"` strings never block, but a host name is looked up with the system resolver
//! on the calling thread.

mod backoff;
mod evented;
mod stream_io;
pub mod tcp;
mod udp;
#[cfg(unix)]
pub mod unix;

pub use self::tcp::{TcpListener, TcpStream};
pub use self::udp::UdpSocket;
#[cfg(unix)]
pub use self::unix::{UnixDatagram, UnixListener, UnixStream};

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `addr` and returns the first address `f` succeeds on, or the last error.
fn each_addr<T>(addr: impl ToSocketAddrs, mut f: impl FnMut(SocketAddr) -> io::Result<T>) -> io::Result<T> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match f(addr) {
            Ok(value) => return Ok(value),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_addresses))
}

/// The error for an address argument that resolved to no address.
fn no_addresses() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address")
}
