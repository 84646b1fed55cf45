//! The `Q8_0` / `Q4_0` / `Q6_K` output-head GEMV / GEMM driver that every SIMD path
//! shares (x86-64 AVX2, aarch64 NEON with and without `sdot`), with **`Q8_0`-block
//! activations** ([`Q8Acts`]). A path supplies a [`HeadTile`] per weight format: two
//! kernels that each reduce every 32-value activation block `b` to its exact integer
//! dot `isum_b` and run the reference's f32 step `acc = fma(isum_b, d_w,b · d_x,b, acc)`
//! in ascending `b`, one f32 lane per (row, token), so the results are
//! [`crate::scalar::dense_q8`]'s bit for bit, whatever the path, the batch size, the
//! tiling or the split of rows across threads.
//!
//! The driver only hands a tile row pointers and the number of **activation blocks**
//! (32 values each); how a row's bytes are laid out is the tile's business. A `Q8_0` /
//! `Q4_0` tile steps one weight block per activation block; a `Q6_K` tile walks
//! super-blocks of 256 values (8 activation blocks; `Q6_K` rows are a multiple of 256
//! values long, so `blocks` is a multiple of 8) and still runs one f32 step per
//! activation block.
//!
//! - **Rows as lanes** ([`HeadTile::rows`]; GEMV, and GEMM tails of fewer than
//!   [`GROUP_MIN`] tokens): one token against [`ROWS`] rows.
//! - **Tokens as lanes** ([`HeadTile::group`]; GEMM, groups of at least [`GROUP_MIN`]
//!   real tokens): one row against the 8 tokens of an interleaved group of the
//!   activations (see [`Q8Acts`]).
//!
//! GEMM loop order: rows in chunks of about [`CHUNK_BYTES`] of weights (L2 resident), then
//! token tiles (groups of 8 tokens, or single tokens), then the chunk's rows: a chunk is
//! streamed from memory once and re-read from L2 for every further tile, while a tile's
//! activations (20 KiB for 8 tokens of 2560) stay in L1.

use std::ops::Range;

use crate::dense::DenseMatrix;
use crate::error::{check_len, KernelError};
use crate::quant_q8::{Q8Acts, GROUP, GROUP_MIN};
use crate::scalar::dense_q8::check;

/// Rows per pass of the rows-as-lanes kernel.
pub(crate) const ROWS: usize = 4;

/// Weight bytes per GEMM row chunk: well inside a 512 KiB L2, with room for the
/// activations.
const CHUNK_BYTES: usize = 128 << 10;

/// A path's kernels for one weight format (`Q8_0`, `Q4_0` or `Q6_K`). `codes`, `scales`
/// and `bsums8` are a token's ([`Q8Acts::codes`], [`Q8Acts::scales`], `Q8Acts::bsums8`)
/// or a group's (`Q8Acts::group`) arrays; `blocks` counts 32-value activation blocks
/// (`cols / 32`). Tiles that do not need `bsums8` (formats with signed codes) ignore it.
///
/// # Safety (for callers of both methods)
///
/// The CPU supports the implementing path's target features; every row pointer is
/// valid for reads of one row of `32 · blocks` values in the implementing format, and
/// `32 · blocks` is a multiple of that format's block size.
pub(crate) trait HeadTile {
    /// One token against [`ROWS`] rows: lane `r` is row `r`'s
    /// `Σ_b isum_b · d_w,b · d_x,b`, fused, in ascending `b`. `codes` is valid for
    /// `32 · blocks` codes in `-127..=127`, `scales` and `bsums8` for `blocks` elements.
    unsafe fn rows(
        rows: [*const u8; ROWS],
        codes: *const i8,
        scales: *const f32,
        bsums8: *const i32,
        blocks: usize,
    ) -> [f32; ROWS];

    /// One row against the 8 tokens of an interleaved group: lane `l` is token `l`'s sum,
    /// as in [`HeadTile::rows`]. `codes` is valid for `256 · blocks` codes in
    /// `-127..=127`, `scales` and `bsums8` for `8 · blocks` elements.
    unsafe fn group(
        row: *const u8,
        codes: *const i8,
        scales: *const f32,
        bsums8: *const i32,
        blocks: usize,
    ) -> [f32; GROUP];
}

