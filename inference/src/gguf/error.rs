//! [`GgufError`]: everything that can go wrong reading or writing a GGUF file.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A GGUF read, lookup or write failure.
///
/// Parse errors carry `context` (which part of the file: `header`, `metadata key
/// "general.name"`, `tensor "blk.0.attn_q.weight"`, ...) and `offset`, the byte offset
/// in the file where parsing failed, so a user can find the damage with a hex dump.
#[derive(Debug)]
#[non_exhaustive]
pub enum GgufError {
    /// The file could not be opened, inspected or mapped.
    Io {
        /// The path given to [`crate::gguf::GgufFile::open`] (or written by the writer).
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file ends before a field it declares.
    Truncated {
        /// What was being read.
        context: String,
        /// Byte offset of the field that does not fit.
        offset: u64,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the file at `offset`.
        available: u64,
    },
    /// A field holds a value the format does not allow (bad magic, unsupported version,
    /// absurd count, overflowing size, duplicate name, misaligned offset, ...).
    Invalid {
        /// What was being read.
        context: String,
        /// Byte offset of the offending field.
        offset: u64,
        /// Why it is rejected.
        reason: String,
    },
    /// A metadata key the caller asked for is absent.
    MissingKey {
        /// The key.
        key: String,
    },
    /// A metadata key holds another type than the caller asked for.
    TypeMismatch {
        /// The key.
        key: String,
        /// The type asked for (`"u32"`, `"array of string"`, ...).
        expected: &'static str,
        /// The type found in the file.
        found: String,
    },
    /// A tensor's ggml type is unknown to `tern-kernels`, so its size (and data) is unknown.
    UnknownTensorType {
        /// The tensor name.
        name: String,
        /// The raw ggml type id from the file.
        type_id: u32,
    },
    /// [`crate::gguf::GgufWriter`] was given something it cannot write.
    InvalidInput {
        /// Why.
        reason: String,
    },
}

impl GgufError {
    pub(crate) fn invalid(context: impl Into<String>, offset: usize, reason: impl Into<String>) -> GgufError {
        GgufError::Invalid { context: context.into(), offset: offset as u64, reason: reason.into() }
    }

    pub(crate) fn input(reason: impl Into<String>) -> GgufError {
        GgufError::InvalidInput { reason: reason.into() }
    }
}

impl fmt::Display for GgufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GgufError::Io { path, source } => write!(f, "cannot read GGUF file {}: {source}", path.display()),
            GgufError::Truncated { context, offset, needed, available } => write!(
                f,
                "GGUF file truncated in {context} at byte {offset}: need {needed} bytes, only {available} \
                 left (is the download complete?)"
            ),
            GgufError::Invalid { context, offset, reason } => {
                write!(f, "invalid GGUF file: {context} at byte {offset}: {reason}")
            }
            GgufError::MissingKey { key } => write!(f, "GGUF metadata key \"{key}\" is missing"),
            GgufError::TypeMismatch { key, expected, found } => {
                write!(f, "GGUF metadata key \"{key}\" holds {found}, expected {expected}")
            }
            GgufError::UnknownTensorType { name, type_id } => write!(
                f,
                "tensor \"{name}\" has ggml type id {type_id}, which tern does not support \
                 (supported: F32, F16, BF16, Q8_0, Q6_K, TQ1_0, TQ2_0, I2_S)"
            ),
            GgufError::InvalidInput { reason } => write!(f, "cannot write GGUF: {reason}"),
        }
    }
}

impl std::error::Error for GgufError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GgufError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
