//! The kernels' internal ternary weight layout, [`TernaryMatrix`].
//!
//! # Layout (the contract SIMD paths build on)
//!
//! A matrix of `rows × cols` ternary weights (row `r` = output feature `r`, its `cols`
//! inputs contiguous) is stored as `rows × blocks_per_row` [`PackedBlock`]s, row-major:
//!
//! - `blocks_per_row = ceil(cols / 128)`, `padded_cols = 128 × blocks_per_row`; block `b`
//!   of row `r` is `blocks()[r * blocks_per_row + b]` ([`TernaryMatrix::row_blocks`]
//!   gives one row's slice) and covers columns `128b .. 128b + 128`.
//! - A block is 32 bytes, 32-byte aligned (`#[repr(C, align(32))]`), in the `I2_S`
//!   interleave: byte `j` (0..32) holds the code of column `128b + j` in bits 7-6,
//!   `128b + 32 + j` in bits 5-4, `128b + 64 + j` in bits 3-2 and `128b + 96 + j` in
//!   bits 1-0.
//! - Codes are `weight_sign + 1`: 0 = -1, 1 = 0, 2 = +1; code 3 never occurs. Padding
//!   columns (`cols..padded_cols`) hold code 1 (weight 0).
//!
//! So one 32-byte load `v` plus `(v >> 6) & 3`, `(v >> 4) & 3`, `(v >> 2) & 3`, `v & 3`
//! (16-bit shifts are fine: the mask removes bits shifted in from the neighbour byte)
//! yields four 32-lane `u8` vectors of codes lined up with activations
//! `x[128b .. 128b+32]`, `x[128b+32 .. +64]`, `x[128b+64 .. +96]`, `x[128b+96 .. +128]`.
//! That is the operand order of AVX2 `_mm256_maddubs_epi16(codes_u8, acts_i8)`,
//! AVX-512 VNNI `_mm512_dpbusd_epi32` (two blocks per 64-byte register) and NEON
//! `vdotq_s32` / `vmlal_s8` on 16-byte halves (codes are < 128, so they are valid `i8`).
//!
//! # Arithmetic
//!
//! With `x_q` the int8 activations (padded with zeros to `padded_cols`, see
//! [`crate::quant`]) the kernels compute per row the exact integer
//! `dot = Σ_k code[r,k] · x_q[k]` (`gemv_i32`), and from it
//! `Σ_k (code - 1) · x_q[k] = dot - Σ_k x_q[k]`. Padded columns contribute nothing
//! because their `x_q` is 0. Bounds: `|x_q| ≤ 127` for quantized activations (128 only
//! for hand-built ones), codes ≤ 2, so one `maddubs` lane pair is at most
//! `2·2·127 = 508` in magnitude (never saturates) and one block adds at most 2032 to an
//! `i16` lane: widen to `i32` at least every 16 blocks (every 15 if activations may
//! hold -128) to stay exact.
//!
//! # Scales
//!
//! [`Scales::PerTensor`] (`I2_S`, and `TQ*` tensors whose blocks all share one scale) or
//! [`Scales::PerBlock`]: one `f32` per 128-column block, `rows × blocks_per_row` of them
//! in block order (`TQ1_0` / `TQ2_0` have one f16 scale per 256 values, so two
//! consecutive blocks share it). Weight `[r, k]` = `(code - 1) × scale`.
//!
//! Rows are independent: any kernel call takes a row range, so a caller can give each
//! thread its own range.

mod repack;

use crate::error::{check_len, mul, KernelError};
use crate::formats::{check_scales, check_ternary};

/// Columns per packed block.
pub const BLOCK_COLS: usize = 128;
/// Bytes per packed block.
pub const BLOCK_BYTES: usize = 32;
/// The code of a zero weight (also the padding code).
pub const ZERO_CODE: u8 = 1;
/// A packed block of 128 zero weights.
pub const ZERO_BLOCK: PackedBlock = PackedBlock([0x55; BLOCK_BYTES]);

/// 128 ternary codes in the `I2_S` interleave (see the module docs), 32-byte aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(32))]
pub struct PackedBlock(pub [u8; BLOCK_BYTES]);

impl PackedBlock {
    /// Packs 128 codes (each 0..=2, in column order).
    #[inline]
    pub fn from_codes(codes: &[u8; BLOCK_COLS]) -> PackedBlock {
        PackedBlock(std::array::from_fn(|j| {
            (codes[j] << 6) | (codes[j + 32] << 4) | (codes[j + 64] << 2) | codes[j + 96]
        }))
    }

    /// The code of column `c` (0..128) of the block.
    #[inline]
    pub fn code(&self, c: usize) -> u8 {
        (self.0[c % 32] >> (6 - 2 * (c / 32))) & 3
    }

    /// All 128 codes in column order.
    #[inline]
    pub fn codes(&self) -> [u8; BLOCK_COLS] {
        std::array::from_fn(|c| self.code(c))
    }
}

