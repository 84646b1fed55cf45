//! hyper 1.x over tern, with no tokio anywhere (feature `hyper`).
//!
//! - [`hyper::rt::Read`] and [`hyper::rt::Write`] for [`TcpStream`](crate::net::TcpStream)
//!   and [`UnixStream`](crate::net::UnixStream), so hyper's `serve_connection` and
//!   `handshake` take them directly; [`HyperIo`] adapts any other
//!   `futures_io::{AsyncRead, AsyncWrite}` type (a TLS stream, a test duplex).
//! - [`HyperTimer`]: hyper's [`Timer`](hyper::rt::Timer) on tern's timer wheel, whose
//!   `reset` re-arms the existing wheel entry in place instead of allocating a new sleep
//!   (hyper resets its keep-alive and header-read timers on every request).
//!
//! The executor hyper needs to spawn connection tasks (`HyperExecutor`) lives in
//! `tern-runtime`, which owns spawning.
//!
//! ```no_run
//! # async fn serve(listener: tern_reactor::net::TcpListener) -> std::io::Result<()> {
//! use hyper::server::conn::http1;
//! use tern_reactor::hyper::HyperTimer;
//!
//! let (stream, _) = listener.accept().await?;
//! let service = hyper::service::service_fn(|_req| async {
//!     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::from("hello")))
//! });
//! http1::Builder::new().timer(HyperTimer::new()).serve_connection(stream, service).await.ok();
//! # Ok(()) }
//! ```

mod io;
mod timer;

pub use self::io::HyperIo;
pub use self::timer::{HyperSleep, HyperTimer};
