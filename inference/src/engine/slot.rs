//! [`Slot`]: one KV cache and the sequence using it; [`run_step`]: one batched
//! forward pass plus sampling, run on the compute pool.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_runtime::sync::mpsc::UnboundedSender;

use crate::model::{KvCache, Model, ModelError, SeqStep};
use crate::sampler::Sampler;

use super::request::Event;

/// A KV cache slot and, while busy, its sequence.
pub(super) struct Slot {
    pub(super) cache: KvCache,
    pub(super) logits: Vec<f32>,
    pub(super) seq: Option<Seq>,
}

/// A sequence being generated.
pub(super) struct Seq {
    pub(super) events: UnboundedSender<Event>,
    /// Prompt, then generated tokens (the sampler's history).
    pub(super) tokens: Vec<u32>,
    pub(super) prompt_len: usize,
    /// Tokens of `tokens` already in the cache.
    pub(super) fed: usize,
    /// Most tokens to generate (request's, capped by the slot's context).
    pub(super) max_tokens: usize,
    pub(super) sampler: Sampler,
    pub(super) ignore_eos: bool,
    pub(super) submitted: Instant,
    pub(super) admitted: Instant,
    pub(super) first_token: Option<Instant>,
    pub(super) timeout: Option<Duration>,
    /// The client's [`Generation::stop`](super::Generation::stop) flag.
    pub(super) stopped: Arc<AtomicBool>,
}

impl Seq {
    pub(super) fn generated(&self) -> usize {
        self.tokens.len() - self.prompt_len
    }

    pub(super) fn deadline_passed(&self, now: Instant) -> bool {
        self.timeout.is_some_and(|t| now.duration_since(self.submitted) >= t)
    }
}

/// Feeds `plan[i].1` tokens of the sequence in slot `plan[i].0` (ascending slot
/// order), and samples a token for every sequence whose feed reaches the end of
/// its known tokens. Returns `(slot, token)` for each sample.
pub(super) fn run_step(
    model: &Model,
    slots: &mut [Slot],
    plan: &[(usize, usize)],
) -> Result<Vec<(usize, u32)>, ModelError> {
    let mut steps = Vec::with_capacity(plan.len());
    let mut wanted = Vec::new();
    let mut next = plan.iter().peekable();
    for (i, slot) in slots.iter_mut().enumerate() {
        let Some(&(_, n)) = next.next_if(|&&(s, _)| s == i) else { continue };
        let Slot { cache, logits, seq } = slot;
        let seq = seq.as_ref().expect("planned slots hold a sequence");
        let end = seq.fed + n;
        let want = end == seq.tokens.len();
        if want {
            wanted.push(i);
        }
        steps.push(SeqStep {
            tokens: &seq.tokens[seq.fed..end],
            pos: seq.fed,
            cache,
            logits: if want { Some(logits.as_mut_slice()) } else { None },
        });
    }
    model.forward_batch(&mut steps)?;
    drop(steps);
    for &(i, n) in plan {
        if let Some(seq) = slots[i].seq.as_mut() {
            seq.fed += n;
        }
    }
    Ok(wanted
        .into_iter()
        .map(|i| {
            let Slot { logits, seq, .. } = &mut slots[i];
            let seq = seq.as_mut().expect("sampled slots hold a sequence");
            (i, seq.sampler.sample(logits, &seq.tokens))
        })
        .collect())
}
