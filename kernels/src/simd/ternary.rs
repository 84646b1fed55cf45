//! The ternary GEMV / GEMM driver that every SIMD path shares (x86-64 AVX2 and AVX-512
//! VNNI, aarch64 NEON with and without `sdot`).
//!
//! It validates arguments exactly as the scalar path does, cuts the work into tiles of
//! `R` rows × `T` tokens and hands each tile to the path's [`Tile`] kernel, which walks
//! the tile's blocks once: every 32-byte weight block loaded is decoded once and used for
//! all `T` tokens of the tile, every activation vector loaded is used for all `R` rows.
//! Ragged tiles (the last rows or tokens of a range) repeat their last row / token; the
//! repeated results are computed and dropped, so the kernels never need a second,
//! narrower code path.
//!
//! # Results
//!
//! - Integer (`*_i32`): exact, the same integers as [`crate::scalar::ternary`].
//! - f32, per-tensor scale: from the exact integer dot, with the scalar path's formula
//!   `((dot - sum) as f32 / s) * w`: bit-identical to the scalar path.
//! - f32, per-block scales: the tile kernels compute each block's exact integer dot and
//!   accumulate `acc += w_b * ((dot_b - blocksum_b) as f32)` in ascending `b`, one f32
//!   lane per (row, token), with separate multiply and add (no FMA, which would round
//!   once instead of twice); then `acc / s`. Same operations in the same order as the
//!   scalar path: bit-identical.

use std::ops::Range;

use crate::error::{check_len, KernelError};
use crate::quant::{ActsView, QuantizedBatch};
use crate::scalar::ternary::{check_acts, check_gemm, check_rows};
use crate::ternary::{PackedBlock, Scales, TernaryMatrix};

/// Rows per GEMV tile (one token).
pub(crate) const GEMV_ROWS: usize = 4;
/// Rows per GEMM tile: each activation vector loaded feeds this many rows (2 × 4 keeps
/// the AVX2 tile's accumulators in registers; 3 × 4 and 4 × 2 measured slower).
pub(crate) const GEMM_ROWS: usize = 2;
/// Tokens per GEMM tile: each weight block loaded is reused for this many tokens.
pub(crate) const GEMM_TOKENS: usize = 4;

/// A path's tile kernels. `rows[i]` points at the first block (of `bpr`) of a weight
/// row, `xs[j]` at the first of `128 × bpr` int8 activations of a token.
///
/// # Safety (for callers of both methods)
///
/// The CPU supports the implementing path's target features; every `rows[i]` is valid
/// for reads of `bpr` [`PackedBlock`]s, every `xs[j]` for `128 × bpr` bytes, and (for
/// [`Tile::scaled`]) every `scales[i]` for `bpr` `f32`s and every `bsums[j]` for `bpr`
/// `i32`s.
pub(crate) trait Tile {
    /// `out[i][j] = Σ_k code[row i, k] · x_j[k]`, exact.
    unsafe fn dots<const R: usize, const T: usize>(
        rows: &[*const PackedBlock; R],
        xs: &[*const i8; T],
        bpr: usize,
    ) -> [[i32; T]; R];

    /// `R × T == 4`. Lane `i · T + j` (row `i`, token `j`) of the result is
    /// `Σ_b scales[i][b] · ((dot_b - bsums[j][b]) as f32)`, accumulated in f32 in
    /// ascending `b` with separate multiply and add (the scalar path's order).
    unsafe fn scaled<const R: usize, const T: usize>(
        rows: &[*const PackedBlock; R],
        xs: &[*const i8; T],
        bpr: usize,
        scales: &[*const f32; R],
        bsums: &[*const i32; T],
    ) -> [f32; 4];
}

/// Pointers to rows `r0 .. r0 + n` (`1 ≤ n ≤ R`), the last repeated to fill `R`.
fn row_ptrs<const R: usize>(w: &TernaryMatrix, r0: usize, n: usize) -> [*const PackedBlock; R] {
    std::array::from_fn(|i| w.row_blocks(r0 + i.min(n - 1)).as_ptr())
}

/// Per-block scale pointers of rows `r0 .. r0 + n`, the last repeated.
fn scale_ptrs<const R: usize>(v: &[f32], bpr: usize, r0: usize, n: usize) -> [*const f32; R] {
    std::array::from_fn(|i| v[(r0 + i.min(n - 1)) * bpr..].as_ptr())
}

/// Token views `t0 .. t0 + n` (`1 ≤ n ≤ T`), the last repeated.
fn tokens<const T: usize>(xs: &QuantizedBatch, t0: usize, n: usize) -> [ActsView<'_>; T] {
    std::array::from_fn(|j| xs.token(t0 + j.min(n - 1)))
}

