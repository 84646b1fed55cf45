//! [`Sampler`]: picks the next token from a logits vector.

use std::cmp::Ordering;

use super::error::SamplingError;
use super::params::SamplingParams;
use super::rng::Xoshiro256pp;

/// How many of the largest logits top-p sorts first when top-k has not sorted them.
const TOP_P_HEAD: usize = 1024;

/// One token still in the running.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    id: u32,
    logit: f32,
}

/// Larger logit first, then lower id: a total order on non-NaN candidates, so every
/// sort and selection below has one answer whatever the algorithm.
fn by_logit_desc(a: &Candidate, b: &Candidate) -> Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// `exp((logit - max) / t)` in f64: the softmax numerator relative to the largest logit
/// (so the largest weighs 1). When `max` is infinite, the tokens at `max` weigh 1 and the
/// rest 0.
fn weight(logit: f32, max: f32, inv_t: f64) -> f64 {
    if max.is_infinite() {
        f64::from(u8::from(logit == max))
    } else {
        ((f64::from(logit) - f64::from(max)) * inv_t).exp()
    }
}

/// Picks tokens from logits with a [`SamplingParams`] chain, reusing its buffers: after
/// the first call for a vocabulary size, [`Sampler::sample`] does not allocate.
///
/// The chain is llama.cpp's default (`common/sampling.cpp`: penalties → top-k → top-p →
/// min-p → temperature → `dist`, skipping its off-by-default DRY, top-n-σ, typical and
/// XTC stages), with HF transformers' logits-processor semantics where the two agree:
///
/// 1. **repetition penalty** on each distinct id among the last `repeat_last_n` of
///    `history` (ids outside the vocabulary are ignored);
/// 2. **temperature 0** ends here: the largest logit, ties to the lowest id;
/// 3. **top-k**: the `top_k` largest logits (`select_nth_unstable_by`, then a sort of the
///    `k` kept);
/// 4. **top-p**: the shortest prefix, largest first, whose softmax mass (temperature 1,
///    over the tokens still in) is `>= top_p` (without top-k, the 1024 largest are
///    selected and sorted first, the whole vocabulary only when they fall short);
/// 5. **min-p**: tokens with probability `>= min_p ×` the largest (temperature 1);
/// 6. **temperature**: logits divided by `temperature`;
/// 7. **draw**: softmax in f64 (largest logit subtracted) and one uniform draw from the
///    seeded generator, walking the survivors in a fixed order.
///
/// Top-p and min-p see temperature-1 probabilities because, as in llama.cpp, temperature
/// comes after them; temperature only reshapes the draw among the survivors. Every stage
/// keeps at least the most likely token. NaN logits are never chosen; if every logit is
/// NaN the answer is 0.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: Xoshiro256pp,
    /// The candidates (all ids, then fewer as stages cut).
    cands: Vec<Candidate>,
    /// The f64 weights of the final draw.
    weights: Vec<f64>,
    /// `seen[id]`: `id` was already penalized this call (all false between calls).
    seen: Vec<bool>,
}

impl Sampler {
    /// A sampler for `params`, its generator seeded from `params.seed` (or entropy).
    ///
    /// Errors: those of [`SamplingParams::validate`].
    pub fn new(params: SamplingParams) -> Result<Sampler, SamplingError> {
        params.validate()?;
        let seed = params.seed.unwrap_or_else(Xoshiro256pp::entropy_seed);
        Ok(Sampler {
            params,
            rng: Xoshiro256pp::seed_from_u64(seed),
            cands: Vec::new(),
            weights: Vec::new(),
            seen: Vec::new(),
        })
    }

    /// The parameters this sampler was built with.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// The next token id for `logits` (one per vocabulary entry, raw model output),
    /// given `history` (the prompt and the tokens generated so far, oldest first; only
    /// the repetition penalty reads it). Draws one random number unless greedy.
    ///
    /// Panics: when `logits` is empty or longer than `u32::MAX + 1` entries.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        assert!(!logits.is_empty(), "Sampler::sample: empty logits");
        assert!(u32::try_from(logits.len() - 1).is_ok(), "Sampler::sample: more than 2^32 logits");
        let p = &self.params;
        let penalize = p.repeat_penalty != 1.0 && p.repeat_last_n > 0 && !history.is_empty();
        if p.temperature == 0.0 && !penalize {
            return argmax(
                logits.iter().copied().enumerate().map(|(i, logit)| Candidate { id: i as u32, logit }),
            );
        }

