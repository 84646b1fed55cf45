//! The x86-64 SIMD paths: AVX2 ([`avx2`]) and AVX-512 VNNI ([`vnni`]).
//!
//! Both paths share this driver. It validates arguments exactly as the scalar path does,
//! cuts the work into tiles of `R` rows × `T` tokens and hands each tile to the
//! path's [`Tile`] kernel, which walks the tile's blocks once: every 32-byte weight block
//! loaded is decoded once and used for all `T` tokens of the tile, every activation
//! vector loaded is used for all `R` rows. Ragged tiles (the last rows or tokens of a
//! range) repeat their last row / token; the repeated results are computed and dropped,
//! so the kernels never need a second, narrower code path.
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

pub(crate) mod avx2;
pub(crate) mod dense_f16;
pub(crate) mod dense_q8;
pub(crate) mod vnni;

use std::arch::x86_64::*;
use std::ops::Range;

use crate::error::{check_len, KernelError};
use crate::quant::{ActsView, QuantizedBatch};
use crate::scalar::ternary::{check_acts, check_gemm, check_rows};
use crate::ternary::{PackedBlock, Scales, TernaryMatrix};

/// Rows per GEMV tile (one token).
pub(crate) const GEMV_ROWS: usize = 4;
/// Rows per GEMM tile: each activation vector loaded feeds this many rows.
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

// ---- shared AVX2 helpers (also used by the VNNI path, whose CPUs all have AVX2) ----

/// The four 32-lane code vectors of one block: columns `0..32`, `32..64`, `64..96`,
/// `96..128` of the block (see [`crate::ternary`]). 16-bit shifts are fine: the mask
/// drops the bits shifted in from the neighbouring byte.
#[target_feature(enable = "avx2")]
#[inline]
fn decode(v: __m256i) -> [__m256i; 4] {
    let m = _mm256_set1_epi8(3);
    [
        _mm256_and_si256(_mm256_srli_epi16::<6>(v), m),
        _mm256_and_si256(_mm256_srli_epi16::<4>(v), m),
        _mm256_and_si256(_mm256_srli_epi16::<2>(v), m),
        _mm256_and_si256(v, m),
    ]
}

/// Loads block `b` of the row at `row` and decodes it.
///
/// # Safety
///
/// `row` is valid for reads of `b + 1` blocks.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_codes(row: *const PackedBlock, b: usize) -> [__m256i; 4] {
    // SAFETY: the caller's contract.
    decode(unsafe { load_block(row, b) })
}

/// The raw 32 bytes of block `b` of the row at `row`.
///
/// # Safety
///
/// `row` is valid for reads of `b + 1` blocks.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_block(row: *const PackedBlock, b: usize) -> __m256i {
    // SAFETY: in bounds by the caller's contract; `PackedBlock` is 32 bytes and
    // 32-byte aligned, as the aligned load requires.
    unsafe { _mm256_load_si256(row.add(b).cast::<__m256i>()) }
}

/// One code vector of a raw block: `SHIFT` 6, 4, 2, 0 give columns `0..32`, `32..64`,
/// `64..96`, `96..128` (as [`decode`]).
#[target_feature(enable = "avx2")]
#[inline]
fn code_q<const SHIFT: i32>(v: __m256i) -> __m256i {
    _mm256_and_si256(_mm256_srli_epi16::<SHIFT>(v), _mm256_set1_epi8(3))
}

/// The 32 activations of quarter `q` (columns `32q .. 32q + 32`) of block `b`.
///
/// # Safety
///
/// `x` is valid for reads of `128 · (b + 1)` bytes and `q < 4`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_act_quarter(x: *const i8, b: usize, q: usize) -> __m256i {
    // SAFETY: in bounds by the caller's contract; unaligned load.
    unsafe { _mm256_loadu_si256(x.add(b * 128 + q * 32).cast::<__m256i>()) }
}

/// Loads the 4 × 32 activations of block `b` of the token at `x`.
///
/// # Safety
///
/// `x` is valid for reads of `128 · (b + 1)` bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_acts(x: *const i8, b: usize) -> [__m256i; 4] {
    // SAFETY: in bounds by the caller's contract; unaligned loads.
    unsafe {
        let p = x.add(b * 128).cast::<__m256i>();
        [
            _mm256_loadu_si256(p),
            _mm256_loadu_si256(p.add(1)),
            _mm256_loadu_si256(p.add(2)),
            _mm256_loadu_si256(p.add(3)),
        ]
    }
}

/// Blocks ahead (in units of the tile's own size) that the tile kernels prefetch.
const PREFETCH_TILES: usize = 1;

/// Prefetches the weights that the tile after this one reads at the step where this
/// one reads block `b`: consecutive rows are consecutive in memory, so the next tile of
/// `R` rows starts `R · bpr` blocks after `row0`, and each step covers `R` blocks.
/// Only a hint: addresses past the matrix are never dereferenced.
#[target_feature(enable = "avx2")]
#[inline]
fn prefetch_next<const R: usize>(row0: *const PackedBlock, bpr: usize, b: usize) {
    let p = row0.wrapping_add(PREFETCH_TILES * R * bpr + b * R).cast::<i8>();
    for off in (0..R * 32).step_by(64) {
        // A prefetch never faults; the address is only computed (wrapping), never read.
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off));
    }
}

/// Sum of the eight `i32` lanes (wrapping, like the exact sum for any real K).
#[target_feature(enable = "avx2")]
#[inline]
fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// `[hsum(v[0]), hsum(v[1]), hsum(v[2]), hsum(v[3])]`.
#[target_feature(enable = "avx2")]
#[inline]
fn hsum4(v: [__m256i; 4]) -> __m128i {
    // Per 128-bit lane, hadd(a, b) = [a0+a1, a2+a3, b0+b1, b2+b3]; two levels give each
    // vector's sum over that lane, then the two lanes are added.
    let a = _mm256_hadd_epi32(v[0], v[1]);
    let b = _mm256_hadd_epi32(v[2], v[3]);
    let c = _mm256_hadd_epi32(a, b);
    _mm_add_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256::<1>(c))
}

/// One f32 step of the per-block path on four lanes:
/// `acc + ws · ((dots - bsums) as f32)`, multiply and add rounded separately.
#[target_feature(enable = "avx2")]
#[inline]
fn scaled_step(acc: __m128, ws: __m128, dots: __m128i, bsums: __m128i) -> __m128 {
    _mm_add_ps(acc, _mm_mul_ps(ws, _mm_cvtepi32_ps(_mm_sub_epi32(dots, bsums))))
}

/// The per-lane scales and block sums of block `b` for a tile of `R × T == 4` lanes
/// (lane `i · T + j`: row `i`, token `j`).
///
/// # Safety
///
/// Every `scales[i]` and `bsums[j]` is valid for reads of `b + 1` elements.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn lane_params<const R: usize, const T: usize>(
    scales: &[*const f32; R],
    bsums: &[*const i32; T],
    b: usize,
) -> (__m128, __m128i) {
    // SAFETY: in bounds by the caller's contract.
    unsafe {
        let s = |l: usize| *scales[l / T].add(b);
        let m = |l: usize| *bsums[l % T].add(b);
        (_mm_setr_ps(s(0), s(1), s(2), s(3)), _mm_setr_epi32(m(0), m(1), m(2), m(3)))
    }
}
