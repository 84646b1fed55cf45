//! The crate's one error type.

use std::fmt;

use crate::dispatch::Path;

/// Everything that can go wrong in `tern-kernels`: bad buffer sizes, values outside a
/// format's range, row ranges outside a matrix, and kernel-path selection.
///
/// Kernels validate shapes once per call and return this instead of panicking; the hot
/// loops themselves never fail.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum KernelError {
    /// A buffer (`what`) has `actual` elements (or bytes) where `expected` were required.
    BadLength {
        /// Which buffer.
        what: &'static str,
        /// Required length.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// A count (`what`) must be a multiple of a format's block size.
    NotMultiple {
        /// Which count.
        what: &'static str,
        /// The count given.
        len: usize,
        /// The block size it must be a multiple of.
        multiple: usize,
    },
    /// A ternary value outside `-1..=1` at flat index `index`.
    BadValue {
        /// Flat index of the value.
        index: usize,
        /// The value found.
        value: i8,
    },
    /// A packed 2-bit code 3 (meaningless in a ternary format) at flat value index `index`.
    BadCode {
        /// Flat index of the value whose code is 3.
        index: usize,
    },
    /// A scale that is NaN or infinite (`index`: which scale, 0 for a per-tensor scale).
    BadScale {
        /// Which scale.
        index: usize,
        /// The value found.
        value: f32,
    },
    /// A row range that is empty-reversed or reaches past the matrix.
    BadRows {
        /// Range start.
        start: usize,
        /// Range end (exclusive).
        end: usize,
        /// Rows in the matrix.
        rows: usize,
    },
    /// A shape whose size does not fit in `usize`.
    TooLarge {
        /// Which shape.
        what: &'static str,
    },
    /// A ggml type id this crate does not read for the requested purpose.
    UnsupportedFormat {
        /// The ggml type id.
        ggml_type: u32,
        /// What was asked of it (`"ternary repack"`, `"dense"`...).
        purpose: &'static str,
    },
    /// `TERN_KERNEL_PATH` (or [`Path::from_name`]) named no known path.
    UnknownPath(String),
    /// A forced kernel path this CPU cannot run.
    UnsupportedPath(Path),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::BadLength { what, expected, actual } => {
                write!(f, "{what}: expected length {expected}, got {actual}")
            }
            KernelError::NotMultiple { what, len, multiple } => {
                write!(f, "{what}: {len} is not a multiple of {multiple}")
            }
            KernelError::BadValue { index, value } => {
                write!(f, "value {value} at index {index} is not ternary (-1, 0, 1)")
            }
            KernelError::BadCode { index } => {
                write!(f, "invalid 2-bit code 3 for value index {index}")
            }
            KernelError::BadScale { index, value } => write!(f, "scale {index} is not finite: {value}"),
            KernelError::BadRows { start, end, rows } => {
                write!(f, "row range {start}..{end} is not within 0..{rows}")
            }
            KernelError::TooLarge { what } => write!(f, "{what}: size overflows usize"),
            KernelError::UnsupportedFormat { ggml_type, purpose } => {
                write!(f, "ggml type {ggml_type} is not supported for {purpose}")
            }
            KernelError::UnknownPath(name) => {
                write!(
                    f,
                    "unknown kernel path {name:?} (expected auto, scalar, avx2, avx512vnni, neon or neondot)"
                )
            }
            KernelError::UnsupportedPath(path) => {
                write!(f, "kernel path {} is not supported on this CPU", path.name())
            }
        }
    }
}

impl std::error::Error for KernelError {}

/// Checks `actual == expected` for buffer `what`.
pub(crate) fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<(), KernelError> {
    if expected == actual {
        Ok(())
    } else {
        Err(KernelError::BadLength { what, expected, actual })
    }
}

/// Checks `len % multiple == 0` for count `what`.
pub(crate) fn check_multiple(what: &'static str, len: usize, multiple: usize) -> Result<(), KernelError> {
    if len.is_multiple_of(multiple) {
        Ok(())
    } else {
        Err(KernelError::NotMultiple { what, len, multiple })
    }
}

/// `a * b`, or [`KernelError::TooLarge`].
pub(crate) fn mul(what: &'static str, a: usize, b: usize) -> Result<usize, KernelError> {
    a.checked_mul(b).ok_or(KernelError::TooLarge { what })
}
