//! `Q6_K` output-head GEMV / GEMM on the NEON paths with **`Q8_0`-block activations**
//! ([`crate::Q8Acts`]): the [`HeadTile`]s of the shared driver
//! ([`crate::simd::dense_q8`]) for `Q6_K`, **bit-identical to the scalar reference**
//! ([`crate::scalar::dense_q8`], whose module docs define the per-block sum): per
//! 32-value activation block `b` (values `32j .. 32j + 32` of super-block `b / 8`, its
//! sub-blocks `2j` and `2j + 1`), the exact integer
//! `isum_b = sc[2j] · Σ_{i<16} w_i x_i + sc[2j+1] · Σ_{i≥16} w_i x_i` with the centred
//! codes `w = q - 32`, then the reference's f32 step `acc = fma(isum_b, d · d_x,b, acc)`
//! (`fmla`) in ascending `b`.
//!
//! Decoding block `j = 4h + k` (as on x86, but per byte, so no masks for spill): the low
//! 4 bits are `ql[64h + 32(k mod 2) + l]` (low nibble for `k < 2`, high for `k ≥ 2`),
//! the high 2 bits bits `2k, 2k + 1` of `qh[32h + l]`; `w = (lo | (hi << 4)) - 32`, two
//! 16-byte vectors (sub-blocks `2j` and `2j + 1`). The centred codes are signed bytes,
//! so each sub-block meets its 16 activation codes in one [`Dot::dot4`] (exact for any
//! bytes; `sdot` or its plain-NEON equivalent), and the two `i32` partial vectors are
//! combined with the sub-scales (`mul` / `mla` by a scalar): `|isum_b| < 2²⁴`, exact.
//!
//! - **Rows as lanes** (GEMV, GEMM tails): one token against 4 rows; [`hsum4`] of the
//!   four rows' partials gives lane `r` = row `r`'s `isum_b`.
//! - **Tokens as lanes** (GEMM groups of 8 tokens): each 4-value chunk of the block's
//!   codes broadcast to the four lanes meets tokens 0..4 and 4..8 of the interleaved
//!   activations, accumulated per sub-block, then scaled and added.
//!
//! The super-block scale `d` (f16) is converted with the reference's function
//! ([`crate::formats::f16_le`], exact).

use std::arch::aarch64::*;
use std::marker::PhantomData;

use super::dense_q8::splat;
use super::dotprod::NeonDot;
use super::neon::Neon;
use super::{hsum4, Dot};
use crate::formats::{f16_le, q6_k};
use crate::quant_q8::{BLOCK_VALUES, GROUP};
use crate::simd::dense_q8::{HeadTile, ROWS};

/// Activation blocks per super-block.
const PER: usize = q6_k::BLOCK_VALUES / BLOCK_VALUES;

/// The `Q6_K` head kernels of path `P` (`Neon` or `NeonDot`).
pub(crate) struct Q6K<P>(PhantomData<P>);

/// The 32 centred codes `q - 32` of block `4h + k` of the super-block at `p`, in value
/// order: values `0..16` and `16..32`.
///
/// # Safety
/// `p` is valid for reads of a super-block (210 bytes); `h < 2`, `k < 4`.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn weights(p: *const u8, h: usize, k: usize) -> [int8x16_t; 2] {
    std::array::from_fn(|half| {
        // SAFETY: `ql[64h + 32(k mod 2) + 16 half ..][..16]` and `qh[32h + 16 half ..][..16]`
        // lie inside the super-block for `h < 2` (caller); unaligned loads.
        let (ql, qh) = unsafe {
            (
                vld1q_u8(p.add(q6_k::QL + 64 * h + 32 * (k & 1) + 16 * half)),
                vld1q_u8(p.add(q6_k::QH + 32 * h + 16 * half)),
            )
        };
        // `ushl` by a negative count shifts right: the high nibble for `k >= 2`, and bits
        // `2k, 2k + 1` of each `qh` byte to bits 4, 5 (a shift by `4 - 2k`).
        let lo = vandq_u8(vshlq_u8(ql, vdupq_n_s8(-4 * (k / 2) as i8)), vdupq_n_u8(0x0F));
        let hi = vandq_u8(vshlq_u8(qh, vdupq_n_s8(4 - 2 * k as i8)), vdupq_n_u8(0x30));
        let q = vorrq_u8(lo, hi);
        vsubq_s8(vreinterpretq_s8_u8(q), vdupq_n_s8(32))
    })
}

/// Sub-scale `i` (`i < 16`) of the super-block at `p`, as `i32`.
///
/// # Safety
/// `p` is valid for reads of a super-block.
#[inline]
unsafe fn sub_scale(p: *const u8, i: usize) -> i32 {
    // SAFETY: byte `SCALES + i < D` of the super-block (caller).
    i32::from(unsafe { *p.add(q6_k::SCALES + i) } as i8)
}

/// The super-block scale `d` of the super-block at `p`.
///
/// # Safety
/// `p` is valid for reads of a super-block.
#[inline]
unsafe fn super_scale(p: *const u8) -> f32 {
    // SAFETY: bytes `D .. D + 2` of the super-block (caller).
    f16_le(unsafe { std::slice::from_raw_parts(p.add(q6_k::D), 2) })
}

