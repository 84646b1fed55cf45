//! The halves of a [`TcpStream`]: borrowed ([`ReadHalf`], [`WriteHalf`]) and owned
//! ([`OwnedReadHalf`], [`OwnedWriteHalf`]).
//!
//! The read side only ever waits in the read direction and the write side in the write
//! direction, each with its own waker slot in the registration, so one task may read while
//! another writes.

use std::error::Error;
use std::fmt;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::AsyncWrite;

use super::TcpStream;
use crate::net::stream_io::{async_read_via, async_write_via};

/// The read half of a [`TcpStream`] borrowed by [`TcpStream::split`]; implements
/// `futures_io::AsyncRead`.
#[derive(Debug)]
pub struct ReadHalf<'a>(&'a TcpStream);

/// The write half of a [`TcpStream`] borrowed by [`TcpStream::split`]; implements
/// `futures_io::AsyncWrite`, whose `poll_close` shuts down the stream's write direction.
#[derive(Debug)]
pub struct WriteHalf<'a>(&'a TcpStream);

/// The owned read half of a [`TcpStream`], from [`TcpStream::into_split`]; implements
/// `futures_io::AsyncRead`.
#[derive(Debug)]
pub struct OwnedReadHalf {
    inner: Arc<TcpStream>,
}

/// The owned write half of a [`TcpStream`], from [`TcpStream::into_split`]; implements
/// `futures_io::AsyncWrite`.
///
/// Dropping it shuts down the write direction (`shutdown(Write)`, so the peer reads end of
/// file), unless [`OwnedWriteHalf::forget`] was called or `poll_close` already did it. The
/// socket itself closes once both halves are dropped.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    inner: Arc<TcpStream>,
    shutdown_on_drop: bool,
}

/// The error of [`OwnedReadHalf::reunite`] for halves of two different streams; it gives
/// both halves back.
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

pub(super) fn split(stream: &mut TcpStream) -> (ReadHalf<'_>, WriteHalf<'_>) {
    (ReadHalf(stream), WriteHalf(stream))
}

pub(super) fn split_owned(stream: TcpStream) -> (OwnedReadHalf, OwnedWriteHalf) {
    let inner = Arc::new(stream);
    (OwnedReadHalf { inner: inner.clone() }, OwnedWriteHalf { inner, shutdown_on_drop: true })
}

fn reunite(read: OwnedReadHalf, mut write: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
    if !Arc::ptr_eq(&read.inner, &write.inner) {
        return Err(ReuniteError(read, write));
    }
    write.shutdown_on_drop = false;
    drop(write);
    Ok(Arc::try_unwrap(read.inner).expect("TcpStream: both halves were given back, yet the Arc is shared"))
}

impl fmt::Debug for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReuniteError").finish_non_exhaustive()
    }
}

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite the halves of two different TcpStreams")
    }
}

impl Error for ReuniteError {}

impl ReadHalf<'_> {
    /// The peer's address (see [`TcpStream::peer_addr`]).
    ///
    /// # Errors
    ///
    /// The `getpeername(2)` error.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// The local address (see [`TcpStream::local_addr`]).
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// Waits until readable (see [`TcpStream::readable`]).
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub async fn readable(&self) -> io::Result<()> {
        self.0.readable().await
    }

    /// Reads without waiting (see [`TcpStream::try_read`]).
    ///
    /// # Errors
    ///
    /// `WouldBlock` if no data is available; the `read(2)` error.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }

    /// Peeks at pending data (see [`TcpStream::peek`]).
    ///
    /// # Errors
    ///
    /// The `recv(2)` error; an error of kind `Other` once the driver has shut down.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.peek(buf).await
    }
}

impl WriteHalf<'_> {
    /// The peer's address (see [`TcpStream::peer_addr`]).
    ///
    /// # Errors
    ///
    /// The `getpeername(2)` error.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// The local address (see [`TcpStream::local_addr`]).
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// Waits until writable (see [`TcpStream::writable`]).
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub async fn writable(&self) -> io::Result<()> {
        self.0.writable().await
    }

    /// Writes without waiting (see [`TcpStream::try_write`]).
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the send buffer is full; the `write(2)` error.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
}

impl OwnedReadHalf {
    /// Puts the stream back together with its write half (which then does not shut anything
    /// down).
    ///
    /// # Errors
    ///
    /// [`ReuniteError`], holding both halves, if `write` belongs to another stream.
    pub fn reunite(self, write: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        reunite(self, write)
    }

    /// The peer's address (see [`TcpStream::peer_addr`]).
    ///
    /// # Errors
    ///
    /// The `getpeername(2)` error.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address (see [`TcpStream::local_addr`]).
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Waits until readable (see [`TcpStream::readable`]).
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub async fn readable(&self) -> io::Result<()> {
        self.inner.readable().await
    }

    /// Reads without waiting (see [`TcpStream::try_read`]).
    ///
    /// # Errors
    ///
    /// `WouldBlock` if no data is available; the `read(2)` error.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.try_read(buf)
    }

    /// Peeks at pending data (see [`TcpStream::peek`]).
    ///
    /// # Errors
    ///
    /// The `recv(2)` error; an error of kind `Other` once the driver has shut down.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek(buf).await
    }
}

impl OwnedWriteHalf {
    /// Puts the stream back together with its read half (see [`OwnedReadHalf::reunite`]).
    ///
    /// # Errors
    ///
    /// [`ReuniteError`], holding both halves, if `read` belongs to another stream.
    pub fn reunite(self, read: OwnedReadHalf) -> Result<TcpStream, ReuniteError> {
        reunite(read, self)
    }

    /// Drops this half without shutting down the write direction.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }

    /// The peer's address (see [`TcpStream::peer_addr`]).
    ///
    /// # Errors
    ///
    /// The `getpeername(2)` error.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address (see [`TcpStream::local_addr`]).
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Waits until writable (see [`TcpStream::writable`]).
    ///
    /// # Errors
    ///
    /// An error of kind `Other` once the driver has shut down.
    pub async fn writable(&self) -> io::Result<()> {
        self.inner.writable().await
    }

    /// Writes without waiting (see [`TcpStream::try_write`]).
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the send buffer is full; the `write(2)` error.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.try_write(buf)
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.inner.shutdown(Shutdown::Write);
        }
    }
}

impl AsRef<TcpStream> for ReadHalf<'_> {
    fn as_ref(&self) -> &TcpStream {
        self.0
    }
}

impl AsRef<TcpStream> for WriteHalf<'_> {
    fn as_ref(&self) -> &TcpStream {
        self.0
    }
}

impl AsRef<TcpStream> for OwnedReadHalf {
    fn as_ref(&self) -> &TcpStream {
        &self.inner
    }
}

impl AsRef<TcpStream> for OwnedWriteHalf {
    fn as_ref(&self) -> &TcpStream {
        &self.inner
    }
}

async_read_via!(ReadHalf<'_>, h => h.0);
async_read_via!(OwnedReadHalf, h => h.inner);
async_write_via!(WriteHalf<'_>, h => h.0);

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.inner.poll_write_priv(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write_vectored_priv(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Shuts down the stream's write direction; the drop then does not do it again.
    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = self.inner.poll_shutdown_priv();
        if let Poll::Ready(Ok(())) = result {
            self.shutdown_on_drop = false;
        }
        result
    }
}
