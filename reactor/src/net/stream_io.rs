//! The `futures_io` impls every stream type and half shares: each delegates to the
//! `poll_*_priv` methods of the stream it reaches (`TcpStream`, `UnixStream`), so the
//! readiness loop lives once, in [`PollEvented`](super::evented::PollEvented).

/// `impl AsyncRead for $ty`, reading through the stream `$stream` (an expression of
/// `$this: &$ty`).
macro_rules! async_read_via {
    ($ty:ty, $this:ident => $stream:expr) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this: &Self = &self;
                $stream.poll_read_priv(cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this: &Self = &self;
                $stream.poll_read_vectored_priv(cx, bufs)
            }
        }
    };
}

/// `impl AsyncWrite for $ty`, writing through the stream `$stream` (an expression of
/// `$this: &$ty`); `poll_flush` is a no-op (no user-space buffer), `poll_close` shuts
/// down the stream's write direction.
macro_rules! async_write_via {
    ($ty:ty, $this:ident => $stream:expr) => {
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this: &Self = &self;
                $stream.poll_write_priv(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this: &Self = &self;
                $stream.poll_write_vectored_priv(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $this: &Self = &self;
                $stream.poll_shutdown_priv()
            }
        }
    };
}

pub(crate) use {async_read_via, async_write_via};