/// [`HeadTile::rows`] for `Q6_K` with primitive `D`.
///
/// # Safety
/// The CPU runs `D`; the rest is [`HeadTile::rows`]'s contract for `Q6_K` (`blocks` a
/// multiple of 8).
#[target_feature(enable = "neon")]
#[inline]
unsafe fn rows_dots<D: Dot>(
    rows: [*const u8; ROWS],
    codes: *const i8,
    scales: *const f32,
    blocks: usize,
) -> [f32; ROWS] {
    let z = vdupq_n_s32(0);
    let mut acc = vdupq_n_f32(0.0);
    for s in 0..blocks / PER {
        // SAFETY: `s < blocks / 8`: super-block `s` of every row and the token's blocks
        // `8s .. 8s + 8` (codes and scales) are in bounds (caller's contract); unaligned
        // loads; the CPU runs `D`.
        unsafe {
            let p = rows.map(|r| r.add(s * q6_k::BLOCK_BYTES));
            let dw = p.map(|p| super_scale(p));
            let dw = vld1q_f32(dw.as_ptr());
            for j in 0..PER {
                let b = PER * s + j;
                let x = [vld1q_s8(codes.add(BLOCK_VALUES * b)), vld1q_s8(codes.add(BLOCK_VALUES * b + 16))];
                let part = p.map(|p| {
                    let w = weights(p, j / 4, j % 4);
                    let lo = vmulq_n_s32(D::dot4(z, w[0], x[0]), sub_scale(p, 2 * j));
                    vmlaq_n_s32(lo, D::dot4(z, w[1], x[1]), sub_scale(p, 2 * j + 1))
                });
                let dwx = vmulq_f32(dw, vdupq_n_f32(*scales.add(b)));
                acc = vfmaq_f32(acc, vcvtq_f32_s32(hsum4(part)), dwx);
            }
        }
    }
    let mut out = [0f32; ROWS];
    // SAFETY: `out` holds 4 f32s.
    unsafe { vst1q_f32(out.as_mut_ptr(), acc) };
    out
}

/// [`HeadTile::group`] for `Q6_K` with primitive `D`.
///
/// # Safety
/// The CPU runs `D`; the rest is [`HeadTile::group`]'s contract for `Q6_K` (`blocks` a
/// multiple of 8).
#[target_feature(enable = "neon")]
#[inline]
unsafe fn group_dots<D: Dot>(
    row: *const u8,
    codes: *const i8,
    scales: *const f32,
    blocks: usize,
) -> [f32; GROUP] {
    let z = vdupq_n_s32(0);
    let mut acc = [vdupq_n_f32(0.0); 2];
    for s in 0..blocks / PER {
        // SAFETY: `s < blocks / 8`: super-block `s` of the row and the group's blocks
        // `8s .. 8s + 8` (256 codes and 8 scales each) are in bounds (caller's
        // contract); unaligned loads; the CPU runs `D`.
        unsafe {
            let p = row.add(s * q6_k::BLOCK_BYTES);
            let dw = vdupq_n_f32(super_scale(p));
            for j in 0..PER {
                let b = PER * s + j;
                let w = weights(p, j / 4, j % 4);
                let x = codes.add(GROUP * BLOCK_VALUES * b);
                // `[sub-block][tokens 0..4, 4..8]`.
                let mut isum = [[z; 2]; 2];
                for k in 0..8 {
                    // Values `4k .. 4k + 4` (sub-block `k / 4`); chunk `k` of the group
                    // holds them for tokens 0..4, then 4..8.
                    let wk = splat(w[k / 4], k % 4);
                    let sub = &mut isum[k / 4];
                    sub[0] = D::dot4(sub[0], wk, vld1q_s8(x.add(32 * k)));
                    sub[1] = D::dot4(sub[1], wk, vld1q_s8(x.add(32 * k + 16)));
                }
                let (sa, sb) = (sub_scale(p, 2 * j), sub_scale(p, 2 * j + 1));
                for (t, acc) in acc.iter_mut().enumerate() {
                    let isum = vmlaq_n_s32(vmulq_n_s32(isum[0][t], sa), isum[1][t], sb);
                    let dwx = vmulq_f32(dw, vld1q_f32(scales.add(GROUP * b + 4 * t)));
                    *acc = vfmaq_f32(*acc, vcvtq_f32_s32(isum), dwx);
                }
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

impl HeadTile for Q6K<Neon> {
    #[target_feature(enable = "neon")]
    unsafe fn rows(
        rows: [*const u8; ROWS],
        codes: *const i8,
        scales: *const f32,
        _bsums8: *const i32,
        blocks: usize,
    ) -> [f32; ROWS] {
        // SAFETY: the trait's contract; NEON is this path's only feature.
        unsafe { rows_dots::<Neon>(rows, codes, scales, blocks) }
    }

    #[target_feature(enable = "neon")]
    unsafe fn group(
        row: *const u8,
        codes: *const i8,
        scales: *const f32,
        _bsums8: *const i32,
        blocks: usize,
    ) -> [f32; GROUP] {
        // SAFETY: as in `rows`.
        unsafe { group_dots::<Neon>(row, codes, scales, blocks) }
    }
}

impl HeadTile for Q6K<NeonDot> {
    #[target_feature(enable = "neon,dotprod")]
    unsafe fn rows(
        rows: [*const u8; ROWS],
        codes: *const i8,
        scales: *const f32,
        _bsums8: *const i32,
        blocks: usize,
    ) -> [f32; ROWS] {
        // SAFETY: the trait's contract; NEON and `dotprod` are this path's features.
        unsafe { rows_dots::<NeonDot>(rows, codes, scales, blocks) }
    }

    #[target_feature(enable = "neon,dotprod")]
    unsafe fn group(
        row: *const u8,
        codes: *const i8,
        scales: *const f32,
        _bsums8: *const i32,
        blocks: usize,
    ) -> [f32; GROUP] {
        // SAFETY: as in `rows`.
        unsafe { group_dots::<NeonDot>(row, codes, scales, blocks) }
    }
}
