//! Asynchronous filesystem access, in the shape of `std::fs` and `tokio::fs`.
//!
//! Operating systems offer no portable non-blocking file I/O, so every call here
//! runs the matching `std::fs` function on the current runtime's blocking pool
//! (see [`Handle::spawn_blocking`]) and awaits its [`JoinHandle`](crate::JoinHandle).
//! Async worker threads never block on the disk: other tasks keep running while
//! a file is read.
//!
//! ```
//! tern_runtime::block_on(async {
//!     let dir = std::env::temp_dir().join(format!("tern-fs-doc-{}", std::process::id()));
//!     tern_runtime::fs::create_dir_all(&dir).await?;
//!     let path = dir.join("hello.txt");
//!     tern_runtime::fs::write(&path, b"hello").await?;
//!     assert_eq!(tern_runtime::fs::read_to_string(&path).await?, "hello");
//!     tern_runtime::fs::remove_dir_all(&dir).await
//! })
//! .unwrap();
//! ```
//!
//! # Errors common to every operation
//! - Outside a runtime context (no `block_on`, task or [`Handle::enter`] on
//!   this thread) the operation fails with an [`io::Error`] of kind
//!   [`ErrorKind::Other`](io::ErrorKind::Other) saying so; nothing panics.
//! - When the blocking job cannot run to completion (the runtime shut down
//!   before it started, or the `std` call panicked) the [`JoinError`] becomes an
//!   [`io::Error`] of kind `Other`.
//!
//! # Files
//! [`File`] implements `futures_io`'s [`AsyncRead`](futures_io::AsyncRead),
//! [`AsyncWrite`](futures_io::AsyncWrite) and [`AsyncSeek`](futures_io::AsyncSeek)
//! with at most one blocking operation in flight; see its documentation for the
//! buffering rules (a write's error is reported by the next write or flush).
//! Use the extension traits of the `futures` crate (`AsyncReadExt`, ...) for
//! `read_exact`, `write_all` and friends.

mod blocking_buf;
mod file;
mod open_options;
mod ops;
mod read_dir;

use std::io;

pub use file::File;
pub use open_options::OpenOptions;
#[cfg(unix)]
pub use ops::symlink;
pub use ops::{
    canonicalize, copy, create_dir, create_dir_all, hard_link, metadata, read, read_link, read_to_string,
    remove_dir, remove_dir_all, remove_file, rename, set_permissions, symlink_metadata, try_exists, write,
};
pub use read_dir::{read_dir, DirEntry, ReadDir};

use crate::{Handle, JoinError};

/// The current runtime's handle, or the `io::Error` every fs call reports
/// outside a runtime.
pub(crate) fn current_handle() -> io::Result<Handle> {
    Handle::try_current().map_err(|e| {
        io::Error::other(format!(
            "tern_runtime::fs: {e}; file operations run on the runtime's blocking pool, so call them \
             inside `block_on`, a spawned task, or after `Handle::enter`"
        ))
    })
}

/// Turns the failure of a blocking fs job into an `io::Error` of kind `Other`.
pub(crate) fn join_error(e: JoinError) -> io::Error {
    if e.is_cancelled() {
        io::Error::other(format!(
            "tern_runtime::fs: the blocking file operation was cancelled (the runtime is shutting down): {e}"
        ))
    } else {
        io::Error::other(format!("tern_runtime::fs: the blocking file operation panicked: {e}"))
    }
}

/// Runs `f` on the current runtime's blocking pool and awaits its result.
pub(crate) async fn asyncify<F, T>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let handle = current_handle()?;
    match handle.spawn_blocking(f).await {
        Ok(res) => res,
        Err(e) => Err(join_error(e)),
    }
}
