//! `read_dir`: directory listings fetched from the blocking pool in batches.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs::{FileType, Metadata};
use std::future::{poll_fn, Future};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::{asyncify, current_handle, join_error};
use crate::JoinHandle;

/// Entries fetched by one blocking job.
const BATCH: usize = 32;

/// Opens the directory `path` for listing (wraps [`std::fs::read_dir`]).
///
/// Entries come from [`ReadDir::next_entry`]; `.` and `..` are not listed and
/// the order is the operating system's.
///
/// # Errors
/// Those of `std::fs::read_dir` (e.g. [`NotFound`](io::ErrorKind::NotFound), or
/// `path` is not a directory), plus the
/// [runtime errors](super#errors-common-to-every-operation).
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    let std = asyncify(move || std::fs::read_dir(path)).await?;
    Ok(ReadDir { state: State::Idle(Some(Batch { std, entries: VecDeque::new(), done: false })) })
}

/// A directory listing from [`read_dir`].
///
/// Each blocking job reads up to 32 entries; [`next_entry`](ReadDir::next_entry)
/// hands them out one at a time. A `next_entry` future dropped while a batch is
/// being fetched loses nothing: the next call picks the batch up.
pub struct ReadDir {
    state: State,
}

struct Batch {
    std: std::fs::ReadDir,
    entries: VecDeque<io::Result<std::fs::DirEntry>>,
    done: bool,
}

enum State {
    /// `None` once the listing ended because a job failed.
    Idle(Option<Batch>),
    Busy(JoinHandle<Batch>),
}

impl ReadDir {
    /// The next entry, or `Ok(None)` at the end of the listing.
    ///
    /// # Errors
    /// An error the operating system reports for one entry (the listing may go
    /// on after it), or a [runtime error](super#errors-common-to-every-operation);
    /// after a job failed, later calls return `Ok(None)`.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        poll_fn(|cx| self.poll_next_entry(cx)).await
    }

    /// Polls for the next entry: the poll form of [`next_entry`](ReadDir::next_entry),
    /// for hand-written futures and streams.
    ///
    /// # Errors
    /// As for `next_entry`.
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        loop {
            match &mut self.state {
                State::Idle(None) => return Poll::Ready(Ok(None)),
                State::Idle(Some(batch)) => {
                    if let Some(entry) = batch.entries.pop_front() {
                        return Poll::Ready(entry.map(|e| Some(DirEntry(Arc::new(e)))));
                    }
                    if batch.done {
                        return Poll::Ready(Ok(None));
                    }
                    let handle = current_handle()?;
                    let Some(mut batch) = self.state_take() else { unreachable!() };
                    self.state = State::Busy(handle.spawn_blocking(move || {
                        for _ in 0..BATCH {
                            match batch.std.next() {
                                Some(entry) => batch.entries.push_back(entry),
                                None => {
                                    batch.done = true;
                                    break;
                                }
                            }
                        }
                        batch
                    }));
                }
                State::Busy(job) => match ready!(Pin::new(job).poll(cx)) {
                    Ok(batch) => self.state = State::Idle(Some(batch)),
                    Err(e) => {
                        self.state = State::Idle(None);
                        return Poll::Ready(Err(join_error(e)));
                    }
                },
            }
        }
    }

    fn state_take(&mut self) -> Option<Batch> {
        match &mut self.state {
            State::Idle(batch) => batch.take(),
            State::Busy(_) => None,
        }
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let busy = matches!(self.state, State::Busy(_));
        f.debug_struct("ReadDir").field("fetching", &busy).finish_non_exhaustive()
    }
}

/// One entry of a [`ReadDir`] listing (wraps [`std::fs::DirEntry`]).
#[derive(Clone)]
pub struct DirEntry(Arc<std::fs::DirEntry>);

impl DirEntry {
    /// The full path: the directory given to [`read_dir`] joined with
    /// [`file_name`](DirEntry::file_name) (see [`std::fs::DirEntry::path`]).
    pub fn path(&self) -> PathBuf {
        self.0.path()
    }

    /// The entry's bare name (see [`std::fs::DirEntry::file_name`]).
    pub fn file_name(&self) -> OsString {
        self.0.file_name()
    }

    /// The entry's metadata, not following a symbolic link, on the blocking pool
    /// (wraps [`std::fs::DirEntry::metadata`]).
    ///
    /// # Errors
    /// Those of `std::fs::DirEntry::metadata` (e.g. the entry was removed), plus
    /// the [runtime errors](super#errors-common-to-every-operation).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let entry = self.0.clone();
        asyncify(move || entry.metadata()).await
    }

    /// The entry's file type, not following a symbolic link, on the blocking pool
    /// (wraps [`std::fs::DirEntry::file_type`]).
    ///
    /// # Errors
    /// Those of `std::fs::DirEntry::file_type`, plus the
    /// [runtime errors](super#errors-common-to-every-operation).
    pub async fn file_type(&self) -> io::Result<FileType> {
        let entry = self.0.clone();
        asyncify(move || entry.file_type()).await
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DirEntry").field(&self.0.path()).finish()
    }
}
