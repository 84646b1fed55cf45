//! `File`: a `std::fs::File` driven from the blocking pool, one operation at a
//! time, implementing `futures_io`'s `AsyncRead`, `AsyncWrite` and `AsyncSeek`.

use std::fmt;
use std::fs::{Metadata, Permissions};
use std::future::{poll_fn, Future};
use std::io::{self, Seek, SeekFrom};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Wake, Waker};

use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};
use parking_lot::Mutex;

use super::blocking_buf::{Buf, DEFAULT_MAX_BUF};
use super::{asyncify, current_handle, OpenOptions};
use crate::JoinHandle;

/// An open file whose I/O runs on the runtime's blocking pool.
///
/// The `futures_io` traits are implemented like `tokio::fs::File`:
///
/// - **One operation in flight.** A read, write or seek that needs the disk is
///   handed to the blocking pool together with the file's buffer; the next call
///   first waits for it to finish. The job belongs to the `File`, not to the
///   future that started it, so dropping a future mid-flight loses nothing.
/// - **Reads** fill the buffer with one blocking `read` of up to
///   `min(requested, max_buf_size)` bytes (64 KiB by default), then copy out.
///   Bytes read for a future that was dropped are returned by the next read.
/// - **Writes** copy up to `max_buf_size` bytes into the buffer, start the
///   blocking `write_all` and return at once. Its error is reported by the next
///   `poll_write` or `poll_flush` (or `sync_all`, `sync_data`, `set_len`).
///   `poll_flush` waits for the in-flight write; `poll_close` flushes.
///   **Flush before dropping a `File`** to learn whether the last write worked:
///   dropping it lets the write finish on the pool, but its error is lost.
/// - **Seeks** discard buffered unread bytes and account for them, so
///   `SeekFrom::Current` is relative to what the caller has consumed. `Start`
///   and `Current` seeks are a plain `lseek` done inline (no disk I/O); `End`
///   seeks run on the pool (an `End` seek whose future was dropped mid-flight
///   answers the next `poll_seek` to the same `SeekFrom::End`). A write after a
///   read likewise first seeks back over the unread buffered bytes.
///
/// Reads, writes and seeks need a current runtime when they reach the pool;
/// without one they fail with an [`io::Error`] of kind `Other`.
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
/// use std::io::SeekFrom;
/// tern_runtime::block_on(async {
///     let path = std::env::temp_dir().join(format!("tern-file-doc-{}", std::process::id()));
///     let mut file = tern_runtime::fs::File::options()
///         .read(true).write(true).create(true).truncate(true).open(&path).await?;
///     file.write_all(b"hello world").await?;
///     file.seek(SeekFrom::Start(6)).await?;
///     let mut word = String::new();
///     file.read_to_string(&mut word).await?;
///     assert_eq!(word, "world");
///     tern_runtime::fs::remove_file(&path).await
/// })
/// .unwrap();
/// ```
pub struct File {
    std: Arc<std::fs::File>,
    /// Locked only by the `&self` methods; the poll methods use `get_mut`.
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    /// Error of a write whose caller has already been told `Ok`.
    last_write_err: Option<io::Error>,
    max_buf: usize,
    /// Everyone waiting for the in-flight job (several `&self` calls may wait).
    waiters: Arc<Waiters>,
}

enum State {
    /// The buffer holds unread bytes from the file, or nothing.
    Idle(Buf),
    Busy(Busy),
}

struct Busy {
    job: JoinHandle<(io::Result<u64>, Buf)>,
    kind: Kind,
}

/// What the in-flight job does; decides what its result means.
enum Kind {
    Read,
    Write,
    /// A seek run on the pool, with the position the caller asked for.
    Seek(SeekFrom),
    /// `sync_all`, `sync_data` or `set_len`; its result goes to the slot.
    Other(Arc<Slot>),
}

type Slot = Mutex<Option<io::Result<()>>>;

