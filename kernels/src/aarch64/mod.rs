//! The aarch64 SIMD paths: NEON ([`neon`], every aarch64 CPU) and NEON with the
//! dot-product extension ([`dotprod`], `sdot`): the [`Tile`] kernels of the shared
//! ternary driver ([`crate::simd::ternary`]), the `Q8_0` / `Q4_0` / `Q6_K` output-head
//! kernels ([`dense_q8`], [`dense_q6k`]), and the NEON helpers they share.
//!
//! The two paths differ only in their [`Dot`] primitive, the int8 multiply-add; the
//! kernels here are generic over it and each path instantiates them inside a function
//! that enables its target features. Everything is `#[inline]`, so the kernels and the
//! primitive end up inlined into that function and compiled with its features.
//!
//! Intrinsics: `std::arch::aarch64` (stable). `vdotq_s32` is still unstable
//! (`stdarch_neon_dotprod`), so [`dotprod`] issues `sdot` with `asm!` inside functions
//! that enable `dotprod`, reached only after run-time detection of `dotprod`.
//!
//! # Ternary blocks in NEON registers
//!
//! A 32-byte block is two 16-byte halves; `(v >> 6)`, `(v >> 4) & 3`, `(v >> 2) & 3`,
//! `v & 3` of half `h` are the codes of columns `32k + 16h .. 32k + 16h + 16` for
//! `k = 0..4` (see [`crate::ternary`]). So code vector `2k + h` meets the block's
//! activation bytes `16 (2k + h) ..`: the eight code vectors line up with the block's
//! 128 activations read as eight consecutive 16-byte vectors. Codes are `0..=2`, valid
//! `i8`, so both operands are signed bytes (`smull` / `sdot`), unlike x86's `u8 × i8`.

pub(crate) mod dense_q6k;
pub(crate) mod dense_q8;
pub(crate) mod dotprod;
pub(crate) mod neon;

use std::arch::aarch64::*;

pub(crate) use crate::simd::ternary::Tile;
use crate::ternary::PackedBlock;

/// A path's int8 multiply-add.
///
/// # Safety (for callers of both methods)
///
/// The CPU supports the implementing path's target features.
pub(crate) trait Dot {
    /// `acc` plus, in each `i32` lane `l`, `Σ_{k<4} a[4l + k] · b[4l + k]`: exact, for any
    /// bytes (`sdot` semantics).
    unsafe fn dot4(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t;

    /// `acc` plus the 128 products `c[i][m] · x[i][m]` of one ternary block, spread
    /// over the four lanes in an unspecified way: the lanes' total grows by exactly
    /// `Σ c · x`. Every `c` lane must be in `0..=3` (decoded codes are; see
    /// [`load_codes`]), which keeps the plain path's `i16` stage exact.
    unsafe fn block(acc: int32x4_t, c: &[int8x16_t; 8], x: &[int8x16_t; 8]) -> int32x4_t;
}

/// Loads block `b` of the row at `row` and decodes it into the eight code vectors
/// described in the module docs (lanes `0..=3`: two-bit fields).
///
/// # Safety
///
/// `row` is valid for reads of `b + 1` blocks.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn load_codes(row: *const PackedBlock, b: usize) -> [int8x16_t; 8] {
    // SAFETY: in bounds by the caller's contract; `vld1q_u8` has no alignment
    // requirement.
    let (v0, v1) = unsafe {
        let p = row.add(b).cast::<u8>();
        (vld1q_u8(p), vld1q_u8(p.add(16)))
    };
    let m = vdupq_n_u8(3);
    let s = vreinterpretq_s8_u8;
    [
        s(vshrq_n_u8::<6>(v0)),
        s(vshrq_n_u8::<6>(v1)),
        s(vandq_u8(vshrq_n_u8::<4>(v0), m)),
        s(vandq_u8(vshrq_n_u8::<4>(v1), m)),
        s(vandq_u8(vshrq_n_u8::<2>(v0), m)),
        s(vandq_u8(vshrq_n_u8::<2>(v1), m)),
        s(vandq_u8(v0, m)),
        s(vandq_u8(v1, m)),
    ]
}

/// Loads the 128 activations of block `b` of the token at `x` as eight 16-byte vectors.
///
/// # Safety
///
/// `x` is valid for reads of `128 · (b + 1)` bytes.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn load_acts(x: *const i8, b: usize) -> [int8x16_t; 8] {
    // SAFETY: in bounds by the caller's contract; unaligned loads.
    std::array::from_fn(|i| unsafe { vld1q_s8(x.add(b * 128 + 16 * i)) })
}

/// `[Σ lanes of d[0], …, Σ lanes of d[3]]` (wrapping, like the exact sums for any real K).
#[target_feature(enable = "neon")]
#[inline]
fn hsum4(d: [int32x4_t; 4]) -> int32x4_t {
    // `addp` of two vectors gives their adjacent-pair sums, `a`'s then `b`'s; twice gives
    // each vector's total.
    vpaddq_s32(vpaddq_s32(d[0], d[1]), vpaddq_s32(d[2], d[3]))
}

