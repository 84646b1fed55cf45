//! [`KvCache`]: the keys and values of one sequence, f32, fixed context length.
//!
//! Layout: for each layer, `context_length × kv_dim` keys and as many values, position
//! major (`k[layer][pos][kv_head · head_dim + d]`), so one position of one layer is one
//! contiguous slice and attention walks positions in order.

use super::config::ModelConfig;
use super::error::ModelError;

/// Per-sequence attention cache of `len` positions (at most `capacity`).
#[derive(Debug, Clone)]
pub struct KvCache {
    n_layers: usize,
    kv_dim: usize,
    capacity: usize,
    len: usize,
    k: Vec<f32>,
    v: Vec<f32>,
}

impl KvCache {
    /// An empty cache for `config` holding `context_length` positions (the file's
    /// `context_length` or the user's choice). Allocates
    /// `2 × n_layers × context_length × kv_dim` f32s up front.
    ///
    /// Errors: `context_length` zero or the size overflowing.
    pub fn new(config: &ModelConfig, context_length: usize) -> Result<KvCache, ModelError> {
        if context_length == 0 {
            return Err(ModelError::BadInput("KV cache context length must not be zero".into()));
        }
        let n = config
            .n_layers
            .checked_mul(context_length)
            .and_then(|n| n.checked_mul(config.kv_dim()))
            .filter(|&n| n <= isize::MAX as usize / 4)
            .ok_or_else(|| {
                ModelError::BadInput(format!("KV cache of {context_length} positions is too large"))
            })?;
        Ok(KvCache {
            n_layers: config.n_layers,
            kv_dim: config.kv_dim(),
            capacity: context_length,
            len: 0,
            k: vec![0.0; n],
            v: vec![0.0; n],
        })
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The fixed context length.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every position.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Keeps the first `len` positions (no-op if fewer are cached).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Whether the cache was built for a model of this shape.
    pub(crate) fn fits(&self, config: &ModelConfig) -> bool {
        self.n_layers == config.n_layers && self.kv_dim == config.kv_dim()
    }

    /// Sets the number of valid positions (`≤ capacity`, checked by the caller).
    pub(crate) fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.capacity);
        self.len = len;
    }

    fn offset(&self, layer: usize, pos: usize) -> usize {
        (layer * self.capacity + pos) * self.kv_dim
    }

    /// Stores the key and value (`kv_dim` each) of `layer` at `pos`. Panics when out
    /// of range (callers check).
    pub(crate) fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let o = self.offset(layer, pos);
        self.k[o..o + self.kv_dim].copy_from_slice(k);
        self.v[o..o + self.kv_dim].copy_from_slice(v);
    }

    /// Keys and values of `layer` for positions `0..n`, position-major.
    pub(crate) fn layer(&self, layer: usize, n: usize) -> (&[f32], &[f32]) {
        let o = self.offset(layer, 0);
        let end = o + n * self.kv_dim;
        (&self.k[o..end], &self.v[o..end])
    }
}
