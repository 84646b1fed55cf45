//! Scalar ternary GEMV / GEMM over [`TernaryMatrix`] and int8 activations.
//!
//! Per row `r` of the requested range and token `x` (see [`crate::ternary`] for the
//! layout and bounds):
//!
//! - `*_i32`: `dot[r] = Σ_k code[r,k] · x_q[k]` exactly (codes 0..=2, padding included:
//!   its `x_q` is 0).
//! - f32, per-tensor scale `w`: `y[r] = ((dot[r] - sum(x_q)) as f32 / s) * w`.
//! - f32, per-block scales `w_b`: `acc = Σ_b w_b * ((dot_b - blocksum_b(x_q)) as f32)`
//!   accumulated in f32 in ascending `b`, then `y[r] = acc / s`.
//!
//! `s` is the activation scale (`127 / absmax`). Outputs: GEMV writes `out[i]` for row
//! `rows.start + i`; GEMM writes `out[t * rows.len() + i]` (token-major: one row of
//! `rows.len()` outputs per token).

use std::ops::Range;

use crate::error::{check_len, KernelError};
use crate::quant::{ActsView, QuantizedBatch};
use crate::ternary::{PackedBlock, Scales, TernaryMatrix, BLOCK_COLS};

/// Tokens handled per pass in GEMM (stack accumulators); larger batches loop.
pub const GEMM_TILE: usize = 64;

/// Checks a row range against `w`.
pub(crate) fn check_rows(w: &TernaryMatrix, rows: &Range<usize>) -> Result<(), KernelError> {
    if rows.start <= rows.end && rows.end <= w.rows() {
        Ok(())
    } else {
        Err(KernelError::BadRows { start: rows.start, end: rows.end, rows: w.rows() })
    }
}

/// Checks that activations match `w`'s columns.
pub(crate) fn check_acts(w: &TernaryMatrix, k: usize, padded: usize) -> Result<(), KernelError> {
    check_len("activation length (K)", w.cols(), k)?;
    check_len("padded activation length", w.padded_cols(), padded)
}

/// `Σ code · x` over one block; `x` holds the block's 128 activations.
#[inline]
pub fn block_dot(block: &PackedBlock, x: &[i8]) -> i32 {
    let x = &x[..BLOCK_COLS];
    let mut acc = 0i32;
    for (j, &b) in block.0.iter().enumerate() {
        acc += ((b >> 6) & 3) as i32 * x[j] as i32
            + ((b >> 4) & 3) as i32 * x[j + 32] as i32
            + ((b >> 2) & 3) as i32 * x[j + 64] as i32
            + (b & 3) as i32 * x[j + 96] as i32;
    }
    acc
}

/// One row's output for one token.
#[inline]
fn row_f32(w: &TernaryMatrix, r: usize, x: &ActsView<'_>) -> f32 {
    let blocks = w.row_blocks(r);
    match w.scales() {
        Scales::PerTensor(ws) => {
            let dot: i32 =
                blocks.iter().zip(x.values.chunks_exact(BLOCK_COLS)).map(|(b, xb)| block_dot(b, xb)).sum();
            ((dot - x.sum) as f32 / x.scale) * ws
        }
        Scales::PerBlock(_) => {
            let mut acc = 0.0f32;
            for (b, (block, xb)) in blocks.iter().zip(x.values.chunks_exact(BLOCK_COLS)).enumerate() {
                acc += w.block_scale(r, b) * ((block_dot(block, xb) - x.block_sums[b]) as f32);
            }
            acc / x.scale
        }
    }
}

/// Integer GEMV: `out[i] = Σ_k code[rows.start + i, k] · x_q[k]`.
///
/// Errors: `rows` outside the matrix, `x.k != w.cols()`, `out.len() != rows.len()`.
pub fn gemv_i32(
    w: &TernaryMatrix,
    x: ActsView<'_>,
    rows: Range<usize>,
    out: &mut [i32],
) -> Result<(), KernelError> {
    check_rows(w, &rows)?;
    check_acts(w, x.k, x.values.len())?;
    check_len("gemv output", rows.len(), out.len())?;
    for (o, r) in out.iter_mut().zip(rows) {
        *o = w
            .row_blocks(r)
            .iter()
            .zip(x.values.chunks_exact(BLOCK_COLS))
            .map(|(b, xb)| block_dot(b, xb))
            .sum();
    }
    Ok(())
}

