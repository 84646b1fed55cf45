//! `Q8_0`-block activation quantization for the quantized output heads (`Q8_0`, `Q4_0`
//! and `Q6_K` [`DenseMatrix`](crate::DenseMatrix)es), as ggml quantizes activations
//! before `ggml_vec_dot_q8_0_q8_0` / `ggml_vec_dot_q4_0_q8_0` (for `Q6_K` ggml uses
//! `Q8_K` blocks of 256 with one scale; here `Q6_K` heads take the same `Q8_0` blocks, see
//! [`crate::scalar::dense_q8`]).
//!
//! Each token's `cols` values (a multiple of 32) are cut into blocks of 32; per block,
//! exactly as ggml's `quantize_row_q8_0_ref`: `d = max|x| / 127`, `id = d ? 1 / d : 0`,
//! `q = round_half_away_from_zero(x · id)`, all in f32. Two deliberate differences:
//!
//! - **`d` is stored as f32**, not rounded to f16 as in ggml's `block_q8_0`. It costs 2
//!   more bytes per 32 activations (nothing next to the matrix), keeps a digit or so of
//!   precision that the f16 rounding (relative 2⁻¹¹) would lose, and cannot overflow:
//!   an f16 scale is infinite for `max|x| > 127 · 65504`. So the results are ggml's up
//!   to the rounding of `d`, not bit for bit.
//! - Codes are **clamped to `-127..=127`**. ggml's codes reach ±128 only when `1 / d`
//!   overflows (a subnormal `d`) or the input is not finite, where its cast is undefined
//!   behaviour. The clamp is an invariant of [`Q8Acts`] the SIMD kernels rely on: with
//!   `|q_x| ≤ 127` and `|q_w| ≤ 128`, `maddubs` pair sums (`≤ 2 · 128 · 127 = 32512`)
//!   never saturate `i16`.
//!
//! NaN inputs quantize to code 0 and are ignored by the block max (as `f32::max` does);
//! infinite inputs give unspecified, in-range codes.
//!
//! Quantization runs on the scalar path everywhere: for a 2560-wide token it is a few
//! microseconds, nothing next to a head product of 2560 × vocabulary weights.

use crate::error::{check_len, check_multiple, mul, KernelError};

/// Values per activation block (the `Q8_0` / `Q4_0` weight block size, and two `Q6_K`
/// sub-blocks).
pub const BLOCK_VALUES: usize = 32;

/// Largest code magnitude: codes are in `-MAX_CODE..=MAX_CODE`.
pub const MAX_CODE: i8 = 127;

/// Quantizes one block of 32 values into `q` and returns its scale `d` (see the module
/// docs); `x ≈ d · q`.
pub fn quantize_block(x: &[f32; BLOCK_VALUES], q: &mut [i8; BLOCK_VALUES]) -> f32 {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / MAX_CODE as f32;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    for (q, &v) in q.iter_mut().zip(x) {
        // `as i32` saturates and maps NaN to 0; `round` is half away from zero, as C's
        // `roundf`.
        *q = ((v * id).round() as i32).clamp(-(MAX_CODE as i32), MAX_CODE as i32) as i8;
    }
    d
}

/// Tokens per interleaved group (see [`Q8Acts`]).
pub(crate) const GROUP: usize = 8;

/// Batches of at least this many tokens also get the interleaved groups; a GEMM runs a
/// group with the 8-lane kernel when it holds at least this many real tokens.
pub(crate) const GROUP_MIN: usize = 4;

/// `n` tokens of `cols` activations each (token-major), quantized to `Q8_0` blocks: token
/// `t`'s codes are [`Q8Acts::codes`]`(t)` (`cols` values), its block scales
/// [`Q8Acts::scales`]`(t)` (`cols / 32` f32s). Codes and scales are kept in separate
/// arrays, so every block's 32 codes are one contiguous 32-byte load.
///
/// Batches of 4 tokens or more also keep a second copy of the codes for the GEMM
/// kernels, interleaved in groups of 8 tokens (the last group padded with zero tokens):
/// per group and block, 8 chunks of 4 values, each chunk as 32 bytes (4 codes of each
/// of the 8 tokens), so one 256-bit vector holds 8 tokens; with the 8 tokens' block
/// scales and `8 · Σ q` per block beside them.
///
/// Reusable: [`Q8Acts::quantize`] only allocates when it needs more room than ever
/// before.
///
/// Invariant: every code is in `-127..=127` (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Q8Acts {
    cols: usize,
    n: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
    /// `[token][block]` `8 · Σ q` over the block (the `Q4_0` offset).
    bsums8: Vec<i32>,
    /// `[group][block][chunk 0..8][token 0..8][4]` codes.
    group_codes: Vec<i8>,
    /// `[group][block][token 0..8]` scales (0 for padding tokens).
    group_scales: Vec<f32>,
    /// `[group][block][token 0..8]` `8 · Σ q` over the block (the `Q4_0` offset).
    group_bsums8: Vec<i32>,
}

impl Q8Acts {
    /// An empty batch (no tokens).
    pub fn new() -> Self {
        Self::default()
    }

    /// Quantizes `xs` (`n × cols` values, token-major) into a new batch.
    ///
    /// Errors: as [`Q8Acts::quantize`].
    pub fn from_f32(xs: &[f32], cols: usize) -> Result<Self, KernelError> {
        let mut a = Self::new();
        a.quantize(xs, cols)?;
        Ok(a)
    }

