//! `hyper::rt::{Read, Write}` on top of `futures_io::{AsyncRead, AsyncWrite}`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use hyper::rt::ReadBufCursor;

/// Reads from a futures-io `reader` into hyper's cursor (for [`HyperIo`]; the `AsyncRead`
/// contract needs an initialized buffer, so the unfilled part is zeroed first).
fn poll_read_cursor<R: AsyncRead + ?Sized>(
    reader: Pin<&mut R>,
    cx: &mut Context<'_>,
    mut cursor: ReadBufCursor<'_>,
) -> Poll<io::Result<()>> {
    // Zeroes only the part of the buffer never initialized before (hyper tracks it), so a
    // reused buffer costs nothing here.
    let buf = cursor.initialize_unfilled();
    let n = match reader.poll_read(cx, buf) {
        Poll::Ready(Ok(n)) => n,
        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
        Poll::Pending => return Poll::Pending,
    };
    assert!(n <= cursor.remaining(), "AsyncRead::poll_read reported more bytes than the buffer holds");
    // SAFETY: the first `n` bytes of the unfilled part were initialized by
    // `initialize_unfilled` and written by the read, and `n` fits (checked above).
    unsafe { cursor.advance(n) };
    Poll::Ready(Ok(()))
}

/// Implements `hyper::rt::{Read, Write}` for one of tern's streams: reads go straight into
/// hyper's uninitialized buffer (hyper hands out a fresh one per read, so zeroing it first
/// would cost a memset of the whole buffer on every read), writes through the futures-io
/// impls.
macro_rules! hyper_io {
    ($($ty:ty),* $(,)?) => {$(
        impl hyper::rt::Read for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                mut cursor: ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                // SAFETY: `poll_read_uninit` only writes into the slice (read(2)), never
                // de-initializes it.
                let buf = unsafe { cursor.as_mut() };
                let n = std::task::ready!(self.poll_read_uninit(cx, buf))?;
                // SAFETY: read(2) initialized the first `n` bytes of the unfilled part, and
                // `n <= buf.len()`.
                unsafe { cursor.advance(n) };
                Poll::Ready(Ok(()))
            }
        }

        impl hyper::rt::Write for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                AsyncWrite::poll_write(self, cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                AsyncWrite::poll_write_vectored(self, cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                AsyncWrite::poll_flush(self, cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                AsyncWrite::poll_close(self, cx)
            }
        }
    )*};
}

hyper_io!(crate::net::TcpStream);
#[cfg(unix)]
hyper_io!(crate::net::UnixStream);

/// Adapts any `futures_io::{AsyncRead, AsyncWrite}` type to `hyper::rt::{Read, Write}`
/// (tern's own streams implement hyper's traits directly and need no wrapper).
///
/// `poll_shutdown` is `poll_close`; vectored writes go through `poll_write_vectored`.
#[derive(Debug, Default, Clone, Copy)]
pub struct HyperIo<T> {
    inner: T,
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo { inner }
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped value, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps.
    pub fn into_inner(self) -> T {
        self.inner
    }

    fn pin_inner(self: Pin<&mut Self>) -> Pin<&mut T> {
        // SAFETY: structural pinning: `inner` is never moved out of a pinned `HyperIo`
        // (`into_inner` takes `self` by value, which a pinned value cannot give), and
        // `HyperIo` has no `Drop` impl.
        unsafe { self.map_unchecked_mut(|s| &mut s.inner) }
    }
}

impl<T: AsyncRead> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        cursor: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_cursor(self.pin_inner(), cx, cursor)
    }
}

impl<T: AsyncWrite> hyper::rt::Write for HyperIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.pin_inner().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.pin_inner().poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.pin_inner().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.pin_inner().poll_close(cx)
    }
}
