//! `Q8_0` and `Q4_0` output-head GEMV / GEMM on the NEON paths with **`Q8_0`-block
//! activations** ([`Q8Acts`]), **bit-identical to the scalar reference**
//! ([`crate::scalar::dense_q8`]): the [`HeadTile`] kernels of the shared driver
//! ([`crate::simd::dense_q8`], which has the loop order), as the x86 ones, with each
//! path's [`Dot`] primitive (`sdot`, or its plain-NEON equivalent) for the byte products.
//!
//! - **Rows as lanes** (GEMV, and GEMM tails): one token against 4 rows. Per row and
//!   block, two [`Dot::dot4`]s of the block's 32 raw codes with the token's 32 codes
//!   give four `i32` partial sums; [`hsum4`] turns the four rows' partials into one
//!   vector of exact block dots (lane `r`: row `r`), converted and FMA'd (`fmla`, fused
//!   as the reference's `mul_add`) with the rows' `d_w · d_x`.
//! - **Tokens as lanes** (GEMM groups of 8 tokens): one row against the 8 tokens of an
//!   interleaved group (per block, 8 chunks of 4 values × 8 tokens): chunk `k` of the
//!   weight block (4 codes) is broadcast to the four `i32` lanes and meets 4 values of
//!   tokens 0..4 and of tokens 4..8 in one [`Dot::dot4`] each, so the lanes are tokens:
//!   no horizontal reduction.
//!
//! Raw codes: `Q8_0` codes as signed bytes; `Q4_0` nibbles `0..=15` (also valid `i8`),
//! the offset of the codes `nibble - 8` taken off the integer sum as `8 · Σ x`, which
//! the activations carry per block. Every [`Dot::dot4`] is exact for any bytes, so there
//! is no saturation argument to make; a block's dot is at most `32 · 128 · 127` in
//! magnitude, below 2²⁴, so its conversion to f32 is exact.
//!
//! The weight scales (f16) are converted with the same function as the reference
//! ([`crate::formats::f16_le`], exact), not with NEON (the f16 vector types are
//! unstable in Rust).
//!
//! `Q6_K` matrices take the same entry points ([`gemv`], [`gemm`]) with their own
//! tiles, [`super::dense_q6k`].

use std::arch::aarch64::*;
use std::marker::PhantomData;
use std::ops::Range;

use super::dense_q6k::Q6K;
use super::dotprod::NeonDot;
use super::neon::Neon;
use super::{hsum4, Dot};
use crate::dense::DenseMatrix;
use crate::dispatch::Path;
use crate::error::KernelError;
use crate::formats::{f16_le, q4_0, q8_0, GgmlType};
use crate::quant_q8::{Q8Acts, GROUP};
use crate::simd::dense_q8::{self, HeadTile, ROWS};

/// Whether [`gemv`] / [`gemm`] apply: a `Q8_0`, `Q4_0` or `Q6_K` matrix on a NEON path
/// (`Q6_K` runs [`super::dense_q6k`]'s tiles).
pub(crate) fn applies(path: Path, w: &DenseMatrix) -> bool {
    matches!(path, Path::Neon | Path::NeonDot)
        && matches!(w.ggml_type(), GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q6K)
}

/// A weight block format: where its 32 raw codes are.
trait Format {
    /// Bytes per 32-value block (an f16 scale, then the codes).
    const BYTES: usize;

    /// Whether the raw codes are `Q4_0` nibbles: the exact dot is then the raw dot
    /// minus `8 · Σ x`.
    const NIBBLES: bool;

    /// The raw codes of the block at `p`: values `0..16` and `16..32`.
    ///
    /// # Safety
    /// `p` is valid for reads of `BYTES` bytes.
    unsafe fn raw(p: *const u8) -> [int8x16_t; 2];
}

/// `Q8_0`: f16 `d`, 32 × i8.
struct Q8;

impl Format for Q8 {
    const BYTES: usize = q8_0::BLOCK_BYTES;
    const NIBBLES: bool = false;

    #[target_feature(enable = "neon")]
    #[inline]
    unsafe fn raw(p: *const u8) -> [int8x16_t; 2] {
        // SAFETY: bytes `2 .. 34` of the block are readable (caller); unaligned loads.
        unsafe { [vld1q_s8(p.add(2).cast()), vld1q_s8(p.add(18).cast())] }
    }
}

/// `Q4_0`: f16 `d`, 16 bytes of nibble pairs (low = values `0..16`, high = `16..32`);
/// code = nibble - 8.
struct Q4;

impl Format for Q4 {
    const BYTES: usize = q4_0::BLOCK_BYTES;
    const NIBBLES: bool = true;