/// The outcome of a finished job.
enum Done {
    Read(io::Result<u64>),
    Write(io::Result<()>),
    Seek(SeekFrom, io::Result<u64>),
    Other,
}

/// Wakes every task that polled the in-flight job.
#[derive(Default)]
struct Waiters(Mutex<Vec<Waker>>);

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *self.0.lock());
        for w in wakers {
            w.wake();
        }
    }
}

impl Inner {
    fn new() -> Inner {
        Inner {
            state: State::Idle(Buf::default()),
            last_write_err: None,
            max_buf: DEFAULT_MAX_BUF,
            waiters: Arc::default(),
        }
    }

    /// Starts `job` on `handle` with the idle buffer (which must be idle).
    fn start<F>(&mut self, handle: &crate::Handle, kind: Kind, job: F)
    where
        F: FnOnce(Buf) -> (io::Result<u64>, Buf) + Send + 'static,
    {
        let buf = match &mut self.state {
            State::Idle(buf) => std::mem::take(buf),
            State::Busy(_) => unreachable!("a file job started while another is in flight"),
        };
        self.state = State::Busy(Busy { job: handle.spawn_blocking(move || job(buf)), kind });
    }

    /// Waits for the in-flight job, if any, and makes the state idle again:
    /// `Ready(None)` when nothing was in flight.
    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Option<Done>> {
        let State::Busy(busy) = &mut self.state else { return Poll::Ready(None) };
        let waker = {
            let mut list = self.waiters.0.lock();
            if !list.iter().any(|w| w.will_wake(cx.waker())) {
                list.push(cx.waker().clone());
            }
            Waker::from(self.waiters.clone())
        };
        let res = ready!(Pin::new(&mut busy.job).poll(&mut Context::from_waker(&waker)));
        let State::Busy(busy) = std::mem::replace(&mut self.state, State::Idle(Buf::default())) else {
            unreachable!()
        };
        let res = match res {
            Ok((res, buf)) => {
                self.state = State::Idle(buf);
                res
            }
            Err(e) => Err(super::join_error(e)),
        };
        Poll::Ready(Some(match busy.kind {
            Kind::Read => Done::Read(res),
            Kind::Write => Done::Write(res.map(drop)),
            Kind::Seek(target) => Done::Seek(target, res),
            Kind::Other(slot) => {
                *slot.lock() = Some(res.map(drop));
                Done::Other
            }
        }))
    }

    /// Waits until nothing is in flight, keeping a failed write's error.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match ready!(self.poll_complete(cx)) {
                None => return Poll::Ready(()),
                Some(Done::Write(Err(e))) => self.last_write_err = Some(e),
                Some(_) => {}
            }
        }
    }

    /// Number of buffered bytes read from the file but not yet returned.
    fn unread(&self) -> usize {
        match &self.state {
            State::Idle(buf) => buf.len(),
            State::Busy(_) => 0,
        }
    }
}