/// How a [`TernaryMatrix`] is scaled.
#[derive(Debug, Clone, PartialEq)]
pub enum Scales {
    /// One scale for every weight.
    PerTensor(f32),
    /// One scale per 128-column block, `rows × blocks_per_row` of them in block order.
    PerBlock(Vec<f32>),
}

/// Ternary weights in the kernels' internal layout (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct TernaryMatrix {
    rows: usize,
    cols: usize,
    blocks_per_row: usize,
    blocks: Vec<PackedBlock>,
    scales: Scales,
}

impl TernaryMatrix {
    /// Builds a matrix from row-major ternary `values` (`rows × cols`, each -1, 0, 1) and
    /// one per-tensor `scale`.
    ///
    /// Errors: `values.len() != rows * cols`, a non-ternary value, a non-finite scale.
    pub fn from_values(rows: usize, cols: usize, values: &[i8], scale: f32) -> Result<Self, KernelError> {
        Self::from_values_with_scales(rows, cols, values, Scales::PerTensor(scale))
    }

    /// Builds a matrix from row-major ternary `values` and explicit [`Scales`]
    /// (`PerBlock` must hold `rows × ceil(cols / 128)` scales). Per-block scales are kept
    /// as given (not collapsed).
    ///
    /// Errors: bad lengths, non-ternary values, non-finite scales.
    pub fn from_values_with_scales(
        rows: usize,
        cols: usize,
        values: &[i8],
        scales: Scales,
    ) -> Result<Self, KernelError> {
        check_len("ternary values", mul("rows x cols", rows, cols)?, values.len())?;
        check_ternary(values)?;
        let mut m = Self::zeros(rows, cols, scales)?;
        let mut codes = [ZERO_CODE; BLOCK_COLS];
        for (r, row) in values.chunks_exact(cols.max(1)).enumerate().take(rows) {
            for (b, chunk) in row.chunks(BLOCK_COLS).enumerate() {
                codes.fill(ZERO_CODE);
                for (c, &v) in codes.iter_mut().zip(chunk) {
                    *c = (v + 1) as u8;
                }
                m.blocks[r * m.blocks_per_row + b] = PackedBlock::from_codes(&codes);
            }
        }
        Ok(m)
    }

    /// An all-zero matrix with the given scales (validated).
    pub(crate) fn zeros(rows: usize, cols: usize, scales: Scales) -> Result<Self, KernelError> {
        let blocks_per_row = cols.div_ceil(BLOCK_COLS);
        let n_blocks = mul("ternary blocks", rows, blocks_per_row)?;
        mul("ternary bytes", n_blocks, BLOCK_BYTES)?;
        match &scales {
            Scales::PerTensor(s) => check_scales(std::slice::from_ref(s))?,
            Scales::PerBlock(v) => {
                check_len("per-block scales", n_blocks, v.len())?;
                check_scales(v)?;
            }
        }
        Ok(TernaryMatrix { rows, cols, blocks_per_row, blocks: vec![ZERO_BLOCK; n_blocks], scales })
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features (logical K, before padding).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `ceil(cols / 128)`.
    pub fn blocks_per_row(&self) -> usize {
        self.blocks_per_row
    }

    /// `128 × blocks_per_row`: the activation length the kernels read.
    pub fn padded_cols(&self) -> usize {
        self.blocks_per_row * BLOCK_COLS
    }

    /// Every block, row-major (`rows × blocks_per_row`).
    pub fn blocks(&self) -> &[PackedBlock] {
        &self.blocks
    }

    /// The blocks of row `r`. Panics if `r >= rows`.
    #[inline]
    pub fn row_blocks(&self, r: usize) -> &[PackedBlock] {
        &self.blocks[r * self.blocks_per_row..(r + 1) * self.blocks_per_row]
    }

    /// The scales.
    pub fn scales(&self) -> &Scales {
        &self.scales
    }

    /// The scale of block `b` of row `r`. Panics if out of range.
    #[inline]
    pub fn block_scale(&self, r: usize, b: usize) -> f32 {
        match &self.scales {
            Scales::PerTensor(s) => *s,
            Scales::PerBlock(v) => v[r * self.blocks_per_row + b],
        }
    }

    /// The ternary value (-1, 0, 1) at `[r, c]`. Panics if out of range.
    pub fn value(&self, r: usize, c: usize) -> i8 {
        assert!(r < self.rows && c < self.cols, "index out of range");
        self.row_blocks(r)[c / BLOCK_COLS].code(c % BLOCK_COLS) as i8 - 1
    }

    /// All values, row-major, without padding (`rows × cols`).
    pub fn to_values(&self) -> Vec<i8> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            for (b, block) in self.row_blocks(r).iter().enumerate() {
                let n = (self.cols - b * BLOCK_COLS).min(BLOCK_COLS);
                out.extend(block.codes()[..n].iter().map(|&c| c as i8 - 1));
            }
        }
        out
    }

    /// The weight `value × scale` at `[r, c]`. Panics if out of range.
    pub fn weight(&self, r: usize, c: usize) -> f32 {
        self.value(r, c) as f32 * self.block_scale(r, c / BLOCK_COLS)
    }
}
