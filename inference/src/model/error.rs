//! [`ModelError`]: everything that can go wrong loading or running a model.

use std::fmt;

use tern_kernels::KernelError;

use crate::gguf::GgufError;

/// A model load or forward-pass failure. Each variant names the metadata key or tensor
/// at fault, so a user can see what is wrong with a file without a debugger.
#[derive(Debug)]
#[non_exhaustive]
pub enum ModelError {
    /// Reading the GGUF file or a metadata key failed (a missing key is
    /// [`GgufError::MissingKey`], naming it).
    Gguf(GgufError),
    /// `general.architecture` names an architecture tern does not run.
    UnsupportedArchitecture(String),
    /// A metadata value is present but unusable (zero heads, `head_count` not a multiple
    /// of `head_count_kv`, ...).
    BadConfig {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A required tensor is absent.
    MissingTensor {
        /// The tensor name.
        name: String,
    },
    /// A tensor's shape (ggml order, innermost first) disagrees with the config.
    BadShape {
        /// The tensor name.
        name: String,
        /// The shape the config implies.
        expected: Vec<u64>,
        /// The shape in the file.
        found: Vec<u64>,
    },
    /// A tensor is stored in a type tern cannot use for it.
    BadTensorType {
        /// The tensor name.
        name: String,
        /// The type found (ggml name or id).
        found: String,
        /// The types accepted.
        expected: &'static str,
    },
    /// A kernel rejected a tensor or a buffer.
    Kernel {
        /// What was being done (`"tensor \"blk.0.attn_q.weight\""`, `"layer 3 attn_q"`).
        context: String,
        /// The kernel's error.
        source: KernelError,
    },
    /// The KV cache cannot hold the tokens asked for.
    ContextFull {
        /// Positions the cache holds.
        context_length: usize,
        /// Positions the call would need.
        needed: usize,
    },
    /// A token id outside the vocabulary.
    BadToken {
        /// The id.
        token: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// A caller-supplied argument is invalid (empty token list, wrong logits length, a
    /// position past the cached tokens, a cache built for another model).
    BadInput(String),
}

impl ModelError {
    pub(crate) fn kernel(context: impl Into<String>) -> impl FnOnce(KernelError) -> ModelError {
        let context = context.into();
        move |source| ModelError::Kernel { context, source }
    }

    pub(crate) fn bad_config(key: impl Into<String>, reason: impl Into<String>) -> ModelError {
        ModelError::BadConfig { key: key.into(), reason: reason.into() }
    }
}

impl From<GgufError> for ModelError {
    fn from(e: GgufError) -> ModelError {
        ModelError::Gguf(e)
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Gguf(e) => write!(f, "{e}"),
            ModelError::UnsupportedArchitecture(a) => write!(
                f,
                "general.architecture \"{a}\" is not supported (supported: bitnet-b1.58, bitnet-25, \
                 bitnet-1.58, bitnet)"
            ),
            ModelError::BadConfig { key, reason } => write!(f, "metadata key \"{key}\": {reason}"),
            ModelError::MissingTensor { name } => write!(f, "tensor \"{name}\" is missing"),
            ModelError::BadShape { name, expected, found } => {
                write!(f, "tensor \"{name}\" has shape {found:?}, expected {expected:?}")
            }
            ModelError::BadTensorType { name, found, expected } => {
                write!(f, "tensor \"{name}\" has type {found}, expected {expected}")
            }
            ModelError::Kernel { context, source } => write!(f, "{context}: {source}"),
            ModelError::ContextFull { context_length, needed } => {
                write!(f, "KV cache full: {needed} positions needed, the context holds {context_length}")
            }
            ModelError::BadToken { token, vocab_size } => {
                write!(f, "token id {token} is outside the vocabulary of {vocab_size}")
            }
            ModelError::BadInput(reason) => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for ModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ModelError::Gguf(e) => Some(e),
            ModelError::Kernel { source, .. } => Some(source),
            _ => None,
        }
    }
}
