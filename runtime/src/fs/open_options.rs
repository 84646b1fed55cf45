//! `OpenOptions`: `std::fs::OpenOptions` whose `open` runs on the blocking pool.

use std::io;
use std::path::Path;

use super::{asyncify, File};

/// Options for opening a [`File`], mirroring [`std::fs::OpenOptions`]; only
/// [`open`](OpenOptions::open) is asynchronous.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use tern_runtime::fs::OpenOptions;
/// let log = OpenOptions::new().append(true).create(true).open("app.log").await?;
/// # drop(log);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions);

impl OpenOptions {
    /// Options with every flag off (like [`std::fs::OpenOptions::new`]); set at
    /// least one of `read`, `write` or `append` before opening.
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Open for reading (see [`std::fs::OpenOptions::read`]).
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.0.read(read);
        self
    }

    /// Open for writing (see [`std::fs::OpenOptions::write`]).
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.0.write(write);
        self
    }

    /// Every write goes to the end of the file (see
    /// [`std::fs::OpenOptions::append`]).
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.0.append(append);
        self
    }

    /// Truncate an existing file to length 0 (needs `write`; see
    /// [`std::fs::OpenOptions::truncate`]).
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.0.truncate(truncate);
        self
    }

    /// Create the file if it is missing (needs `write` or `append`; see
    /// [`std::fs::OpenOptions::create`]).
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.0.create(create);
        self
    }

    /// Create the file, failing with [`AlreadyExists`](io::ErrorKind::AlreadyExists)
    /// if it exists, atomically (see [`std::fs::OpenOptions::create_new`]).
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.0.create_new(create_new);
        self
    }

    /// Permission bits for a newly created file (Unix only; see
    /// [`std::os::unix::fs::OpenOptionsExt::mode`]).
    #[cfg(unix)]
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::mode(&mut self.0, mode);
        self
    }

    /// Extra `open(2)` flags (Unix only; see
    /// [`std::os::unix::fs::OpenOptionsExt::custom_flags`]).
    #[cfg(unix)]
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut self.0, flags);
        self
    }

    /// Opens `path` with these options on the blocking pool (wraps
    /// [`std::fs::OpenOptions::open`]).
    ///
    /// # Errors
    /// Those of `std::fs::OpenOptions::open`: e.g.
    /// [`NotFound`](io::ErrorKind::NotFound), [`AlreadyExists`](io::ErrorKind::AlreadyExists)
    /// with `create_new`, [`InvalidInput`](io::ErrorKind::InvalidInput) for an
    /// invalid combination; plus the
    /// [runtime errors](super#errors-common-to-every-operation).
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        let opts = self.0.clone();
        asyncify(move || opts.open(path)).await.map(File::from_std)
    }

    /// The wrapped `std` options.
    pub fn as_std(&self) -> &std::fs::OpenOptions {
        &self.0
    }
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl From<std::fs::OpenOptions> for OpenOptions {
    fn from(opts: std::fs::OpenOptions) -> OpenOptions {
        OpenOptions(opts)
    }
}
