//! tern's inference executor: GGUF, tokenizer, the BitNet b1.58 forward pass,
//! sampling, continuous batching and the server.
//!
//! | module | one job |
//! | --- | --- |
//! | [`gguf`] | our own GGUF v2 / v3 reader (memory-mapped, hostile-input safe) and writer |
//! | [`model`] | BitNet config, weights, KV cache, forward pass (batched, on a compute pool), `synth` |
//! | [`tokenizer`] | gpt2 byte-level BPE and llama SentencePiece from GGUF metadata |
//! | [`sampler`] | greedy / temperature / top-k / top-p / min-p / repetition penalty, stop strings |
//! | [`engine`] | continuous batching: slots, bounded queue, scheduler task, metrics |
//! | [`processor`] | text in, text out: streams, batches, rate limits, retries, circuit breaker |
//! | [`server`] | `tern serve`: the OpenAI API over hyper on tern |
//! | [`eval`] | perplexity on a token stream (`tern eval`) |
//!
//! Design notes: `docs/architecture.md`.

#![warn(missing_docs)]

pub mod engine;
pub mod eval;
pub mod gguf;
pub mod model;
pub mod processor;
pub mod sampler;
pub mod server;
pub mod tokenizer;
