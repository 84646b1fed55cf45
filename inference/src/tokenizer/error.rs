//! [`TokenizerError`]: everything that can go wrong loading a tokenizer from GGUF
//! metadata or encoding text with it.

use std::fmt;

use crate::gguf::GgufError;

/// A tokenizer load or encode failure. Load errors name the metadata key at fault.
#[derive(Debug)]
#[non_exhaustive]
pub enum TokenizerError {
    /// A required key is missing or a key has the wrong type ([`GgufError::MissingKey`] /
    /// [`GgufError::TypeMismatch`], naming it).
    Gguf(GgufError),
    /// `tokenizer.ggml.model` names a tokenizer tern does not implement (the name).
    Unsupported(String),
    /// A metadata value is present but unusable: a merge naming an unknown token, a
    /// special token id past the vocabulary, arrays of different lengths, an unknown
    /// pre-tokenizer, ...
    BadMetadata {
        /// The key (for array elements with the index: `tokenizer.ggml.merges[7]`).
        key: String,
        /// Why.
        reason: String,
    },
    /// Text the vocabulary cannot represent: a byte with no token for it (a byte-level
    /// vocabulary missing one of its 256 byte tokens, or a SentencePiece vocabulary with
    /// neither `<0xNN>` byte tokens nor an unknown token).
    Unencodable {
        /// The character that could not be encoded.
        ch: char,
        /// Why.
        reason: String,
    },
    /// The `tokenizers` crate (pre-tokenizer regex, BPE model) failed.
    Backend(String),
    /// A caller-supplied argument is invalid (a synthetic vocabulary too small, ...).
    BadInput(String),
}

impl TokenizerError {
    pub(crate) fn bad(key: impl Into<String>, reason: impl Into<String>) -> TokenizerError {
        TokenizerError::BadMetadata { key: key.into(), reason: reason.into() }
    }
}

impl From<GgufError> for TokenizerError {
    fn from(e: GgufError) -> TokenizerError {
        TokenizerError::Gguf(e)
    }
}

impl fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenizerError::Gguf(e) => write!(f, "{e}"),
            TokenizerError::Unsupported(m) => {
                write!(f, "tokenizer.ggml.model \"{m}\" is not supported (supported: gpt2, llama)")
            }
            TokenizerError::BadMetadata { key, reason } => write!(f, "metadata key \"{key}\": {reason}"),
            TokenizerError::Unencodable { ch, reason } => {
                write!(f, "cannot encode {ch:?} (U+{:04X}): {reason}", u32::from(*ch))
            }
            TokenizerError::Backend(e) => write!(f, "tokenizer backend: {e}"),
            TokenizerError::BadInput(reason) => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for TokenizerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TokenizerError::Gguf(e) => Some(e),
            _ => None,
        }
    }
}