/// f32 GEMV (formula in the module docs).
///
/// Errors: as [`gemv_i32`].
pub fn gemv(
    w: &TernaryMatrix,
    x: ActsView<'_>,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    check_rows(w, &rows)?;
    check_acts(w, x.k, x.values.len())?;
    check_len("gemv output", rows.len(), out.len())?;
    for (o, r) in out.iter_mut().zip(rows) {
        *o = row_f32(w, r, &x);
    }
    Ok(())
}

pub(crate) fn check_gemm(
    w: &TernaryMatrix,
    xs: &QuantizedBatch,
    rows: &Range<usize>,
    out_len: usize,
) -> Result<(), KernelError> {
    check_rows(w, rows)?;
    check_len("activation length (K)", w.cols(), xs.k())?;
    check_len("gemm output (tokens x rows)", xs.n_tokens() * rows.len(), out_len)
}

/// Integer GEMM: `out[t * rows.len() + i] = Σ_k code[rows.start + i, k] · x_q[t][k]`.
///
/// Errors: `rows` outside the matrix, `xs.k() != w.cols()`,
/// `out.len() != xs.n_tokens() * rows.len()`.
pub fn gemm_i32(
    w: &TernaryMatrix,
    xs: &QuantizedBatch,
    rows: Range<usize>,
    out: &mut [i32],
) -> Result<(), KernelError> {
    check_gemm(w, xs, &rows, out.len())?;
    let (n, nr) = (xs.n_tokens(), rows.len());
    let mut acc = [0i32; GEMM_TILE];
    for t0 in (0..n).step_by(GEMM_TILE) {
        let tn = (n - t0).min(GEMM_TILE);
        for (i, r) in rows.clone().enumerate() {
            acc[..tn].fill(0);
            for (b, block) in w.row_blocks(r).iter().enumerate() {
                for (t, a) in acc[..tn].iter_mut().enumerate() {
                    *a += block_dot(block, &xs.token(t0 + t).values[b * BLOCK_COLS..]);
                }
            }
            for (t, a) in acc[..tn].iter().enumerate() {
                out[(t0 + t) * nr + i] = *a;
            }
        }
    }
    Ok(())
}

/// f32 GEMM (formula in the module docs); output token-major as in [`gemm_i32`].
///
/// Errors: as [`gemm_i32`].
pub fn gemm(
    w: &TernaryMatrix,
    xs: &QuantizedBatch,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    check_gemm(w, xs, &rows, out.len())?;
    let (n, nr) = (xs.n_tokens(), rows.len());
    for t0 in (0..n).step_by(GEMM_TILE) {
        let tn = (n - t0).min(GEMM_TILE);
        for (i, r) in rows.clone().enumerate() {
            match w.scales() {
                Scales::PerTensor(ws) => {
                    let mut acc = [0i32; GEMM_TILE];
                    for (b, block) in w.row_blocks(r).iter().enumerate() {
                        for (t, a) in acc[..tn].iter_mut().enumerate() {
                            *a += block_dot(block, &xs.token(t0 + t).values[b * BLOCK_COLS..]);
                        }
                    }
                    for (t, a) in acc[..tn].iter().enumerate() {
                        let x = xs.token(t0 + t);
                        out[(t0 + t) * nr + i] = ((a - x.sum) as f32 / x.scale) * ws;
                    }
                }
                Scales::PerBlock(_) => {
                    let mut acc = [0f32; GEMM_TILE];
                    for (b, block) in w.row_blocks(r).iter().enumerate() {
                        let ws = w.block_scale(r, b);
                        for (t, a) in acc[..tn].iter_mut().enumerate() {
                            let x = xs.token(t0 + t);
                            *a += ws
                                * ((block_dot(block, &x.values[b * BLOCK_COLS..]) - x.block_sums[b]) as f32);
                        }
                    }
                    for (t, a) in acc[..tn].iter().enumerate() {
                        out[(t0 + t) * nr + i] = a / xs.token(t0 + t).scale;
                    }
                }
            }
        }
    }
    Ok(())
}
