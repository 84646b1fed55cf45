//! tern's own GGUF reader and writer (ggml `docs/gguf.md`, versions 2 and 3,
//! little-endian). Our own because no crates.io reader accepts bitnet.cpp's `I2_S`
//! (ggml type 36).
//!
//! | file | one job |
//! | --- | --- |
//! | `error.rs` | [`GgufError`] |
//! | `value.rs` | [`ValueType`], [`Value`], typed [`Array`]s |
//! | `metadata.rs` | [`Metadata`] and its typed getters |
//! | `parse.rs` | the bounds-checked byte cursor and value decoding |
//! | `tensor.rs` | [`TensorType`], [`TensorInfo`], [`TensorView`] |
//! | `file.rs` | [`GgufFile`]: mmap, header / metadata / tensor-info parsing, validation |
//! | `writer.rs` | [`GgufWriter`] |
//!
//! Hostile input gives a [`GgufError`] naming the key or tensor and the byte offset,
//! never a panic, an out-of-bounds read or an allocation larger than a small multiple of
//! the file: counts are bounded by the bytes left before allocating, arithmetic is
//! checked, array nesting is bounded ([`MAX_ARRAY_DEPTH`]), each known tensor's byte
//! range must lie in the file, be aligned, and not overlap another.
//!
//! ```no_run
//! use tern_inference::gguf::GgufFile;
//!
//! let f = GgufFile::open("model.gguf")?;
//! let layers = f.metadata().get_u32("bitnet-b1.58.block_count")?;
//! let q = f.tensor("blk.0.attn_q.weight").expect("tensor present");
//! println!("{layers} layers; q: {:?} {}, {} bytes", q.shape(), q.ggml_type(), q.data()?.len());
//! # Ok::<(), tern_inference::gguf::GgufError>(())
//! ```

mod error;
mod file;
mod metadata;
mod parse;
mod tensor;
mod value;
mod writer;

pub use error::GgufError;
pub use file::{GgufFile, MAX_KEY_LEN};
pub use metadata::Metadata;
pub use parse::MAX_ARRAY_DEPTH;
pub use tensor::{TensorInfo, TensorType, TensorView, MAX_DIMS, MAX_TENSOR_NAME};
pub use value::{Array, Value, ValueType};
pub use writer::GgufWriter;

/// The file magic, `"GGUF"`.
pub const MAGIC: [u8; 4] = *b"GGUF";

/// Alignment when `general.alignment` is absent, in bytes.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// The metadata key holding the alignment (a `u32` power of two).
pub const ALIGNMENT_KEY: &str = "general.alignment";