/// Same contract as [`crate::scalar::dense_q8::gemv`], and the same bits.
///
/// # Safety
/// The CPU supports `K`'s features, and `K` is a kernel for `w`'s format.
pub(crate) unsafe fn gemv<K: HeadTile>(
    w: &DenseMatrix,
    x: &Q8Acts,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    check_len("Q8 activations (tokens) for a GEMV", 1, x.n_tokens())?;
    check(w, x, &rows, out.len())?;
    let n = rows.len();
    // SAFETY: the caller's contract; shapes checked above.
    unsafe { token_tile::<K>(w, x, &rows, 0..n, 0, 0, out) };
    Ok(())
}

/// Same contract as [`crate::scalar::dense_q8::gemm`], and the same bits.
///
/// # Safety
/// The CPU supports `K`'s features, and `K` is a kernel for `w`'s format.
pub(crate) unsafe fn gemm<K: HeadTile>(
    w: &DenseMatrix,
    xs: &Q8Acts,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    check(w, xs, &rows, out.len())?;
    let (n, nr) = (xs.n_tokens(), rows.len());
    if n == 0 || nr == 0 {
        return Ok(());
    }
    let chunk = (CHUNK_BYTES / w.row_bytes(rows.start).len().max(1)).max(ROWS);
    for c0 in (0..nr).step_by(chunk) {
        let part = c0..(c0 + chunk).min(nr);
        let mut t = 0;
        while t < n {
            // SAFETY: the caller's contract, shapes checked above; groups exist when
            // `n >= GROUP_MIN`, and `t` stays a multiple of `GROUP` while they are used.
            t += unsafe {
                if xs.groups() > 0 && n - t >= GROUP_MIN {
                    group_tile::<K>(w, xs, &rows, part.clone(), t / GROUP, out)
                } else {
                    token_tile::<K>(w, xs, &rows, part.clone(), t, t * nr, out)
                }
            };
        }
    }
    Ok(())
}

/// Token `t` against rows `rows.start + i` for `i` in `part`, [`ROWS`] rows at a time
/// (the last pass repeats its last row and drops the copies); writes row `i` to
/// `out[o0 + i]`. Returns 1 (tokens done).
///
/// # Safety
/// As [`gemm`], with `rows` inside the matrix, `xs.cols() == w.cols()`, `t <
/// xs.n_tokens()`, `part` inside `0..rows.len()`, `o0 + part.end <= out.len()`.
unsafe fn token_tile<K: HeadTile>(
    w: &DenseMatrix,
    xs: &Q8Acts,
    rows: &Range<usize>,
    part: Range<usize>,
    t: usize,
    o0: usize,
    out: &mut [f32],
) -> usize {
    let blocks = xs.blocks_per_token();
    let (codes, scales, bsums8) = (xs.codes(t), xs.scales(t), xs.bsums8(t));
    for i0 in part.clone().step_by(ROWS) {
        let real = (part.end - i0).min(ROWS);
        let rp: [*const u8; ROWS] =
            std::array::from_fn(|r| w.row_bytes(rows.start + i0 + r.min(real - 1)).as_ptr());
        // SAFETY: the caller's contract: the features and format; every row holds
        // `32 · blocks` values (`w.cols()`, checked equal to `xs.cols()`); the token
        // holds `32 · blocks` codes (in range: a `Q8Acts` invariant) and `blocks` scales
        // and offsets.
        let v = unsafe { K::rows(rp, codes.as_ptr(), scales.as_ptr(), bsums8.as_ptr(), blocks) };
        out[o0 + i0..o0 + i0 + real].copy_from_slice(&v[..real]);
    }
    1
}

/// Interleaved group `g` (tokens `8g ..`, at most 8 real) against rows
/// `rows.start + i` for `i` in `part`; returns the real tokens done.
///
/// # Safety
/// As [`token_tile`], with `g < xs.groups()` instead of `t`.
unsafe fn group_tile<K: HeadTile>(
    w: &DenseMatrix,
    xs: &Q8Acts,
    rows: &Range<usize>,
    part: Range<usize>,
    g: usize,
    out: &mut [f32],
) -> usize {
    let (nr, blocks) = (rows.len(), xs.blocks_per_token());
    let t0 = g * GROUP;
    let real = (xs.n_tokens() - t0).min(GROUP);
    let (codes, scales, bsums8) = xs.group(g);
    for i in part {
        let row = w.row_bytes(rows.start + i).as_ptr();
        // SAFETY: the caller's contract: the features and format, `32 · blocks` values in
        // the row; the group holds `256 · blocks` codes and `8 · blocks` scales and offsets.
        let v = unsafe { K::group(row, codes.as_ptr(), scales.as_ptr(), bsums8.as_ptr(), blocks) };
        for (j, v) in v.into_iter().take(real).enumerate() {
            out[(t0 + j) * nr + i] = v;
        }
    }
    real
}