impl File {
    /// Opens `path` read-only (wraps [`std::fs::File::open`]).
    ///
    /// # Errors
    /// Those of `std::fs::File::open` (e.g. [`NotFound`](io::ErrorKind::NotFound)),
    /// plus the [runtime errors](super#errors-common-to-every-operation).
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        asyncify(move || std::fs::File::open(path)).await.map(File::from_std)
    }

    /// Opens `path` write-only, creating it or truncating it (wraps
    /// [`std::fs::File::create`]).
    ///
    /// # Errors
    /// Those of `std::fs::File::create`, plus the
    /// [runtime errors](super#errors-common-to-every-operation).
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        asyncify(move || std::fs::File::create(path)).await.map(File::from_std)
    }

    /// Creates `path` read-write, failing with
    /// [`AlreadyExists`](io::ErrorKind::AlreadyExists) if it exists (wraps
    /// [`std::fs::File::create_new`]).
    ///
    /// # Errors
    /// Those of `std::fs::File::create_new`, plus the
    /// [runtime errors](super#errors-common-to-every-operation).
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        File::options().read(true).write(true).create_new(true).open(path).await
    }

    /// A fresh [`OpenOptions`] builder, like [`std::fs::File::options`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps an open `std` file; needs no runtime. The file's current position
    /// is where reading and writing start.
    pub fn from_std(std: std::fs::File) -> File {
        File { std: Arc::new(std), inner: Mutex::new(Inner::new()) }
    }

    /// Sets the most bytes one blocking read or write moves (default 64 KiB).
    ///
    /// # Panics
    /// If `max` is 0.
    pub fn set_max_buf_size(&mut self, max: usize) {
        assert!(max > 0, "max_buf_size must be at least 1");
        self.inner.get_mut().max_buf = max;
    }

    /// The most bytes one blocking read or write moves.
    pub fn max_buf_size(&self) -> usize {
        self.inner.lock().max_buf
    }

    /// Runs `f` as the file's next operation, after the in-flight one; its
    /// result reaches the caller even if other callers complete the job.
    async fn run_tracked<F>(&self, f: F) -> io::Result<()>
    where
        F: FnOnce(&std::fs::File, &mut Buf, usize) -> io::Result<()> + Send + 'static,
    {
        let handle = current_handle()?;
        let mut f = Some(f);
        let slot = poll_fn(|cx| {
            let mut inner = self.inner.lock();
            ready!(inner.poll_idle(cx));
            if let Some(e) = inner.last_write_err.take() {
                return Poll::Ready(Err(e));
            }
            let slot = Arc::new(Slot::new(None));
            let f = f.take().expect("polled after completion");
            let std = self.std.clone();
            let unread = inner.unread();
            inner.start(&handle, Kind::Other(slot.clone()), move |mut buf| {
                let res = f(&std, &mut buf, unread);
                (res.map(|()| 0), buf)
            });
            Poll::Ready(Ok(slot))
        })
        .await?;
        poll_fn(|cx| {
            let mut inner = self.inner.lock();
            loop {
                if let Some(res) = slot.lock().take() {
                    return Poll::Ready(res);
                }
                match ready!(inner.poll_complete(cx)) {
                    Some(Done::Write(Err(e))) => inner.last_write_err = Some(e),
                    Some(_) => {}
                    None => {
                        return Poll::Ready(Err(io::Error::other("tern_runtime::fs: file operation lost")))
                    }
                }
            }
        })
        .await
    }

    /// Waits for the in-flight write, then flushes data and metadata to the
    /// device (wraps [`std::fs::File::sync_all`]).
    ///
    /// # Errors
    /// An unreported error of an earlier write (returned instead of syncing),
    /// those of `std::fs::File::sync_all`, and the
    /// [runtime errors](super#errors-common-to-every-operation).
    pub async fn sync_all(&self) -> io::Result<()> {
        self.run_tracked(|std, _, _| std.sync_all()).await
    }

    /// Like [`sync_all`](File::sync_all) but may skip metadata that reading
    /// the data back does not need (wraps [`std::fs::File::sync_data`]).
    ///
    /// # Errors
    /// As for `sync_all`, with `std::fs::File::sync_data`.
    pub async fn sync_data(&self) -> io::Result<()> {
        self.run_tracked(|std, _, _| std.sync_data()).await
    }

    /// Waits for the in-flight write, drops buffered unread bytes (moving the
    /// position back over them), then truncates or extends the file to `size`
    /// bytes (wraps [`std::fs::File::set_len`]). The position is not changed.
    ///
    /// # Errors
    /// An unreported error of an earlier write (returned instead of resizing),
    /// those of `std::fs::File::set_len` (e.g. the file is not open for
    /// writing), and the [runtime errors](super#errors-common-to-every-operation).
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        self.run_tracked(move |std, buf, unread| {
            if unread > 0 {
                (&*std).seek(SeekFrom::Current(-(unread as i64)))?;
                buf.clear();
            }
            std.set_len(size)
        })
        .await
    }

    /// The file's metadata (wraps [`std::fs::File::metadata`]). Does not wait
    /// for an in-flight write: flush first for an up-to-date length.
    ///
    /// # Errors
    /// Those of `std::fs::File::metadata`, plus the
    /// [runtime errors](super#errors-common-to-every-operation).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let std = self.std.clone();
        asyncify(move || std.metadata()).await
    }

    /// A new `File` for the same open file (wraps [`std::fs::File::try_clone`]);
    /// both share one position, but each has its own buffer, so flush and avoid
    /// buffered unread bytes before using both.
    ///
    /// # Errors
    /// Those of `std::fs::File::try_clone`, plus the
    /// [runtime errors](super#errors-common-to-every-operation).
    pub async fn try_clone(&self) -> io::Result<File> {
        let std = self.std.clone();
        asyncify(move || std.try_clone()).await.map(File::from_std)
    }

    /// Changes the file's permissions (wraps [`std::fs::File::set_permissions`]).
    ///
    /// # Errors
    /// Those of `std::fs::File::set_permissions`, plus the
    /// [runtime errors](super#errors-common-to-every-operation).
    pub async fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        let std = self.std.clone();
        asyncify(move || std.set_permissions(perm)).await
    }

    /// Waits for the in-flight operation and returns the `std` file, positioned
    /// after the bytes the caller has consumed (buffered unread bytes are
    /// given back by seeking; on a file that cannot seek they are lost). An
    /// unreported write error is lost too: flush first to see it.
    ///
    /// # Panics
    /// Only if a `&self` job abandoned by a dropped future still holds the file
    /// and duplicating the descriptor fails.
    pub async fn into_std(mut self) -> std::fs::File {
        poll_fn(|cx| self.inner.get_mut().poll_idle(cx)).await;
        let File { std, inner } = self;
        let mut inner = inner.into_inner();
        if let State::Idle(buf) = &mut inner.state {
            if !buf.is_empty() {
                let _ = (&*std).seek(SeekFrom::Current(-(buf.len() as i64)));
            }
        }
        Arc::try_unwrap(std).unwrap_or_else(|std| {
            std.try_clone().expect("tern_runtime::fs::File::into_std: try_clone failed")
        })
    }

    /// The `std` file, without waiting: `Err(self)` while an operation is in
    /// flight (or when buffered unread bytes cannot be given back by seeking).
    ///
    /// # Errors
    /// Returns the `File` unchanged when it cannot be converted now.
    pub fn try_into_std(mut self) -> Result<std::fs::File, File> {
        let State::Idle(buf) = &mut self.inner.get_mut().state else { return Err(self) };
        if !buf.is_empty() {
            if (&*self.std).seek(SeekFrom::Current(-(buf.len() as i64))).is_err() {
                return Err(self);
            }
            buf.clear();
        }
        let File { std, inner } = self;
        match Arc::try_unwrap(std) {
            Ok(std) => Ok(std),
            Err(std) => match std.try_clone() {
                Ok(clone) => Ok(clone),
                Err(_) => Err(File { std, inner }),
            },
        }
    }
}

