//! Scalar GEMV / GEMM for `Q8_0`, `Q4_0` and `Q6_K` [`DenseMatrix`]es (quantized output
//! heads) with **`Q8_0`-block activations** ([`Q8Acts`]). Per 32-value activation block
//! `b`, an exact integer dot `isum_b` (`i32`) and a weight scale `d_w,b`, then in f32,
//! blocks in ascending order from 0, with one fused multiply-add per block:
//! `acc = fma(isum_b as f32, d_w,b · d_x,b, acc)` (ggml's generic code rounds the product
//! and the sum separately; the fused form is what the SIMD paths compute cheaply, in any
//! lane layout).
//!
//! - **`Q8_0`, `Q4_0`**: ggml's `ggml_vec_dot_q8_0_q8_0` / `ggml_vec_dot_q4_0_q8_0`
//!   (`*_generic`): `isum_b = Σ q_w · q_x` over the block (`q_w` = the `Q8_0` code, or
//!   the `Q4_0` nibble minus 8), `d_w,b` = the weight block's f16 scale.
//! - **`Q6_K`** (super-blocks of 256 values, 16 `i8` sub-scales `sc` of 16 values each,
//!   an f16 `d`; see [`crate::formats::q6_k`]): activation block `b` covers values
//!   `32j .. 32j + 32` (`j = b mod 8`) of super-block `b / 8`, i.e. its sub-blocks `2j`
//!   and `2j + 1`. With the centred codes `w_i = q_i - 32` (`-32..=31`) of those 32
//!   values and the activation codes `x_i`:
//!
//!   ```text
//!   isum_b = sc[2j] · Σ_{i<16} w_i · x_i  +  sc[2j+1] · Σ_{i≥16} w_i · x_i     (exact i32)
//!   d_w,b  = f32(d of super-block b / 8)
//!   ```
//!
//!   This is ggml's `ggml_vec_dot_q6_K_q8_K` (`*_generic`: per 16 values
//!   `sc · Σ (q - 32) · x` in integers, then one float scale `d_w · d_x` per super-block)
//!   except that the activations are `Q8_0` blocks (an f32 scale per 32 values) instead
//!   of ggml's `Q8_K` (one per 256), so the float step happens per 32 values, as for the
//!   other formats. `|isum_b| ≤ 2 · 128 · 16 · 32 · 127 < 2²⁴`.
//!
//! This is the reference the SIMD paths match **bit for bit**: they compute the same
//! per-block integers exactly (below 2²⁴, so exact in f32) and then the same f32
//! operations in the same order, whatever the batch size or row split. It differs from
//! [`crate::scalar::dense`] (f32 activations) by the activations' rounding to 8 bits.
//!
//! Output layout as [`crate::scalar::dense`]: GEMV `out[i]` = row `rows.start + i`; GEMM
//! `out[t · rows.len() + i]` for token `t`.

use std::ops::Range;

use crate::dense::DenseMatrix;
use crate::error::{check_len, KernelError};
use crate::formats::{f16_le, q4_0, q6_k, q8_0, GgmlType};
use crate::quant_q8::{Q8Acts, BLOCK_VALUES};
use crate::scalar::dense::check_rows;

/// Whether a matrix of type `ty` has a product with [`Q8Acts`]: `Q8_0`, `Q4_0` and
/// `Q6_K`.
pub fn supports(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q6K)
}

/// The checks every Q8-activation product makes: a supported format, `rows` inside the
/// matrix, activations as wide as a row, `out` holding `n_tokens × rows.len()` values.
pub(crate) fn check(
    w: &DenseMatrix,
    xs: &Q8Acts,
    rows: &Range<usize>,
    out: usize,
) -> Result<(), KernelError> {
    if !supports(w.ggml_type()) {
        return Err(KernelError::UnsupportedFormat {
            ggml_type: w.ggml_type().id(),
            purpose: "dense product with Q8_0 activations",
        });
    }
    check_rows(w, rows)?;
    check_len("Q8 activations (cols)", w.cols(), xs.cols())?;
    check_len("dense Q8 output (tokens x rows)", xs.n_tokens() * rows.len(), out)
}

/// The integer dot of one `Q8_0` weight block (34 bytes: f16 `d`, 32 × i8) with 32
/// activation codes.
#[inline]
fn isum_q8(block: &[u8], qx: &[i8]) -> i32 {
    block[2..q8_0::BLOCK_BYTES].iter().zip(qx).map(|(&w, &x)| i32::from(w as i8) * i32::from(x)).sum()
}

