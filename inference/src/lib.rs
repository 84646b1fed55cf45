//! tern's inference executor: GGUF, tokenizer, the BitNet b1.58 forward pass,
//! sampling, continuous batching and the server.
//!
//! Empty until the model issue lands (see `docs/architecture.md`).