    #[target_feature(enable = "neon")]
    #[inline]
    unsafe fn raw(p: *const u8) -> [int8x16_t; 2] {
        // SAFETY: bytes `2 .. 18` of the block are readable (caller); unaligned load.
        let b = unsafe { vld1q_u8(p.add(2)) };
        [vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F))), vreinterpretq_s8_u8(vshrq_n_u8::<4>(b))]
    }
}

/// The f16 scale at the start of the block at `p`, as f32.
///
/// # Safety
/// `p` is valid for reads of 2 bytes.
#[inline]
unsafe fn scale(p: *const u8) -> f32 {
    // SAFETY: two readable bytes (caller).
    f16_le(unsafe { std::slice::from_raw_parts(p, 2) })
}

/// 32-bit lane `l` (`0..4`) of `v` in every lane: 4 codes for every token of a group.
#[target_feature(enable = "neon")]
#[inline]
pub(super) fn splat(v: int8x16_t, l: usize) -> int8x16_t {
    let v = vreinterpretq_s32_s8(v);
    vreinterpretq_s8_s32(match l {
        0 => vdupq_laneq_s32::<0>(v),
        1 => vdupq_laneq_s32::<1>(v),
        2 => vdupq_laneq_s32::<2>(v),
        _ => vdupq_laneq_s32::<3>(v),
    })
}

/// [`HeadTile::rows`] with primitive `D` and format `F`.
///
/// # Safety
/// The CPU runs `D`; the rest is [`HeadTile::rows`]'s contract for format `F`.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn rows_dots<D: Dot, F: Format>(
    rows: [*const u8; ROWS],
    codes: *const i8,
    scales: *const f32,
    bsums8: *const i32,
    blocks: usize,
) -> [f32; ROWS] {
    let z = vdupq_n_s32(0);
    let mut acc = vdupq_n_f32(0.0);
    for b in 0..blocks {
        // SAFETY: `b < blocks`: block `b` of every row, the block's 32 codes, its scale
        // and offset are in bounds (caller's contract); unaligned loads; the CPU runs `D`.
        unsafe {
            let x = [vld1q_s8(codes.add(32 * b)), vld1q_s8(codes.add(32 * b + 16))];
            let p = rows.map(|r| r.add(b * F::BYTES));
            let part = p.map(|p| {
                let w = F::raw(p);
                D::dot4(D::dot4(z, w[0], x[0]), w[1], x[1])
            });
            let mut isum = hsum4(part);
            if F::NIBBLES {
                isum = vsubq_s32(isum, vdupq_n_s32(*bsums8.add(b)));
            }
            let dw = p.map(|p| scale(p));
            let dwx = vmulq_f32(vld1q_f32(dw.as_ptr()), vdupq_n_f32(*scales.add(b)));
            acc = vfmaq_f32(acc, vcvtq_f32_s32(isum), dwx);
        }
    }
    let mut out = [0f32; ROWS];
    // SAFETY: `out` holds 4 f32s.
    unsafe { vst1q_f32(out.as_mut_ptr(), acc) };
    out
}

/// [`HeadTile::group`] with primitive `D` and format `F`.
///
/// # Safety
/// The CPU runs `D`; the rest is [`HeadTile::group`]'s contract for format `F`.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn group_dots<D: Dot, F: Format>(
    row: *const u8,
    codes: *const i8,
    scales: *const f32,
    bsums8: *const i32,
    blocks: usize,
) -> [f32; GROUP] {
    let mut acc = [vdupq_n_f32(0.0); 2];
    for b in 0..blocks {
        // SAFETY: `b < blocks`: block `b` of the row, the block's 256 codes, 8 scales and
        // 8 offsets are in bounds (caller's contract); unaligned loads; the CPU runs `D`.
        unsafe {
            let p = row.add(b * F::BYTES);
            let w = F::raw(p);
            let x = codes.add(256 * b);
            let mut isum = [vdupq_n_s32(0); 2];
            for k in 0..8 {
                // Values `4k .. 4k + 4`: lane `k % 4` of the codes of values `0..16` or
                // `16..32`; chunk `k` of the group holds them for tokens 0..4, then 4..8.
                let wk = splat(w[k / 4], k % 4);
                isum[0] = D::dot4(isum[0], wk, vld1q_s8(x.add(32 * k)));
                isum[1] = D::dot4(isum[1], wk, vld1q_s8(x.add(32 * k + 16)));
            }
            let dw = vdupq_n_f32(scale(p));
            for (h, (acc, isum)) in acc.iter_mut().zip(isum).enumerate() {
                let isum =
                    if F::NIBBLES { vsubq_s32(isum, vld1q_s32(bsums8.add(8 * b + 4 * h))) } else { isum };
                let dwx = vmulq_f32(dw, vld1q_f32(scales.add(8 * b + 4 * h)));
                *acc = vfmaq_f32(*acc, vcvtq_f32_s32(isum), dwx);
            }
        }
    }
    let mut out = [0f32; GROUP];
    // SAFETY: `out` holds 8 f32s.
    unsafe {
        vst1q_f32(out.as_mut_ptr(), acc[0]);
        vst1q_f32(out.as_mut_ptr().add(4), acc[1]);
    }
    out
}