        self.cands.clear();
        self.cands.extend(logits.iter().enumerate().map(|(i, &logit)| Candidate { id: i as u32, logit }));
        if penalize {
            self.penalize(history);
        }
        self.cands.retain(|c| !c.logit.is_nan());
        if self.cands.is_empty() {
            return 0;
        }
        if self.params.temperature == 0.0 {
            return argmax(self.cands.iter().copied());
        }
        let sorted = self.top_k();
        self.top_p(sorted);
        self.min_p();
        self.draw()
    }

    /// Stage 1: the repetition penalty, once on each distinct id of the window. `cands`
    /// still holds every id at its own index.
    fn penalize(&mut self, history: &[u32]) {
        let p = &self.params;
        let window = &history[history.len().saturating_sub(p.repeat_last_n)..];
        if self.seen.len() < self.cands.len() {
            self.seen.resize(self.cands.len(), false);
        }
        for &id in window {
            if let Some(c) = self.cands.get_mut(id as usize) {
                if !std::mem::replace(&mut self.seen[id as usize], true) {
                    c.logit =
                        if c.logit > 0.0 { c.logit / p.repeat_penalty } else { c.logit * p.repeat_penalty };
                }
            }
        }
        for &id in window {
            if let Some(s) = self.seen.get_mut(id as usize) {
                *s = false;
            }
        }
    }

    /// Stage 3: keeps the `top_k` largest, sorted largest first. Returns whether the
    /// candidates are now sorted.
    fn top_k(&mut self) -> bool {
        let k = self.params.top_k;
        if k == 0 {
            return false;
        }
        if k < self.cands.len() {
            self.cands.select_nth_unstable_by(k - 1, by_logit_desc);
            self.cands.truncate(k);
        }
        self.cands.sort_unstable_by(by_logit_desc);
        true
    }

    /// Stage 4: the shortest largest-first prefix with mass `>= top_p`.
    fn top_p(&mut self, sorted: bool) {
        let top_p = f64::from(self.params.top_p);
        if top_p >= 1.0 {
            return;
        }
        let max = max_logit(&self.cands);
        let total: f64 = self.cands.iter().map(|c| weight(c.logit, max, 1.0)).sum();
        let target = top_p * total;
        if !sorted {
            // The nucleus is usually far smaller than the vocabulary: when the largest
            // `TOP_P_HEAD` already reach the mass, sort only those.
            if self.cands.len() > TOP_P_HEAD {
                self.cands.select_nth_unstable_by(TOP_P_HEAD - 1, by_logit_desc);
                let head: f64 = self.cands[..TOP_P_HEAD].iter().map(|c| weight(c.logit, max, 1.0)).sum();
                if head >= target {
                    self.cands.truncate(TOP_P_HEAD);
                }
            }
            self.cands.sort_unstable_by(by_logit_desc);
        }
        let mut cum = 0.0;
        let mut keep = self.cands.len();
        for (i, c) in self.cands.iter().enumerate() {
            cum += weight(c.logit, max, 1.0);
            if cum >= target {
                keep = i + 1;
                break;
            }
        }
        self.cands.truncate(keep);
    }

    /// Stage 5: drops tokens below `min_p` times the most likely one's probability.
    fn min_p(&mut self) {
        let min_p = f64::from(self.params.min_p);
        if min_p <= 0.0 {
            return;
        }
        let max = max_logit(&self.cands);
        self.cands.retain(|c| weight(c.logit, max, 1.0) >= min_p);
    }

    /// Stages 6 and 7: temperature, softmax, one draw.
    fn draw(&mut self) -> u32 {
        let inv_t = 1.0 / f64::from(self.params.temperature);
        let max = max_logit(&self.cands);
        self.weights.clear();
        // Room for a whole vocabulary, so a later call with more survivors cannot grow it.
        self.weights.reserve(self.cands.capacity());
        self.weights.extend(self.cands.iter().map(|c| weight(c.logit, max, inv_t)));
        let total: f64 = self.weights.iter().sum();
        let target = self.rng.next_f64() * total;
        let mut cum = 0.0;
        let mut last = 0;
        for (i, &w) in self.weights.iter().enumerate() {
            if w > 0.0 {
                cum += w;
                last = i;
                if target < cum {
                    return self.cands[i].id;
                }
            }
        }
        // Rounding left `target` at or past the sum: the last token with any weight.
        self.cands[last].id
    }
}

/// The largest logit of non-empty, NaN-free candidates.
fn max_logit(cands: &[Candidate]) -> f32 {
    cands.iter().map(|c| c.logit).fold(f32::NEG_INFINITY, f32::max)
}

/// The id of the largest logit, the lowest id on ties; NaN never wins; 0 if all are NaN.
fn argmax(cands: impl Iterator<Item = Candidate>) -> u32 {
    let mut best: Option<Candidate> = None;
    for c in cands {
        if !c.logit.is_nan() && !best.is_some_and(|b| c.logit <= b.logit) {
            best = Some(c);
        }
    }
    best.map_or(0, |b| b.id)
}
