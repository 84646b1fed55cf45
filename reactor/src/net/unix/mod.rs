//! Unix-domain sockets: [`UnixListener`], [`UnixStream`] and its split halves, and
//! [`UnixDatagram`].

mod datagram;
mod listener;
mod split;
mod stream;

pub use self::datagram::UnixDatagram;
pub use self::listener::UnixListener;
pub use self::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use self::stream::UnixStream;
