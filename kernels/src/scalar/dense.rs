//! Scalar GEMV / GEMM for [`DenseMatrix`] (output head, any dense format) with **f32
//! activations**: each 256-value chunk of a row is dequantized exactly as ggml's
//! `dequantize_row_*` would, then dotted with `x` in f32 (sequential sum per chunk,
//! chunks added in order). This matches "dequantize then f32 matmul", not ggml's
//! quantized-activation dot (`vec_dot_q6_K_q8_K`), which rounds activations to 8 bits.
//! The dispatched [`crate::Kernels::dense_gemv`] / [`crate::Kernels::dense_gemm`] follow
//! this definition for every format except `Q8_0` and `Q4_0`, whose products take
//! `Q8_0`-block activations ([`crate::scalar::dense_q8`]).
//!
//! Output layout as the ternary kernels: GEMV `out[i]` = row `rows.start + i`; GEMM
//! `out[t * rows.len() + i]` for token `t` (inputs `xs` token-major, `n × cols`).

use std::ops::Range;

use crate::dense::{DenseMatrix, CHUNK};
use crate::error::{check_len, KernelError};

/// Tokens handled per pass in [`gemm`].
pub const GEMM_TILE: usize = 64;

pub(crate) fn check_rows(w: &DenseMatrix, rows: &Range<usize>) -> Result<(), KernelError> {
    if rows.start <= rows.end && rows.end <= w.rows() {
        Ok(())
    } else {
        Err(KernelError::BadRows { start: rows.start, end: rows.end, rows: w.rows() })
    }
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |s, (x, y)| s + x * y)
}

/// `out[i] = Σ_k W[rows.start + i, k] · x[k]`.
///
/// Errors: `rows` outside the matrix, `x.len() != cols`, `out.len() != rows.len()`.
pub fn gemv(w: &DenseMatrix, x: &[f32], rows: Range<usize>, out: &mut [f32]) -> Result<(), KernelError> {
    check_rows(w, &rows)?;
    check_len("dense activations", w.cols(), x.len())?;
    check_len("dense gemv output", rows.len(), out.len())?;
    let mut buf = [0f32; CHUNK];
    for (o, r) in out.iter_mut().zip(rows) {
        let mut acc = 0.0f32;
        for (c, xc) in x.chunks(CHUNK).enumerate() {
            let wc = &mut buf[..xc.len()];
            w.dequantize_chunk(r, c, wc);
            acc += dot(wc, xc);
        }
        *o = acc;
    }
    Ok(())
}

/// `out[t * rows.len() + i] = Σ_k W[rows.start + i, k] · xs[t * cols + k]` for the
/// `xs.len() / cols` tokens.
///
/// Errors: `rows` outside the matrix, `xs.len()` not a multiple of `cols`,
/// `out.len() != n_tokens * rows.len()`.
pub fn gemm(w: &DenseMatrix, xs: &[f32], rows: Range<usize>, out: &mut [f32]) -> Result<(), KernelError> {
    check_rows(w, &rows)?;
    let k = w.cols();
    let n = xs.len().checked_div(k).unwrap_or(0);
    check_len("dense activations (tokens x cols)", n * k, xs.len())?;
    let nr = rows.len();
    check_len("dense gemm output (tokens x rows)", n * nr, out.len())?;
    let mut buf = [0f32; CHUNK];
    let mut acc = [0f32; GEMM_TILE];
    for t0 in (0..n).step_by(GEMM_TILE) {
        let tn = (n - t0).min(GEMM_TILE);
        for (i, r) in rows.clone().enumerate() {
            acc[..tn].fill(0.0);
            for c in 0..k.div_ceil(CHUNK) {
                let len = (k - c * CHUNK).min(CHUNK);
                let wc = &mut buf[..len];
                w.dequantize_chunk(r, c, wc);
                for (t, a) in acc[..tn].iter_mut().enumerate() {
                    let x0 = (t0 + t) * k + c * CHUNK;
                    *a += dot(wc, &xs[x0..x0 + len]);
                }
            }
            for (t, a) in acc[..tn].iter().enumerate() {
                out[(t0 + t) * nr + i] = *a;
            }
        }
    }
    Ok(())
}
