//! The BitNet model: config, weights, KV cache, forward pass, and synthetic models.
//!
//! | file | one job |
//! | --- | --- |
//! | `error.rs` | [`ModelError`] |
//! | `config.rs` | [`ModelConfig`] from GGUF metadata (`bitnet-b1.58`, `bitnet-25`, `bitnet-1.58`, `bitnet`) |
//! | `weights.rs` | [`ModelWeights`]: every tensor by llama.cpp's name, shape-checked |
//! | `head.rs` | [`HeadFormat`], [`ModelWeights::requantize_head`]: the output head re-encoded at load (`f16`, `q8`, `q4`) |
//! | `kv_cache.rs` | [`KvCache`]: per-sequence keys / values in f16 or f32 ([`KvType`]), fixed context |
//! | `forward.rs` | [`Model`]: the forward pass (prefill through GEMM, decode through GEMV), batched steps over several sequences ([`Model::forward_batch`]), greedy [`Model::generate`] |
//! | `parallel.rs` | products split by rows across a [`ComputePool`](tern_runtime::compute::ComputePool) |
//! | `synth.rs` | [`synth`]: random ternary weights in a real `I2_S` GGUF at any [`SynthShape`] |
//!
//! ```
//! use tern_inference::gguf::GgufFile;
//! use tern_inference::model::{synth_bytes, Model, SynthShape};
//!
//! let file = GgufFile::from_bytes(synth_bytes(SynthShape::TINY, 1)?)?;
//! let model = Model::from_gguf(&file)?;
//! let out = model.generate(&[1, 2, 3], 2)?;
//! assert_eq!(out.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod error;
mod forward;
mod head;
mod kv_cache;
mod parallel;
mod synth;
mod weights;

pub use config::{Activation, Arch, ModelConfig};
pub use error::ModelError;
pub use forward::{argmax, Model, SeqStep};
pub use head::HeadFormat;
pub use kv_cache::{KvCache, KvType};
pub use synth::{synth, synth_bytes, SynthShape};
pub use weights::{LayerWeights, Linear, ModelWeights};