/// The integer dot of one `Q4_0` weight block (18 bytes: f16 `d`, 16 nibble pairs; byte
/// `j` holds value `j` low and `j + 16` high, code = nibble - 8) with 32 activation codes.
#[inline]
fn isum_q4(block: &[u8], qx: &[i8]) -> i32 {
    let (lo, hi) = qx.split_at(BLOCK_VALUES / 2);
    block[2..q4_0::BLOCK_BYTES]
        .iter()
        .zip(lo.iter().zip(hi))
        .map(|(&b, (&l, &h))| {
            (i32::from(b & 0x0F) - 8) * i32::from(l) + (i32::from(b >> 4) - 8) * i32::from(h)
        })
        .sum()
}

/// `Σ_b isum_b · d_w,b · d_x,b` (fused, in block order) for one weight row (`ty` blocks) and one
/// token's codes and scales.
fn dot(ty: GgmlType, row: &[u8], codes: &[i8], scales: &[f32]) -> f32 {
    match ty {
        GgmlType::Q4_0 => dot_blocks(row, q4_0::BLOCK_BYTES, codes, scales, isum_q4),
        GgmlType::Q6K => dot_q6k(row, codes, scales),
        _ => dot_blocks(row, q8_0::BLOCK_BYTES, codes, scales, isum_q8),
    }
}

/// [`dot`] for a `Q6_K` row: per super-block, the 256 centred codes, then per activation
/// block `b` (values `32j .. 32j + 32` of the super-block) the module docs' `isum_b`.
fn dot_q6k(row: &[u8], codes: &[i8], scales: &[f32]) -> f32 {
    const PER: usize = q6_k::BLOCK_VALUES / BLOCK_VALUES;
    let mut acc = 0.0f32;
    let mut w = [0i8; q6_k::BLOCK_VALUES];
    for ((sb, qx), dx) in row
        .chunks_exact(q6_k::BLOCK_BYTES)
        .zip(codes.chunks_exact(q6_k::BLOCK_VALUES))
        .zip(scales.chunks_exact(PER))
    {
        q6_k::codes(sb, &mut w);
        let sc = &sb[q6_k::SCALES..q6_k::SCALES + 16];
        let dw = f16_le(&sb[q6_k::D..q6_k::D + 2]);
        for j in 0..PER {
            let sub = |s: usize| -> i32 {
                let v = 16 * s..16 * s + 16;
                w[v.clone()].iter().zip(&qx[v]).map(|(&w, &x)| i32::from(w) * i32::from(x)).sum()
            };
            let isum =
                i32::from(sc[2 * j] as i8) * sub(2 * j) + i32::from(sc[2 * j + 1] as i8) * sub(2 * j + 1);
            acc = (isum as f32).mul_add(dw * dx[j], acc);
        }
    }
    acc
}

/// [`dot`] for blocks of `bytes` bytes whose integer dot is `isum`.
#[inline]
fn dot_blocks(
    row: &[u8],
    bytes: usize,
    codes: &[i8],
    scales: &[f32],
    isum: impl Fn(&[u8], &[i8]) -> i32,
) -> f32 {
    let mut acc = 0.0f32;
    for ((block, qx), &dx) in row.chunks_exact(bytes).zip(codes.chunks_exact(BLOCK_VALUES)).zip(scales) {
        acc = (isum(block, qx) as f32).mul_add(f16_le(&block[..2]) * dx, acc);
    }
    acc
}

/// `out[i] = Σ_b isum_b · d_w,b · d_x,b` for row `rows.start + i` and the single token
/// of `x`.
///
/// Errors: `w` not `Q8_0` / `Q4_0` / `Q6_K` ([`KernelError::UnsupportedFormat`]), `rows` outside
/// the matrix, `x.cols() != cols`, `x.n_tokens() != 1`, `out.len() != rows.len()`.
pub fn gemv(w: &DenseMatrix, x: &Q8Acts, rows: Range<usize>, out: &mut [f32]) -> Result<(), KernelError> {
    check_len("Q8 activations (tokens) for a GEMV", 1, x.n_tokens())?;
    check(w, x, &rows, out.len())?;
    let (codes, scales) = (x.codes(0), x.scales(0));
    for (o, r) in out.iter_mut().zip(rows) {
        *o = dot(w.ggml_type(), w.row_bytes(r), codes, scales);
    }
    Ok(())
}

/// `out[t · rows.len() + i]` = the [`gemv`] sum for row `rows.start + i` and token `t`
/// of `xs`, for every token.
///
/// Errors: `w` not `Q8_0` / `Q4_0` / `Q6_K`, `rows` outside the matrix, `xs.cols() != cols`,
/// `out.len() != xs.n_tokens() · rows.len()`.
pub fn gemm(w: &DenseMatrix, xs: &Q8Acts, rows: Range<usize>, out: &mut [f32]) -> Result<(), KernelError> {
    check(w, xs, &rows, out.len())?;
    let nr = rows.len();
    for (i, r) in rows.enumerate() {
        let row = w.row_bytes(r);
        for t in 0..xs.n_tokens() {
            out[t * nr + i] = dot(w.ggml_type(), row, xs.codes(t), xs.scales(t));
        }
    }
    Ok(())
}