impl AsyncRead for File {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let inner = this.inner.get_mut();
        loop {
            match &mut inner.state {
                State::Idle(buf) => {
                    if !buf.is_empty() || dst.is_empty() {
                        return Poll::Ready(Ok(buf.copy_to(dst)));
                    }
                    let handle = current_handle()?;
                    let len = dst.len().min(inner.max_buf);
                    let std = this.std.clone();
                    inner.start(&handle, Kind::Read, move |mut buf| {
                        let res = buf.read_from(&mut &*std, len);
                        (res.map(|n| n as u64), buf)
                    });
                }
                State::Busy(_) => match ready!(inner.poll_complete(cx)) {
                    // This read, or one whose future was dropped: either way the
                    // buffer holds the next bytes (none at end of file).
                    Some(Done::Read(Ok(_))) => {
                        let State::Idle(buf) = &mut inner.state else { unreachable!() };
                        return Poll::Ready(Ok(buf.copy_to(dst)));
                    }
                    Some(Done::Read(Err(e))) => return Poll::Ready(Err(e)),
                    Some(Done::Write(Err(e))) => inner.last_write_err = Some(e),
                    Some(_) | None => {}
                },
            }
        }
    }
}

impl AsyncWrite for File {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, src: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let inner = this.inner.get_mut();
        loop {
            match &mut inner.state {
                State::Idle(buf) => {
                    if let Some(e) = inner.last_write_err.take() {
                        return Poll::Ready(Err(e));
                    }
                    if src.is_empty() {
                        return Poll::Ready(Ok(0));
                    }
                    let handle = current_handle()?;
                    // Unread bytes from an earlier read: write where the caller is.
                    let seek_back = buf.len();
                    buf.clear();
                    let n = buf.copy_from(src, inner.max_buf);
                    let std = this.std.clone();
                    inner.start(&handle, Kind::Write, move |mut buf| {
                        let mut res = Ok(0);
                        if seek_back > 0 {
                            res = (&*std).seek(SeekFrom::Current(-(seek_back as i64)));
                        }
                        let res = res.and_then(|_| buf.write_to(&mut &*std)).map(|()| 0);
                        buf.clear();
                        (res, buf)
                    });
                    return Poll::Ready(Ok(n));
                }
                State::Busy(_) => {
                    if let Some(Done::Write(Err(e))) = ready!(inner.poll_complete(cx)) {
                        return Poll::Ready(Err(e));
                    }
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let inner = self.get_mut().inner.get_mut();
        ready!(inner.poll_idle(cx));
        Poll::Ready(match inner.last_write_err.take() {
            Some(e) => Err(e),
            None => Ok(()),
        })
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl AsyncSeek for File {
    fn poll_seek(self: Pin<&mut Self>, cx: &mut Context<'_>, pos: SeekFrom) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        let inner = this.inner.get_mut();
        loop {
            match ready!(inner.poll_complete(cx)) {
                // The `End` seek this call started (or an abandoned one to the
                // same place, whose outcome is as good).
                Some(Done::Seek(target, res)) if target == pos => return Poll::Ready(res),
                Some(Done::Write(Err(e))) => inner.last_write_err = Some(e),
                Some(_) => {}
                None => {
                    let unread = inner.unread() as i64;
                    let target = match pos {
                        SeekFrom::End(_) => {
                            let handle = current_handle()?;
                            let std = this.std.clone();
                            inner.start(&handle, Kind::Seek(pos), move |mut buf| {
                                let res = (&*std).seek(pos);
                                if res.is_ok() {
                                    buf.clear();
                                }
                                (res, buf)
                            });
                            continue;
                        }
                        SeekFrom::Current(off) => match off.checked_sub(unread) {
                            Some(off) => SeekFrom::Current(off),
                            None => {
                                return Poll::Ready(Err(io::Error::new(
                                    io::ErrorKind::InvalidInput,
                                    "seek offset overflows",
                                )))
                            }
                        },
                        SeekFrom::Start(n) => SeekFrom::Start(n),
                    };
                    // `lseek` to a computed offset does no disk I/O: done inline.
                    let res = (&*this.std).seek(target);
                    if res.is_ok() {
                        if let State::Idle(buf) = &mut inner.state {
                            buf.clear();
                        }
                    }
                    return Poll::Ready(res);
                }
            }
        }
    }
}

impl From<std::fs::File> for File {
    fn from(std: std::fs::File) -> File {
        File::from_std(std)
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File").field("std", &self.std).finish_non_exhaustive()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for File {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.std.as_raw_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for File {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.std.as_fd()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsRawHandle for File {
    fn as_raw_handle(&self) -> std::os::windows::io::RawHandle {
        self.std.as_raw_handle()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsHandle for File {
    fn as_handle(&self) -> std::os::windows::io::BorrowedHandle<'_> {
        self.std.as_handle()
    }
}