/// The head kernels of path `P` (`Neon` or `NeonDot`) for format `F`.
struct Head<P, F>(PhantomData<(P, F)>);

impl<F: Format> HeadTile for Head<Neon, F> {
    #[target_feature(enable = "neon")]
    unsafe fn rows(
        rows: [*const u8; ROWS],
        codes: *const i8,
        scales: *const f32,
        bsums8: *const i32,
        blocks: usize,
    ) -> [f32; ROWS] {
        // SAFETY: the trait's contract; NEON is this path's only feature.
        unsafe { rows_dots::<Neon, F>(rows, codes, scales, bsums8, blocks) }
    }

    #[target_feature(enable = "neon")]
    unsafe fn group(
        row: *const u8,
        codes: *const i8,
        scales: *const f32,
        bsums8: *const i32,
        blocks: usize,
    ) -> [f32; GROUP] {
        // SAFETY: as in `rows`.
        unsafe { group_dots::<Neon, F>(row, codes, scales, bsums8, blocks) }
    }
}

impl<F: Format> HeadTile for Head<NeonDot, F> {
    #[target_feature(enable = "neon,dotprod")]
    unsafe fn rows(
        rows: [*const u8; ROWS],
        codes: *const i8,
        scales: *const f32,
        bsums8: *const i32,
        blocks: usize,
    ) -> [f32; ROWS] {
        // SAFETY: the trait's contract; NEON and `dotprod` are this path's features.
        unsafe { rows_dots::<NeonDot, F>(rows, codes, scales, bsums8, blocks) }
    }

    #[target_feature(enable = "neon,dotprod")]
    unsafe fn group(
        row: *const u8,
        codes: *const i8,
        scales: *const f32,
        bsums8: *const i32,
        blocks: usize,
    ) -> [f32; GROUP] {
        // SAFETY: as in `rows`.
        unsafe { group_dots::<NeonDot, F>(row, codes, scales, bsums8, blocks) }
    }
}

/// Same contract as [`crate::scalar::dense_q8::gemv`], and the same bits.
///
/// # Safety
/// [`applies`] returned `true` for `path` and `w`, and this CPU supports `path`.
pub(crate) unsafe fn gemv(
    path: Path,
    w: &DenseMatrix,
    x: &Q8Acts,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    // SAFETY: the CPU supports the path's features (caller); each kernel matches `w`'s
    // format.
    unsafe {
        match (path, w.ggml_type()) {
            (Path::NeonDot, GgmlType::Q4_0) => dense_q8::gemv::<Head<NeonDot, Q4>>(w, x, rows, out),
            (Path::NeonDot, GgmlType::Q6K) => dense_q8::gemv::<Q6K<NeonDot>>(w, x, rows, out),
            (Path::NeonDot, _) => dense_q8::gemv::<Head<NeonDot, Q8>>(w, x, rows, out),
            (_, GgmlType::Q4_0) => dense_q8::gemv::<Head<Neon, Q4>>(w, x, rows, out),
            (_, GgmlType::Q6K) => dense_q8::gemv::<Q6K<Neon>>(w, x, rows, out),
            _ => dense_q8::gemv::<Head<Neon, Q8>>(w, x, rows, out),
        }
    }
}

/// Same contract as [`crate::scalar::dense_q8::gemm`], and the same bits.
///
/// # Safety
/// As [`gemv`].
pub(crate) unsafe fn gemm(
    path: Path,
    w: &DenseMatrix,
    xs: &Q8Acts,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    // SAFETY: as in `gemv`.
    unsafe {
        match (path, w.ggml_type()) {
            (Path::NeonDot, GgmlType::Q4_0) => dense_q8::gemm::<Head<NeonDot, Q4>>(w, xs, rows, out),
            (Path::NeonDot, GgmlType::Q6K) => dense_q8::gemm::<Q6K<NeonDot>>(w, xs, rows, out),
            (Path::NeonDot, _) => dense_q8::gemm::<Head<NeonDot, Q8>>(w, xs, rows, out),
            (_, GgmlType::Q4_0) => dense_q8::gemm::<Head<Neon, Q4>>(w, xs, rows, out),
            (_, GgmlType::Q6K) => dense_q8::gemm::<Q6K<Neon>>(w, xs, rows, out),
            _ => dense_q8::gemm::<Head<Neon, Q8>>(w, xs, rows, out),
        }
    }
}