/// Per-block scaled sums need `bpr` block sums per token; the scalar path indexes them
/// and panics when they are missing, and so does this one.
fn check_block_sums(x: &ActsView<'_>, bpr: usize) {
    assert!(x.block_sums.len() >= bpr, "activation block sums: {} < {bpr} blocks", x.block_sums.len());
}

/// Integer GEMV on path `K`.
///
/// # Safety
///
/// The CPU supports `K`'s target features.
pub(crate) unsafe fn gemv_i32<K: Tile>(
    w: &TernaryMatrix,
    x: ActsView<'_>,
    rows: Range<usize>,
    out: &mut [i32],
) -> Result<(), KernelError> {
    check_rows(w, &rows)?;
    check_acts(w, x.k, x.values.len())?;
    check_len("gemv output", rows.len(), out.len())?;
    let bpr = w.blocks_per_row();
    for (g, chunk) in out.chunks_mut(GEMV_ROWS).enumerate() {
        let rp = row_ptrs::<GEMV_ROWS>(w, rows.start + g * GEMV_ROWS, chunk.len());
        // SAFETY: the caller guarantees the CPU features; the rows are in the matrix
        // (checked range) and hold `bpr` blocks each; `x.values` holds `128 · bpr`
        // values (`check_acts`).
        let d = unsafe { K::dots::<GEMV_ROWS, 1>(&rp, &[x.values.as_ptr()], bpr) };
        for (o, d) in chunk.iter_mut().zip(d) {
            *o = d[0];
        }
    }
    Ok(())
}

/// f32 GEMV on path `K`.
///
/// # Safety
///
/// The CPU supports `K`'s target features.
pub(crate) unsafe fn gemv<K: Tile>(
    w: &TernaryMatrix,
    x: ActsView<'_>,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    check_rows(w, &rows)?;
    check_acts(w, x.k, x.values.len())?;
    check_len("gemv output", rows.len(), out.len())?;
    let bpr = w.blocks_per_row();
    for (g, chunk) in out.chunks_mut(GEMV_ROWS).enumerate() {
        let r0 = rows.start + g * GEMV_ROWS;
        let rp = row_ptrs::<GEMV_ROWS>(w, r0, chunk.len());
        match w.scales() {
            Scales::PerTensor(ws) => {
                // SAFETY: as in `gemv_i32`.
                let d = unsafe { K::dots::<GEMV_ROWS, 1>(&rp, &[x.values.as_ptr()], bpr) };
                for (o, d) in chunk.iter_mut().zip(d) {
                    *o = ((d[0] - x.sum) as f32 / x.scale) * ws;
                }
            }
            Scales::PerBlock(v) => {
                check_block_sums(&x, bpr);
                let sp = scale_ptrs::<GEMV_ROWS>(v, bpr, r0, chunk.len());
                // SAFETY: as in `gemv_i32`; each row's scales are `bpr` consecutive
                // entries of `v` (validated length `rows · bpr`), `x.block_sums` holds
                // at least `bpr` (checked above).
                let acc = unsafe {
                    K::scaled::<GEMV_ROWS, 1>(&rp, &[x.values.as_ptr()], bpr, &sp, &[x.block_sums.as_ptr()])
                };
                for (o, a) in chunk.iter_mut().zip(acc) {
                    *o = a / x.scale;
                }
            }
        }
    }
    Ok(())
}

/// The exact dots of every (row, token) of a GEMM, tile by tile: `emit(t, i, dot)` for
/// token `t` and row `rows.start + i`. Full tiles of [`GEMM_TOKENS`] tokens, then the
/// ragged rest with the narrowest tile (4, 2, 1 tokens) that fits, so a short batch
/// does not pay for repeated tokens.
///
/// # Safety
///
/// The CPU supports `K`'s target features; `rows` is inside `w` and `xs.k() == w.cols()`
/// (both checked by the callers).
unsafe fn gemm_dots<K: Tile>(
    w: &TernaryMatrix,
    xs: &QuantizedBatch,
    rows: Range<usize>,
    mut emit: impl FnMut(usize, usize, i32),
) {
    let (n, nr) = (xs.n_tokens(), rows.len());
    for i0 in (0..nr).step_by(GEMM_ROWS) {
        let rn = (nr - i0).min(GEMM_ROWS);
        let rp = row_ptrs::<GEMM_ROWS>(w, rows.start + i0, rn);
        let mut t0 = 0;
        while t0 < n {
            let left = n - t0;
            // SAFETY: the caller's contract, passed on.
            t0 += unsafe {
                if left >= GEMM_TOKENS {
                    gemm_tile::<K, GEMM_TOKENS>(w, xs, &rp, rn, i0, t0, &mut emit)
                } else if left >= 4 {
                    gemm_tile::<K, 4>(w, xs, &rp, rn, i0, t0, &mut emit)
                } else if left >= 2 {
                    gemm_tile::<K, 2>(w, xs, &rp, rn, i0, t0, &mut emit)
                } else {
                    gemm_tile::<K, 1>(w, xs, &rp, rn, i0, t0, &mut emit)
                }
            };
        }
    }
}

