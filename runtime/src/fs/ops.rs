//! Free functions: each runs one `std::fs` call on the blocking pool.
//!
//! Paths are copied into the job, so the futures borrow nothing once created.

use std::fs::{Metadata, Permissions};
use std::io;
use std::path::{Path, PathBuf};

use super::asyncify;

/// Reads the whole file at `path` into a `Vec` (wraps [`std::fs::read`]).
///
/// # Errors
/// Those of `std::fs::read` (e.g. [`NotFound`](io::ErrorKind::NotFound)), plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read(path)).await
}

/// Reads the whole file at `path` into a `String` (wraps
/// [`std::fs::read_to_string`]).
///
/// # Errors
/// [`InvalidData`](io::ErrorKind::InvalidData) when the contents are not UTF-8;
/// otherwise those of `std::fs::read_to_string`, plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read_to_string(path)).await
}

/// Writes `contents` to `path`, creating the file or truncating it first (wraps
/// [`std::fs::write`]). The bytes are copied before the job starts.
///
/// # Errors
/// Those of `std::fs::write`, plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_owned();
    asyncify(move || std::fs::write(path, contents)).await
}

/// Copies the contents and permissions of `from` to `to`, replacing `to`;
/// returns the number of bytes copied (wraps [`std::fs::copy`]).
///
/// # Errors
/// Those of `std::fs::copy` (e.g. `from` missing or a directory), plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    asyncify(move || std::fs::copy(from, to)).await
}

/// Creates the directory `path`; its parent must exist (wraps
/// [`std::fs::create_dir`]).
///
/// # Errors
/// [`AlreadyExists`](io::ErrorKind::AlreadyExists) when `path` exists, otherwise
/// those of `std::fs::create_dir`, plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::create_dir(path)).await
}

/// Creates the directory `path` and every missing parent; succeeds when it
/// already exists (wraps [`std::fs::create_dir_all`]).
///
/// # Errors
/// Those of `std::fs::create_dir_all`, plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::create_dir_all(path)).await
}

/// Removes the file (or symbolic link) at `path` (wraps [`std::fs::remove_file`]).
///
/// # Errors
/// Those of `std::fs::remove_file` (e.g. [`NotFound`](io::ErrorKind::NotFound)),
/// plus the [runtime errors](super#errors-common-to-every-operation).
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_file(path)).await
}

/// Removes the empty directory `path` (wraps [`std::fs::remove_dir`]).
///
/// # Errors
/// Those of `std::fs::remove_dir` (e.g. the directory is not empty), plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_dir(path)).await
}

/// Removes the directory `path` and everything in it (wraps
/// [`std::fs::remove_dir_all`]).
///
/// # Errors
/// Those of `std::fs::remove_dir_all`, plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_dir_all(path)).await
}

/// Renames `from` to `to`, replacing `to` if it is a file (wraps
/// [`std::fs::rename`]).
///
/// # Errors
/// Those of `std::fs::rename` (e.g. `from` missing), plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    asyncify(move || std::fs::rename(from, to)).await
}

/// The metadata of `path`, following symbolic links (wraps [`std::fs::metadata`]).
///
/// # Errors
/// Those of `std::fs::metadata`, plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::metadata(path)).await
}

/// The metadata of `path` itself, not following a final symbolic link (wraps
/// [`std::fs::symlink_metadata`]).
///
/// # Errors
/// Those of `std::fs::symlink_metadata`, plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::symlink_metadata(path)).await
}

/// The absolute form of `path`, with every symbolic link and `.`/`..` resolved
/// (wraps [`std::fs::canonicalize`]).
///
/// # Errors
/// Those of `std::fs::canonicalize` (e.g. `path` missing), plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::canonicalize(path)).await
}

/// `Ok(true)` when `path` exists, `Ok(false)` when it verifiably does not
/// (wraps [`Path::try_exists`]; broken symbolic links give `false`).
///
/// # Errors
/// When existence cannot be decided (e.g. permission denied on a parent), plus
/// the [runtime errors](super#errors-common-to-every-operation).
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    let path = path.as_ref().to_owned();
    asyncify(move || path.try_exists()).await
}

/// Creates `link` as a new hard link to the file `original` (wraps
/// [`std::fs::hard_link`]).
///
/// # Errors
/// Those of `std::fs::hard_link` (e.g. `link` exists), plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (original, link) = (original.as_ref().to_owned(), link.as_ref().to_owned());
    asyncify(move || std::fs::hard_link(original, link)).await
}

/// Creates `link` as a symbolic link pointing at `original` (Unix only; wraps
/// [`std::os::unix::fs::symlink`]).
///
/// # Errors
/// Those of `std::os::unix::fs::symlink`, plus the
/// [runtime errors](super#errors-common-to-every-operation).
#[cfg(unix)]
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (original, link) = (original.as_ref().to_owned(), link.as_ref().to_owned());
    asyncify(move || std::os::unix::fs::symlink(original, link)).await
}

/// The target a symbolic link points at (wraps [`std::fs::read_link`]).
///
/// # Errors
/// Those of `std::fs::read_link` (e.g. `path` is not a link), plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read_link(path)).await
}

/// Sets the permissions of `path` (wraps [`std::fs::set_permissions`]).
///
/// # Errors
/// Those of `std::fs::set_permissions`, plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::set_permissions(path, perm)).await
}