/// One f32 step of the per-block path on four lanes:
/// `acc + ws · ((dots - bsums) as f32)`, multiply and add rounded separately (`fmul`
/// then `fadd`; Rust never contracts them into `fmla`).
#[target_feature(enable = "neon")]
#[inline]
fn scaled_step(acc: float32x4_t, ws: float32x4_t, dots: int32x4_t, bsums: int32x4_t) -> float32x4_t {
    vaddq_f32(acc, vmulq_f32(ws, vcvtq_f32_s32(vsubq_s32(dots, bsums))))
}

/// The per-lane scales and block sums of block `b` for a tile of `R × T == 4` lanes
/// (lane `i · T + j`: row `i`, token `j`).
///
/// # Safety
///
/// Every `scales[i]` and `bsums[j]` is valid for reads of `b + 1` elements.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn lane_params<const R: usize, const T: usize>(
    scales: &[*const f32; R],
    bsums: &[*const i32; T],
    b: usize,
) -> (float32x4_t, int32x4_t) {
    // SAFETY: in bounds by the caller's contract; the arrays are 4 elements, as the
    // loads read.
    unsafe {
        let s: [f32; 4] = std::array::from_fn(|l| *scales[l / T].add(b));
        let m: [i32; 4] = std::array::from_fn(|l| *bsums[l % T].add(b));
        (vld1q_f32(s.as_ptr()), vld1q_s32(m.as_ptr()))
    }
}

/// [`Tile::dots`] with primitive `D`, inlined into the path's feature-enabled wrapper.
///
/// # Safety
///
/// [`Tile::dots`]'s contract, for `D`'s features.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn dots<D: Dot, const R: usize, const T: usize>(
    rows: &[*const PackedBlock; R],
    xs: &[*const i8; T],
    bpr: usize,
) -> [[i32; T]; R] {
    let mut acc = [[vdupq_n_s32(0); T]; R];
    for b in 0..bpr {
        if T == 1 {
            // GEMV: one token's activations stay in registers for all R rows.
            // SAFETY: `b < bpr`; the trait contract makes every row valid for `bpr`
            // blocks, every token for `128 · bpr` bytes, and the CPU run `D`.
            let x = unsafe { load_acts(xs[0], b) };
            for (row, acc) in rows.iter().zip(acc.iter_mut()) {
                // SAFETY: as above.
                acc[0] = unsafe { D::block(acc[0], &load_codes(*row, b), &x) };
            }
        } else {
            // GEMM: the R rows' decoded codes stay in registers for all T tokens.
            // SAFETY: as above.
            let c: [[int8x16_t; 8]; R] = std::array::from_fn(|i| unsafe { load_codes(rows[i], b) });
            for (j, p) in xs.iter().enumerate() {
                // SAFETY: as above.
                let x = unsafe { load_acts(*p, b) };
                for (c, acc) in c.iter().zip(acc.iter_mut()) {
                    // SAFETY: as above.
                    acc[j] = unsafe { D::block(acc[j], c, &x) };
                }
            }
        }
    }
    acc.map(|a| a.map(|v| vaddvq_s32(v)))
}

/// [`Tile::scaled`] with primitive `D`, inlined into the path's feature-enabled wrapper.
///
/// # Safety
///
/// [`Tile::scaled`]'s contract, for `D`'s features.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn scaled<D: Dot, const R: usize, const T: usize>(
    rows: &[*const PackedBlock; R],
    xs: &[*const i8; T],
    bpr: usize,
    scales: &[*const f32; R],
    bsums: &[*const i32; T],
) -> [f32; 4] {
    const { assert!(R * T == 4) };
    let z = vdupq_n_s32(0);
    let mut acc = vdupq_n_f32(0.0);
    for b in 0..bpr {
        let mut d = [z; 4];
        if T == 1 {
            // SAFETY: `b < bpr`; see the trait contract.
            let x = unsafe { load_acts(xs[0], b) };
            for (d, row) in d.iter_mut().zip(rows) {
                // SAFETY: as above.
                *d = unsafe { D::block(z, &load_codes(*row, b), &x) };
            }
        } else {
            for (i, row) in rows.iter().enumerate() {
                // SAFETY: as above.
                let c = unsafe { load_codes(*row, b) };
                for (j, p) in xs.iter().enumerate() {
                    // SAFETY: as above.
                    d[i * T + j] = unsafe { D::block(z, &c, &load_acts(*p, b)) };
                }
            }
        }
        // SAFETY: as above.
        let (ws, bs) = unsafe { lane_params(scales, bsums, b) };
        acc = scaled_step(acc, ws, hsum4(d), bs);
    }
    let mut out = [0f32; 4];
    // SAFETY: `out` holds 4 f32s.
    unsafe { vst1q_f32(out.as_mut_ptr(), acc) };
    out
}
