//! [`Model`]: the BitNet b1.58 forward pass for one sequence, and greedy generation.
//!
//! Per block (sources: microsoft/BitNet `gguf-py` + bitnet.cpp `llm_build_bitnet_158`,
//! HF transformers `BitNetDecoderLayer`):
//!
//! ```text
//! h    = RMSNorm(x, attn_norm)
//! q, k, v = Wq·h, Wk·h, Wv·h            (ternary, h quantized per token to int8)
//! q, k = RoPE_neox(q, pos), RoPE_neox(k, pos)
//! a    = softmax(q·kᵀ / sqrt(head_dim), causal) · v   (GQA: head i reads KV head i / (n_heads / n_kv_heads))
//! x    = x + Wo · RMSNorm(a, attn_sub_norm)
//! h    = RMSNorm(x, ffn_norm)
//! f    = act(Wgate·h) * (Wup·h)          (act = relu², or SiLU for llama.cpp `bitnet` with silu)
//! x    = x + Wdown · RMSNorm(f, ffn_sub_norm)
//! ```
//!
//! then `logits = head · RMSNorm(x, output_norm)` for the last token of each sequence
//! (`head` = `output.weight`, or `token_embd.weight` when tied) with f32 activations.
//! Every ternary product quantizes its input per token (absmax int8,
//! [`tern_kernels::quant`]); a step of `n` tokens goes through the GEMM kernels, a
//! single token through GEMV. All sub-layer norms use `rms_eps`.
//!
//! [`Model::forward_batch`] runs several sequences in one step (continuous
//! batching): their tokens are stacked into one activation batch, so every weight
//! matrix is read once per step whatever the number of sequences, while attention
//! reads each token's own sequence's cache. With a [`ComputePool`]
//! ([`Model::with_pool`]) every product is split by rows and attention by
//! (token, head) across the pool's threads.

use std::cell::RefCell;
use std::path::Path;

use tern_kernels::{ops, Kernels, QuantizedBatch};
use tern_runtime::compute::ComputePool;

use crate::gguf::GgufFile;

use super::config::{Activation, ModelConfig};
use super::error::ModelError;
use super::kv_cache::KvCache;
use super::parallel;
use super::weights::{Linear, ModelWeights};

/// A loaded model: config, weights, the kernel path it runs on, and the compute
/// pool its products are split across (none: the calling thread alone).
#[derive(Debug, Clone)]
pub struct Model {
    config: ModelConfig,
    weights: ModelWeights,
    kernels: Kernels,
    pool: Option<ComputePool>,
}

/// One sequence's share of a [`Model::forward_batch`] step.
#[derive(Debug)]
pub struct SeqStep<'a> {
    /// The sequence's new tokens (a prefill chunk, or one token to decode).
    pub tokens: &'a [u32],
    /// The position of `tokens[0]`; at most `cache.len()` (below it rewinds).
    pub pos: usize,
    /// The sequence's own KV cache.
    pub cache: &'a mut KvCache,
    /// Where to write the logits of the last token (`vocab_size` values), or `None`
    /// for a prefill chunk whose logits nobody needs (the head is skipped).
    pub logits: Option<&'a mut [f32]>,
}

/// Per-step activation buffers (`n` tokens of all sequences, token-major).
struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    acts_dim: QuantizedBatch,
    acts_ffn: QuantizedBatch,
    /// For each token: (sequence index, position).
    at: Vec<(usize, usize)>,
}

