//! Perplexity of a model on a token stream (`tern eval`).
//!
//! Procedure (the one `tools/train/train.py` records in `models/tern-tiny.eval.json`):
//! the ids are cut into consecutive non-overlapping windows of `window` tokens (a
//! last window of one token is dropped); each window runs from position 0 with an
//! empty KV cache; every token but a window's last predicts the next one, scored
//! as `-ln softmax(logits)[next]` in f64. NLL is the mean over all predictions,
//! perplexity its exponential. Windows are decoded side by side, one token each
//! per [`Model::forward_batch`] step (up to [`BATCH`] windows), so the weights are
//! read once per step. [`perplexity`] keeps keys and values in f32 ([`KvType::F32`],
//! exact, as the training script's attention); [`perplexity_with`] takes the KV cache
//! type (`tern eval --cache-type f16` measures what the f16 cache costs).

use crate::model::{KvCache, KvType, Model, ModelError, SeqStep};

/// Windows decoded in one step.
pub const BATCH: usize = 32;

/// The result of [`perplexity`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perplexity {
    /// Mean negative log-likelihood per predicted token (natural log).
    pub nll: f64,
    /// Predictions scored.
    pub predictions: usize,
    /// Windows run.
    pub windows: usize,
}

impl Perplexity {
    /// `exp(nll)`.
    pub fn perplexity(&self) -> f64 {
        self.nll.exp()
    }
}

/// Scores `ids` with `model` in windows of `window` tokens (module docs), f32 KV
/// caches.
///
/// Errors: `window` below 2 or above the model's context, fewer than two ids,
/// ids outside the vocabulary ([`ModelError::BadInput`] / [`ModelError::BadToken`]).
pub fn perplexity(model: &Model, ids: &[u32], window: usize) -> Result<Perplexity, ModelError> {
    perplexity_with(model, ids, window, KvType::F32)
}

/// [`perplexity`] with KV caches of `kv_type`.
///
/// Errors: those of [`perplexity`].
pub fn perplexity_with(
    model: &Model,
    ids: &[u32],
    window: usize,
    kv_type: KvType,
) -> Result<Perplexity, ModelError> {
    let c = model.config();
    if window < 2 || window > c.context_length {
        return Err(ModelError::BadInput(format!(
            "window {window} must be within 2..={} (the model's context)",
            c.context_length
        )));
    }
    let windows: Vec<&[u32]> = ids.chunks(window).filter(|w| w.len() >= 2).collect();
    if windows.is_empty() {
        return Err(ModelError::BadInput("perplexity needs at least two tokens".into()));
    }
    let (mut total, mut predictions) = (0f64, 0usize);
    for group in windows.chunks(BATCH) {
        let mut caches =
            group.iter().map(|_| KvCache::with_type(c, window, kv_type)).collect::<Result<Vec<_>, _>>()?;
        let mut logits = vec![vec![0f32; c.vocab_size]; group.len()];
        for t in 0..window - 1 {
            let live: Vec<usize> = (0..group.len()).filter(|&i| t + 1 < group[i].len()).collect();
            if live.is_empty() {
                break;
            }
            let mut steps: Vec<SeqStep<'_>> = caches
                .iter_mut()
                .zip(logits.iter_mut())
                .zip(group)
                .filter(|(_, w)| t + 1 < w.len())
                .map(|((cache, l), w)| SeqStep { tokens: &w[t..t + 1], pos: t, cache, logits: Some(l) })
                .collect();
            model.forward_batch(&mut steps)?;
            drop(steps);
            for &i in &live {
                total += nll(&logits[i], group[i][t + 1]);
                predictions += 1;
            }
        }
    }
    Ok(Perplexity { nll: total / predictions as f64, predictions, windows: windows.len() })
}

/// Negative log-likelihood of `target` under `logits`: `-ln softmax(logits)[target]`,
/// computed in f64 with the max subtracted (no overflow for any finite logits).
///
/// # Panics
/// If `target` is not an index into `logits`.
pub fn nll(logits: &[f32], target: u32) -> f64 {
    let max = logits.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let sum: f64 = logits.iter().map(|&v| (v as f64 - max).exp()).sum();
    max + sum.ln() - logits[target as usize] as f64
}
