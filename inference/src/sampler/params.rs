//! [`SamplingParams`]: what [`Sampler`](super::Sampler) does with the logits.

use super::error::SamplingError;

/// Sampling settings. Every "off" value makes its stage a no-op; the stages run in
/// llama.cpp's default order (see [`Sampler`](super::Sampler)).
///
/// The defaults ([`SamplingParams::default`]) are llama.cpp's `common_params_sampling`:
/// temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no repetition penalty over a
/// window of 64 tokens, a fresh seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Divisor of the logits before the final draw (dimensionless, finite, `>= 0`).
    /// `0` is greedy: the largest (penalized) logit, ties to the lowest id.
    pub temperature: f32,
    /// Keep only the `top_k` largest logits (ties to the lower id). `0` is off.
    pub top_k: usize,
    /// Nucleus sampling: keep the smallest set of most likely tokens whose probability
    /// (softmax at temperature 1 over the tokens still in) reaches `top_p`. In `(0, 1]`;
    /// `1` is off.
    pub top_p: f32,
    /// Drop tokens whose probability is below `min_p` times the most likely token's
    /// (temperature 1). In `[0, 1)`; `0` is off.
    pub min_p: f32,
    /// llama.cpp's repetition penalty on every distinct token among the last
    /// `repeat_last_n` of the history: a logit `> 0` is divided by it, one `<= 0`
    /// multiplied. Finite, `> 0`; `1` is off.
    pub repeat_penalty: f32,
    /// How many of the most recent history tokens the penalty looks at (tokens, not
    /// bytes). `0` turns the penalty off.
    pub repeat_last_n: usize,
    /// `Some(seed)`: the same tokens for the same logits on every platform and version
    /// of tern (see `rng.rs`). `None`: seeded from the OS's hasher keys and the clock.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding: temperature 0, every other stage off (the same tokens as
    /// [`argmax`](crate::model::argmax)).
    pub fn greedy() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: None,
        }
    }

    /// Checks every field's range.
    ///
    /// Errors: [`SamplingError::InvalidParam`] naming the first bad field of
    /// `temperature` (NaN, infinite, negative), `top_p` (outside `(0, 1]`), `min_p`
    /// (outside `[0, 1)`), `repeat_penalty` (NaN, infinite, `<= 0`).
    pub fn validate(&self) -> Result<(), SamplingError> {
        let check = |field, value: f32, ok: bool, expected| {
            if ok {
                Ok(())
            } else {
                Err(SamplingError::InvalidParam { field, value, expected })
            }
        };
        let t = self.temperature;
        check("temperature", t, t.is_finite() && t >= 0.0, "a finite temperature >= 0")?;
        let p = self.top_p;
        check("top_p", p, p > 0.0 && p <= 1.0, "0 < top_p <= 1")?;
        let m = self.min_p;
        check("min_p", m, (0.0..1.0).contains(&m), "0 <= min_p < 1")?;
        let r = self.repeat_penalty;
        check("repeat_penalty", r, r.is_finite() && r > 0.0, "a finite repeat_penalty > 0")
    }
}