thread_local! {
    /// Attention scores of one (token, head), reused across calls on this thread.
    static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl Model {
    /// Reads the config and weights of `file` and picks the process-wide kernel path
    /// ([`tern_kernels::dispatch::global`]). Runs on the calling thread until
    /// [`Model::with_pool`].
    ///
    /// Errors: those of [`ModelConfig::from_gguf`], [`ModelWeights::from_gguf`], and an
    /// invalid `TERN_KERNEL_PATH`.
    pub fn from_gguf(file: &GgufFile) -> Result<Model, ModelError> {
        Model::from_gguf_with_progress(file, &mut |_, _| {})
    }

    /// [`Model::from_gguf`], reporting `progress(done, total)` as blocks load (see
    /// [`ModelWeights::from_gguf_with_progress`]).
    pub fn from_gguf_with_progress(
        file: &GgufFile,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Model, ModelError> {
        let config = ModelConfig::from_gguf(file)?;
        let weights = ModelWeights::from_gguf_with_progress(file, &config, progress)?;
        let kernels = tern_kernels::dispatch::global().map_err(ModelError::kernel("kernel path"))?;
        Ok(Model { config, weights, kernels, pool: None })
    }

    /// [`Model::from_gguf`] on the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        Model::from_gguf(&GgufFile::open(path)?)
    }

    /// The same model on another kernel path (tests compare paths).
    pub fn with_kernels(mut self, kernels: Kernels) -> Model {
        self.kernels = kernels;
        self
    }

    /// The same model splitting its work across `pool` (results are identical to
    /// the unsplit run: every output value is computed by one thread).
    pub fn with_pool(mut self, pool: ComputePool) -> Model {
        self.pool = Some(pool);
        self
    }

    /// The same model on the calling thread alone (no compute pool).
    pub fn without_pool(mut self) -> Model {
        self.pool = None;
        self
    }

    /// The compute pool, if any.
    pub fn pool(&self) -> Option<&ComputePool> {
        self.pool.as_ref()
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The weights.
    pub fn weights(&self) -> &ModelWeights {
        &self.weights
    }

    /// Re-encodes the output head (`--lm-head`), see
    /// [`ModelWeights::requantize_head`].
    ///
    /// Errors: those of [`ModelWeights::requantize_head`].
    pub fn requantize_head(&mut self, format: super::HeadFormat) -> Result<(), ModelError> {
        self.weights.requantize_head(format)
    }

    /// A cache of the file's `context_length` positions for this model.
    pub fn new_cache(&self) -> Result<KvCache, ModelError> {
        KvCache::new(&self.config, self.config.context_length)
    }

    /// Runs `tokens` (one sequence) at positions `pos .. pos + tokens.len()`, appending
    /// their keys and values to `cache`, and writes the logits of the **last** token
    /// into `logits` (`vocab_size` values). `pos` may be below `cache.len()` to rewind
    /// (later positions are dropped), not above it.
    ///
    /// Errors: empty `tokens`, a wrong `logits` length, a token outside the vocabulary,
    /// `pos > cache.len()`, a cache for another model shape ([`ModelError::BadInput`] /
    /// [`ModelError::BadToken`]), and [`ModelError::ContextFull`] when
    /// `pos + tokens.len()` exceeds the cache's context length. On these errors the cache
    /// is unchanged; a kernel error in the middle of the pass (not expected after the
    /// checks) leaves it truncated to `pos`.
    pub fn forward(
        &self,
        tokens: &[u32],
        pos: usize,
        cache: &mut KvCache,
        logits: &mut [f32],
    ) -> Result<(), ModelError> {
        self.forward_batch(&mut [SeqStep { tokens, pos, cache, logits: Some(logits) }])
    }

    /// One step over several sequences: each [`SeqStep`] appends its tokens to its
    /// own cache, and those with a `logits` buffer get their last token's logits.
    /// Every weight matrix is read once for the whole step (`Σ tokens` rows of
    /// activations through GEMM). Results equal running each sequence alone.
    ///
    /// Errors: as [`Model::forward`] for any sequence (checked for all before any
    /// cache changes), or an empty `seqs`.
    pub fn forward_batch(&self, seqs: &mut [SeqStep<'_>]) -> Result<(), ModelError> {
        let c = &self.config;
        if seqs.is_empty() {
            return Err(ModelError::BadInput("forward needs at least one sequence".into()));
        }
        let mut at = Vec::new();
        for (i, seq) in seqs.iter().enumerate() {
            let end = self.check_step(seq)?;
            at.extend((seq.pos..end).map(|p| (i, p)));
        }
        let n = at.len();

        let mut s = self.scratch(n, at);
        let mut t = 0;
        for seq in seqs.iter_mut() {
            for &token in seq.tokens {
                self.weights
                    .token_embd
                    .dequantize_row(token as usize, &mut s.x[t * c.dim..(t + 1) * c.dim])
                    .map_err(ModelError::kernel("token_embd lookup"))?;
                t += 1;
            }
            seq.cache.set_len(seq.pos);
        }
        for layer in 0..c.n_layers {
            self.attention(layer, &mut s, seqs)?;
            self.ffn(layer, &mut s)?;
        }
        for seq in seqs.iter_mut() {
            seq.cache.set_len(seq.pos + seq.tokens.len());
        }
        self.head(&mut s, seqs)
    }

    /// Validates one step; returns the end position.
    fn check_step(&self, seq: &SeqStep<'_>) -> Result<usize, ModelError> {
        let c = &self.config;
        let (n, pos, cache) = (seq.tokens.len(), seq.pos, &*seq.cache);
        if n == 0 {
            return Err(ModelError::BadInput("forward needs at least one token".into()));
        }
        if let Some(logits) = &seq.logits {
            if logits.len() != c.vocab_size {
                return Err(ModelError::BadInput(format!(
                    "logits buffer holds {} values, the vocabulary has {}",
                    logits.len(),
                    c.vocab_size
                )));
            }
        }
        if !cache.fits(c) {
            return Err(ModelError::BadInput("KV cache was built for another model shape".into()));
        }
        if pos > cache.len() {
            return Err(ModelError::BadInput(format!(
                "position {pos} is past the {} cached positions",
                cache.len()
            )));
        }
        let end = pos.checked_add(n).filter(|&e| e <= cache.capacity()).ok_or(ModelError::ContextFull {
            context_length: cache.capacity(),
            needed: pos.saturating_add(n),
        })?;
        if let Some(&token) = seq.tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(ModelError::BadToken { token, vocab_size: c.vocab_size });
        }
        Ok(end)
    }

    /// Greedy decoding: runs `prompt`, then picks the most likely token `n` times
    /// (ties: the lowest id), feeding each back. Returns the `n` new tokens. Uses a
    /// fresh cache of `min(context_length, prompt.len() + n)` positions.
    ///
    /// Errors: those of [`Model::forward`] (an empty prompt, a prompt plus `n` longer
    /// than the context).
    pub fn generate(&self, prompt: &[u32], n: usize) -> Result<Vec<u32>, ModelError> {
        let needed = prompt.len().saturating_add(n);
        if needed > self.config.context_length {
            return Err(ModelError::ContextFull { context_length: self.config.context_length, needed });
        }
        let mut cache = KvCache::new(&self.config, needed.max(1))?;
        let mut logits = vec![0f32; self.config.vocab_size];
        let mut out = Vec::with_capacity(n);
        if n == 0 {
            return Ok(out);
        }
        self.forward(prompt, 0, &mut cache, &mut logits)?;
        loop {
            let next = argmax(&logits);
            out.push(next);
            if out.len() == n {
                return Ok(out);
            }
            self.forward(&[next], cache.len(), &mut cache, &mut logits)?;
        }
    }

    fn scratch(&self, n: usize, at: Vec<(usize, usize)>) -> Scratch {
        let c = &self.config;
        Scratch {
            x: vec![0.0; n * c.dim],
            h: vec![0.0; n * c.dim],
            q: vec![0.0; n * c.dim],
            k: vec![0.0; n * c.kv_dim()],
            v: vec![0.0; n * c.kv_dim()],
            att: vec![0.0; n * c.dim],
            gate: vec![0.0; n * c.ffn_dim],
            up: vec![0.0; n * c.ffn_dim],
            acts_dim: QuantizedBatch::new(n, c.dim),
            acts_ffn: QuantizedBatch::new(n, c.ffn_dim),
            at,
        }
    }

    /// `out = lin · acts` for every token of `acts` (token-major), split by rows.
    fn project(
        &self,
        lin: &Linear,
        acts: &QuantizedBatch,
        out: &mut [f32],
        what: &str,
    ) -> Result<(), ModelError> {
        parallel::ternary(&self.kernels, self.pool.as_ref(), &lin.weight, acts, out)
            .map_err(ModelError::kernel(what))?;
        if let Some(scale) = lin.scale {
            out.iter_mut().for_each(|v| *v *= scale);
        }
        Ok(())
    }

    /// RMSNorm of each `width`-wide token of `x` into `out`.
    fn norm_rows(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32], what: &str) -> Result<(), ModelError> {
        let width = weight.len();
        for (xr, or) in x.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
            ops::rms_norm(xr, weight, eps, or).map_err(ModelError::kernel(what))?;
        }
        Ok(())
    }

    fn attention(&self, layer: usize, s: &mut Scratch, seqs: &mut [SeqStep<'_>]) -> Result<(), ModelError> {
        let c = &self.config;
        let w = &self.weights.layers[layer];
        let ctx = |what: &str| format!("layer {layer} {what}");
        let (dim, kv_dim, hd) = (c.dim, c.kv_dim(), c.head_dim);

        Self::norm_rows(&s.x, &w.attn_norm, c.rms_eps, &mut s.h, &ctx("attn_norm"))?;
        s.acts_dim.quantize(&s.h).map_err(ModelError::kernel(ctx("attn activations")))?;
        self.project(&w.wq, &s.acts_dim, &mut s.q, &ctx("attn_q"))?;
        self.project(&w.wk, &s.acts_dim, &mut s.k, &ctx("attn_k"))?;
        self.project(&w.wv, &s.acts_dim, &mut s.v, &ctx("attn_v"))?;
        for (t, &(i, p)) in s.at.iter().enumerate() {
            ops::rope_neox(&mut s.q[t * dim..(t + 1) * dim], hd, p, c.rope_base)
                .map_err(ModelError::kernel(ctx("rope q")))?;
            ops::rope_neox(&mut s.k[t * kv_dim..(t + 1) * kv_dim], hd, p, c.rope_base)
                .map_err(ModelError::kernel(ctx("rope k")))?;
            seqs[i].cache.store(
                layer,
                p,
                &s.k[t * kv_dim..(t + 1) * kv_dim],
                &s.v[t * kv_dim..(t + 1) * kv_dim],
            );
        }

        // One part per (token, head): causal attention over the token's own sequence.
        let caches: Vec<&KvCache> = seqs.iter().map(|seq| &*seq.cache).collect();
        let (q, at) = (&s.q, &s.at);
        let group = c.n_heads / c.n_kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let one_head = |part: usize, out: &mut [f32]| {
            let (t, head) = (part / c.n_heads, part % c.n_heads);
            let (i, p) = at[t];
            let seen = p + 1; // causal: positions 0..=p
            let cache = caches[i];
            let kvo = (head / group) * hd;
            let q = &q[t * dim + head * hd..t * dim + (head + 1) * hd];
            SCORES.with_borrow_mut(|scores| {
                scores.resize(seen, 0.0);
                for (j, sc) in scores.iter_mut().enumerate() {
                    *sc = cache.dot_key(layer, j, kvo, q) * scale;
                }
                ops::softmax(scores);
                out.fill(0.0);
                for (j, &p) in scores.iter().enumerate() {
                    cache.axpy_value(layer, j, kvo, p, out);
                }
            });
        };
        let work = at.iter().map(|&(_, p)| p + 1).sum::<usize>() * c.n_heads * hd;
        match &self.pool {
            Some(pool) if work >= parallel::MIN_SPLIT_WEIGHTS => {
                pool.par_chunks_mut(&mut s.att, hd, one_head)
            }
            _ => s.att.chunks_mut(hd).enumerate().for_each(|(part, out)| one_head(part, out)),
        }

        Self::norm_rows(&s.att, &w.attn_sub_norm, c.rms_eps, &mut s.h, &ctx("attn_sub_norm"))?;
        s.acts_dim.quantize(&s.h).map_err(ModelError::kernel(ctx("attn_output activations")))?;
        self.project(&w.wo, &s.acts_dim, &mut s.att, &ctx("attn_output"))?;
        s.x.iter_mut().zip(&s.att).for_each(|(x, a)| *x += a);
        Ok(())
    }

    fn ffn(&self, layer: usize, s: &mut Scratch) -> Result<(), ModelError> {
        let c = &self.config;
        let w = &self.weights.layers[layer];
        let ctx = |what: &str| format!("layer {layer} {what}");

        Self::norm_rows(&s.x, &w.ffn_norm, c.rms_eps, &mut s.h, &ctx("ffn_norm"))?;
        s.acts_dim.quantize(&s.h).map_err(ModelError::kernel(ctx("ffn activations")))?;
        self.project(&w.w_gate, &s.acts_dim, &mut s.gate, &ctx("ffn_gate"))?;
        self.project(&w.w_up, &s.acts_dim, &mut s.up, &ctx("ffn_up"))?;
        match c.activation {
            Activation::Relu2 => {
                ops::squared_relu_gate(&mut s.gate, &s.up).map_err(ModelError::kernel(ctx("relu2")))?
            }
            Activation::Silu => {
                for (g, &u) in s.gate.iter_mut().zip(&s.up) {
                    *g = *g / (1.0 + (-*g).exp()) * u;
                }
            }
        }
        Self::norm_rows(&s.gate, &w.ffn_sub_norm, c.rms_eps, &mut s.up, &ctx("ffn_sub_norm"))?;
        s.acts_ffn.quantize(&s.up).map_err(ModelError::kernel(ctx("ffn_down activations")))?;
        self.project(&w.w_down, &s.acts_ffn, &mut s.h, &ctx("ffn_down"))?;
        s.x.iter_mut().zip(&s.h).for_each(|(x, d)| *x += d);
        Ok(())
    }
    /// The output head for the last token of each sequence that wants logits.
    fn head(&self, s: &mut Scratch, seqs: &mut [SeqStep<'_>]) -> Result<(), ModelError> {
        let c = &self.config;
        let mut last = 0;
        let mut rows = Vec::new(); // normed hidden states, one per wanted sequence
        for seq in seqs.iter() {
            last += seq.tokens.len();
            if seq.logits.is_some() {
                let x = &s.x[(last - 1) * c.dim..last * c.dim];
                let start = rows.len();
                rows.resize(start + c.dim, 0.0);
                ops::rms_norm(x, &self.weights.output_norm, c.rms_eps, &mut rows[start..])
                    .map_err(ModelError::kernel("output_norm"))?;
            }
        }
        let m = rows.len() / c.dim;
        if m == 0 {
            return Ok(());
        }
        let mut out = vec![0f32; m * c.vocab_size];
        parallel::dense(&self.kernels, self.pool.as_ref(), self.weights.head(), &rows, &mut out)
            .map_err(ModelError::kernel("output head"))?;
        let mut chunks = out.chunks_exact(c.vocab_size);
        for seq in seqs.iter_mut() {
            if let Some(dst) = seq.logits.as_deref_mut() {
                dst.copy_from_slice(chunks.next().expect("one row per wanted sequence"));
            }
        }
        Ok(())
    }
}

/// The index of the largest value (the first on ties; NaN never wins).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best as u32
}