    /// Quantizes `xs` (`n × cols` values, token-major), replacing the contents.
    ///
    /// Errors: `cols` not a multiple of 32 ([`KernelError::NotMultiple`]), `xs.len()`
    /// not a multiple of `cols` (for `cols == 0`, `xs` must be empty).
    pub fn quantize(&mut self, xs: &[f32], cols: usize) -> Result<(), KernelError> {
        check_multiple("Q8 activation row length", cols, BLOCK_VALUES)?;
        let n = if cols == 0 {
            check_len("Q8 activations", 0, xs.len())?;
            0
        } else {
            check_multiple("Q8 activations (tokens x cols)", xs.len(), cols)?;
            xs.len() / cols
        };
        let blocks = mul("Q8 activation blocks", n, cols / BLOCK_VALUES)?;
        self.cols = cols;
        self.n = n;
        self.codes.resize(xs.len(), 0);
        self.scales.resize(blocks, 0.0);
        self.bsums8.resize(blocks, 0);
        for (((x, q), d), s) in xs
            .chunks_exact(BLOCK_VALUES)
            .zip(self.codes.chunks_exact_mut(BLOCK_VALUES))
            .zip(self.scales.iter_mut())
            .zip(self.bsums8.iter_mut())
        {
            let x = x.try_into().expect("chunks_exact gives whole blocks");
            let q: &mut [i8; BLOCK_VALUES] = q.try_into().expect("chunks_exact gives whole blocks");
            *d = quantize_block(x, q);
            *s = 8 * q.iter().map(|&v| i32::from(v)).sum::<i32>();
        }
        self.build_groups();
        Ok(())
    }

    /// Groups (of [`GROUP`] tokens) in the interleaved copy: `ceil(n / 8)` for batches
    /// of at least [`GROUP_MIN`] tokens, else 0.
    pub(crate) fn groups(&self) -> usize {
        if self.n >= GROUP_MIN {
            self.n.div_ceil(GROUP)
        } else {
            0
        }
    }

    /// Fills the interleaved copy from `codes` and `scales`.
    fn build_groups(&mut self) {
        let (groups, blocks) = (self.groups(), self.blocks_per_token());
        self.group_codes.clear();
        self.group_codes.resize(groups * blocks * GROUP * BLOCK_VALUES, 0);
        self.group_scales.clear();
        self.group_scales.resize(groups * blocks * GROUP, 0.0);
        self.group_bsums8.clear();
        self.group_bsums8.resize(groups * blocks * GROUP, 0);
        let tokens = if groups > 0 { self.n } else { 0 };
        for t in 0..tokens {
            let (g, lane) = (t / GROUP, t % GROUP);
            for b in 0..blocks {
                let q = &self.codes[t * self.cols + b * BLOCK_VALUES..][..BLOCK_VALUES];
                let gb = g * blocks + b;
                for (k, chunk) in q.chunks_exact(4).enumerate() {
                    let at = (gb * GROUP + k) * BLOCK_VALUES + lane * 4;
                    self.group_codes[at..at + 4].copy_from_slice(chunk);
                }
                self.group_scales[gb * GROUP + lane] = self.scales[t * blocks + b];
                self.group_bsums8[gb * GROUP + lane] = self.bsums8[t * blocks + b];
            }
        }
    }

    /// Token `t`'s `8 · Σ q` per block (`cols / 32` values). Panics if `t >= n_tokens()`.
    pub(crate) fn bsums8(&self, t: usize) -> &[i32] {
        assert!(t < self.n, "token {t} out of range (batch has {})", self.n);
        let b = self.blocks_per_token();
        &self.bsums8[t * b..(t + 1) * b]
    }

    /// Group `g`'s interleaved codes (`blocks · 256`), scales and `8 · Σ q`
    /// (`blocks · 8` each). Panics if `g >= groups()`.
    pub(crate) fn group(&self, g: usize) -> (&[i8], &[f32], &[i32]) {
        assert!(g < self.groups(), "group {g} out of range");
        let b = self.blocks_per_token() * GROUP;
        (
            &self.group_codes[g * b * BLOCK_VALUES..(g + 1) * b * BLOCK_VALUES],
            &self.group_scales[g * b..(g + 1) * b],
            &self.group_bsums8[g * b..(g + 1) * b],
        )
    }

    /// Tokens in the batch.
    pub fn n_tokens(&self) -> usize {
        self.n
    }

    /// Activations per token.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Blocks per token (`cols / 32`).
    pub fn blocks_per_token(&self) -> usize {
        self.cols / BLOCK_VALUES
    }

    /// Token `t`'s `cols` codes. Panics if `t >= n_tokens()`.
    pub fn codes(&self, t: usize) -> &[i8] {
        assert!(t < self.n, "token {t} out of range (batch has {})", self.n);
        &self.codes[t * self.cols..(t + 1) * self.cols]
    }

    /// Token `t`'s `cols / 32` block scales. Panics if `t >= n_tokens()`.
    pub fn scales(&self, t: usize) -> &[f32] {
        assert!(t < self.n, "token {t} out of range (batch has {})", self.n);
        let b = self.blocks_per_token();
        &self.scales[t * b..(t + 1) * b]
    }

    /// Token `t` dequantized into `out` (`d · q` per value): the activations the
    /// quantized head products actually use.
    ///
    /// Errors: `t >= n_tokens()` ([`KernelError::BadRows`]), `out.len() != cols`.
    pub fn dequantize(&self, t: usize, out: &mut [f32]) -> Result<(), KernelError> {
        if t >= self.n {
            return Err(KernelError::BadRows { start: t, end: t + 1, rows: self.n });
        }
        check_len("dequantized Q8 activations", self.cols, out.len())?;
        for ((y, q), &d) in out
            .chunks_exact_mut(BLOCK_VALUES)
            .zip(self.codes(t).chunks_exact(BLOCK_VALUES))
            .zip(self.scales(t))
        {
            for (y, &q) in y.iter_mut().zip(q) {
                *y = d * q as f32;
            }
        }
        Ok(())
    }
}
