//! Per-token absmax int8 activation quantization (BitNet b1.58).
//!
//! For one token `x` (K floats): `s = 127 / max(max_k |x_k|, 1e-5)`,
//! `q_k = clamp(round_half_to_even(x_k · s), -128, 127)`, and `sum = Σ q_k` (i32). The
//! kernels need `s` (divide by it) and `sum` (the ternary offset, see
//! [`crate::ternary`]). `x ≈ q / s`.
//!
//! Sources: HF transformers `BitNetForCausalLM` activation quant
//! (`scale = 127 / x.abs().max(-1).clamp(min=1e-5)`, `(x * scale).round().clamp(-128,
//! 127)`; `torch.round` rounds half to even) and bitnet.cpp `quantize_row_i8_s`
//! (same scale, also returns `act_sums`). bitnet.cpp rounds with `round()` (half away
//! from zero) in some builds and ggml's `nearest_int` (half to even) in others; ties only
//! differ on exact `.5` products. Here: `s` is computed in f32, `x · s` in f32, NaN
//! inputs quantize to 0 (and are ignored by the max).
//!
//! Buffers are padded with zeros to a multiple of 128 (the weight block size), so SIMD
//! paths can always read whole blocks; padding contributes 0 to every sum.

use crate::error::{check_len, mul, KernelError};
use crate::ternary::BLOCK_COLS;

/// Smallest absmax used for the scale (avoids dividing by zero on all-zero tokens).
pub const MIN_ABSMAX: f32 = 1e-5;

/// Quantizes one token `x` into `out` (`out.len() == x.len()`); returns `(s, Σ q)`.
///
/// Errors: `out.len() != x.len()`.
pub fn quantize_row(x: &[f32], out: &mut [i8]) -> Result<(f32, i32), KernelError> {
    check_len("quantized activations", x.len(), out.len())?;
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let s = 127.0 / amax.max(MIN_ABSMAX);
    let mut sum = 0i32;
    for (q, &v) in out.iter_mut().zip(x) {
        // `as i32` saturates and maps NaN to 0; the clamp gives the int8 range.
        let r = ((v * s).round_ties_even() as i32).clamp(-128, 127);
        sum += r;
        *q = r as i8;
    }
    Ok((s, sum))
}

/// A borrowed view of one quantized token, what the ternary kernels read.
#[derive(Debug, Clone, Copy)]
pub struct ActsView<'a> {
    /// Logical length K.
    pub k: usize,
    /// `q`, zero-padded to `ceil(K / 128) · 128`.
    pub values: &'a [i8],
    /// `s = 127 / absmax`.
    pub scale: f32,
    /// `Σ q` over the whole token.
    pub sum: i32,
    /// `Σ q` over each 128-value block (`values.len() / 128` entries), for per-block
    /// weight scales.
    pub block_sums: &'a [i32],
}

/// One quantized token, owned (reuse it: [`QuantizedActs::quantize`] does not allocate).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedActs {
    k: usize,
    values: Vec<i8>,
    scale: f32,
    sum: i32,
    block_sums: Vec<i32>,
}

impl QuantizedActs {
    /// A zeroed buffer for tokens of `k` values (scale 1).
    pub fn new(k: usize) -> Self {
        let blocks = k.div_ceil(BLOCK_COLS);
        QuantizedActs {
            k,
            values: vec![0; blocks * BLOCK_COLS],
            scale: 1.0,
            sum: 0,
            block_sums: vec![0; blocks],
        }
    }

    /// Quantizes `x` into a new buffer.
    pub fn from_f32(x: &[f32]) -> Self {
        let mut a = Self::new(x.len());
        a.quantize(x).expect("length matches by construction");
        a
    }

    /// Wraps already-quantized values (any `i8`, -128 included) with a scale; the sums
    /// are computed. For tests and comparisons of kernel paths.
    pub fn from_raw(values: &[i8], scale: f32) -> Self {
        let mut a = Self::new(values.len());
        a.values[..values.len()].copy_from_slice(values);
        a.scale = scale;
        a.update_sums();
        a
    }

    /// Quantizes `x` (`x.len() == k`) in place, no allocation.
    ///
    /// Errors: `x.len() != k`.
    pub fn quantize(&mut self, x: &[f32]) -> Result<(), KernelError> {
        check_len("activations", self.k, x.len())?;
        let (s, _) = quantize_row(x, &mut self.values[..self.k])?;
        self.scale = s;
        self.update_sums();
        Ok(())
    }

    fn update_sums(&mut self) {
        self.sum = block_sums(&self.values, &mut self.block_sums);
    }

