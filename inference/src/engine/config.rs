//! [`EngineConfig`]: slots, context, KV cache type, queue and step sizes (flag names as
//! llama-server's).

use std::time::Duration;

use crate::model::KvType;

/// How an [`Engine`](super::Engine) is sized.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Sequences decoded together (`--parallel`, llama-server's `-np`): the KV cache
    /// slots. Default 4.
    pub parallel: usize,
    /// Total context over all slots (`--ctx-size`); each slot holds
    /// `ctx_size / parallel` positions (at most the model's `context_length`), as in
    /// llama-server. `None`: `min(context_length, 4096)` per slot. Default `None`.
    pub ctx_size: Option<usize>,
    /// Requests that may wait for a slot (`--max-queue`); beyond it `submit` fails
    /// at once with `Overloaded`. Default 64.
    pub max_queue: usize,
    /// Most tokens one step feeds through the model (`--batch-size`): one per
    /// decoding sequence, the rest prefill chunks. Default 256.
    pub batch_tokens: usize,
    /// Timeout applied to requests that carry none. Default `None` (no limit).
    pub default_timeout: Option<Duration>,
    /// How the slots' KV caches store keys and values (`--cache-type`, llama-server's
    /// `--cache-type-k` / `--cache-type-v`). Default [`KvType::F16`]: half the memory
    /// of [`KvType::F32`] per position.
    pub kv_type: KvType,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            parallel: 4,
            ctx_size: None,
            max_queue: 64,
            batch_tokens: 256,
            default_timeout: None,
            kv_type: KvType::default(),
        }
    }
}

impl EngineConfig {
    /// Positions per slot for a model with `context_length` positions.
    pub fn slot_context(&self, context_length: usize) -> usize {
        let parallel = self.parallel.max(1);
        match self.ctx_size {
            Some(total) => (total / parallel).clamp(1, context_length),
            None => context_length.min(4096),
        }
    }
}
