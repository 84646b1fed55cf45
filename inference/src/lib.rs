//! tern's inference executor: GGUF, tokenizer, the BitNet b1.58 forward pass,
//! sampling, continuous batching and the server.
//!
//! | module | one job |
//! | --- | --- |
//! | [`gguf`] | our own GGUF v2 / v3 reader (memory-mapped, hostile-input safe) and writer |
//! | [`model`] | BitNet config, weights, KV cache, forward pass, `synth` |
//!
//! The rest lands with the model issue (see `docs/architecture.md`).

#![warn(missing_docs)]

pub mod engine;
pub mod gguf;
pub mod model;
pub mod processor;
pub mod sampler;
pub mod server;
pub mod tokenizer;