    /// The view the kernels take.
    pub fn view(&self) -> ActsView<'_> {
        ActsView {
            k: self.k,
            values: &self.values,
            scale: self.scale,
            sum: self.sum,
            block_sums: &self.block_sums,
        }
    }

    /// Logical length K.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The padded values (`ceil(K / 128) · 128`).
    pub fn values(&self) -> &[i8] {
        &self.values
    }

    /// `s = 127 / absmax`.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// `Σ q`.
    pub fn sum(&self) -> i32 {
        self.sum
    }
}

/// Fills `out[b] = Σ values[128b .. 128b + 128]` and returns the total.
fn block_sums(values: &[i8], out: &mut [i32]) -> i32 {
    let mut total = 0;
    for (s, block) in out.iter_mut().zip(values.chunks_exact(BLOCK_COLS)) {
        *s = block.iter().map(|&v| v as i32).sum();
        total += *s;
    }
    total
}

/// `n` quantized tokens of `k` values each, token-major: token `t`'s padded values are
/// `values[t · padded_k ..][.. padded_k]`. Reusable: [`QuantizedBatch::quantize`] only
/// allocates when more tokens arrive than ever before.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedBatch {
    k: usize,
    padded_k: usize,
    n: usize,
    values: Vec<i8>,
    scales: Vec<f32>,
    sums: Vec<i32>,
    block_sums: Vec<i32>,
}

impl QuantizedBatch {
    /// An empty batch for tokens of `k` values, with room for `capacity` tokens.
    pub fn new(capacity: usize, k: usize) -> Self {
        let padded_k = k.div_ceil(BLOCK_COLS) * BLOCK_COLS;
        let mut b = QuantizedBatch {
            k,
            padded_k,
            n: 0,
            values: Vec::new(),
            scales: Vec::new(),
            sums: Vec::new(),
            block_sums: Vec::new(),
        };
        b.resize(capacity);
        b
    }

    fn resize(&mut self, n: usize) {
        let blocks = self.padded_k / BLOCK_COLS;
        self.values.resize(n * self.padded_k, 0);
        self.scales.resize(n, 1.0);
        self.sums.resize(n, 0);
        self.block_sums.resize(n * blocks, 0);
    }

    /// Quantizes `xs` (`n × k` floats, token-major), replacing the batch's contents.
    ///
    /// Errors: `xs.len()` not a multiple of `k` (for `k == 0`, `xs` must be empty).
    pub fn quantize(&mut self, xs: &[f32]) -> Result<(), KernelError> {
        let n = if self.k == 0 {
            check_len("activations", 0, xs.len())?;
            0
        } else {
            crate::error::check_multiple("activations", xs.len(), self.k)?;
            xs.len() / self.k
        };
        mul("batch values", n, self.padded_k)?;
        if n > self.scales.len() {
            self.resize(n);
        }
        self.n = n;
        let blocks = self.padded_k / BLOCK_COLS;
        for (t, x) in xs.chunks_exact(self.k.max(1)).enumerate() {
            let row = &mut self.values[t * self.padded_k..(t + 1) * self.padded_k];
            let (s, _) = quantize_row(x, &mut row[..self.k])?;
            row[self.k..].fill(0);
            self.scales[t] = s;
            self.sums[t] = block_sums(row, &mut self.block_sums[t * blocks..(t + 1) * blocks]);
        }
        Ok(())
    }

    /// A batch from already-quantized tokens (`values`: `scales.len() × k`, token-major).
    ///
    /// Errors: `values.len() != scales.len() * k`.
    pub fn from_raw(k: usize, values: &[i8], scales: &[f32]) -> Result<Self, KernelError> {
        check_len("raw activations", mul("batch values", scales.len(), k)?, values.len())?;
        let mut b = Self::new(scales.len(), k);
        b.n = scales.len();
        let blocks = b.padded_k / BLOCK_COLS;
        for (t, &s) in scales.iter().enumerate() {
            let row = &mut b.values[t * b.padded_k..(t + 1) * b.padded_k];
            row[..k].copy_from_slice(&values[t * k..(t + 1) * k]);
            b.scales[t] = s;
            b.sums[t] = block_sums(row, &mut b.block_sums[t * blocks..(t + 1) * blocks]);
        }
        Ok(b)
    }

    /// Tokens in the batch.
    pub fn n_tokens(&self) -> usize {
        self.n
    }

    /// Logical length K of each token.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Token `t` as the kernels see it. Panics if `t >= n_tokens()`.
    pub fn token(&self, t: usize) -> ActsView<'_> {
        assert!(t < self.n, "token {t} out of range (batch has {})", self.n);
        let blocks = self.padded_k / BLOCK_COLS;
        ActsView {
            k: self.k,
            values: &self.values[t * self.padded_k..(t + 1) * self.padded_k],
            scale: self.scales[t],
            sum: self.sums[t],
            block_sums: &self.block_sums[t * blocks..(t + 1) * blocks],
        }
    }
}
