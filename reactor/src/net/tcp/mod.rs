//! TCP: [`TcpListener`], [`TcpStream`] and the stream's split halves.

mod listener;
mod split;
mod stream;

pub use self::listener::TcpListener;
pub use self::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use self::stream::TcpStream;