/// One GEMM tile: rows `rp` (the first `rn` real) × tokens `t0 ..` (at most `T`);
/// returns the tokens done.
///
/// # Safety
///
/// As [`gemm_dots`].
unsafe fn gemm_tile<K: Tile, const T: usize>(
    w: &TernaryMatrix,
    xs: &QuantizedBatch,
    rp: &[*const PackedBlock; GEMM_ROWS],
    rn: usize,
    i0: usize,
    t0: usize,
    emit: &mut impl FnMut(usize, usize, i32),
) -> usize {
    let tn = (xs.n_tokens() - t0).min(T);
    let xv = tokens::<T>(xs, t0, tn);
    // SAFETY: the caller guarantees the CPU features and that the rows are in the
    // matrix (`bpr` blocks each); `xs.k() == w.cols()`, so every token holds
    // `128 · bpr` values.
    let d = unsafe { K::dots::<GEMM_ROWS, T>(rp, &xv.map(|x| x.values.as_ptr()), w.blocks_per_row()) };
    for (i, d) in d.iter().enumerate().take(rn) {
        for (j, d) in d.iter().enumerate().take(tn) {
            emit(t0 + j, i0 + i, *d);
        }
    }
    tn
}

/// Integer GEMM on path `K` (token-major output, as the scalar path).
///
/// # Safety
///
/// The CPU supports `K`'s target features.
pub(crate) unsafe fn gemm_i32<K: Tile>(
    w: &TernaryMatrix,
    xs: &QuantizedBatch,
    rows: Range<usize>,
    out: &mut [i32],
) -> Result<(), KernelError> {
    check_gemm(w, xs, &rows, out.len())?;
    if xs.n_tokens() == 1 {
        // One token: the GEMV tiles (4 rows share the activations) fit better.
        // SAFETY: the caller's contract.
        return unsafe { gemv_i32::<K>(w, xs.token(0), rows, out) };
    }
    let nr = rows.len();
    // SAFETY: the caller guarantees the features; shapes checked above.
    unsafe { gemm_dots::<K>(w, xs, rows, |t, i, d| out[t * nr + i] = d) };
    Ok(())
}

/// f32 GEMM on path `K` (token-major output, as the scalar path).
///
/// # Safety
///
/// The CPU supports `K`'s target features.
pub(crate) unsafe fn gemm<K: Tile>(
    w: &TernaryMatrix,
    xs: &QuantizedBatch,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    check_gemm(w, xs, &rows, out.len())?;
    if xs.n_tokens() == 1 {
        // As in `gemm_i32`; the GEMV path gives the same bits (same formula and order).
        // SAFETY: the caller's contract.
        return unsafe { gemv::<K>(w, xs.token(0), rows, out) };
    }
    let (n, nr, bpr) = (xs.n_tokens(), rows.len(), w.blocks_per_row());
    match w.scales() {
        Scales::PerTensor(ws) => {
            // SAFETY: the caller guarantees the features; shapes checked above.
            unsafe {
                gemm_dots::<K>(w, xs, rows, |t, i, d| {
                    let x = xs.token(t);
                    out[t * nr + i] = ((d - x.sum) as f32 / x.scale) * ws;
                })
            };
        }
        Scales::PerBlock(v) => {
            // One row × 4 tokens per tile: the four f32 lanes are the four tokens.
            for (i, r) in rows.clone().enumerate() {
                let rp = [w.row_blocks(r).as_ptr()];
                let sp = [v[r * bpr..].as_ptr()];
                for t0 in (0..n).step_by(4) {
                    let tn = (n - t0).min(4);
                    let xv = tokens::<4>(xs, t0, tn);
                    xv.iter().for_each(|x| check_block_sums(x, bpr));
                    // SAFETY: as in `gemm_i32`; row `r`'s scales are `bpr` consecutive
                    // entries of `v`; every token's block sums hold `bpr` entries.
                    let acc = unsafe {
                        K::scaled::<1, 4>(
                            &rp,
                            &xv.map(|x| x.values.as_ptr()),
                            bpr,
                            &sp,
                            &xv.map(|x| x.block_sums.as_ptr()),
                        )
                    };
                    for (j, (a, x)) in acc.iter().zip(&xv).enumerate().take(tn) {
                        out[(t0 + j) * nr + i] = a / x.scale;
                    }
                }
            }
        }
    }
    Ok(())
}
