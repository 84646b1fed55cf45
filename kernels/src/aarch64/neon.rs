//! The plain NEON tile kernels, for aarch64 CPUs without the dot-product extension
//! (Cortex-A53 / A57 / A72 class): `smull` / `smlal` into `i16`, widened with `sadalp`.
//!
//! Exactness: a block's codes are `0..=2` (at most 3 as two-bit fields) and activations
//! `-128..=127`, so one product is at most 384 in magnitude. [`Dot::block`] keeps two
//! `i16` accumulators (low and high byte halves), each adding 8 products per lane (at
//! most 3072), and widens both into the `i32` lanes with `sadalp` after every block: no
//! wrap. [`Dot::dot4`] takes any bytes: the products (at most `128 · 128 = 16384`) fit
//! `i16`, and they are summed in `i32` (`saddlp`, `addp`).

use std::arch::aarch64::*;

use super::{Dot, Tile};
use crate::ternary::PackedBlock;

/// The plain NEON path.
pub(crate) struct Neon;

impl Dot for Neon {
    #[target_feature(enable = "neon")]
    #[inline]
    unsafe fn dot4(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // Products 0..8 and 8..16 in i16; pair sums in i32; `addp` of the two gives the
        // sums of products 4l .. 4l + 4 in lane l.
        let lo = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
        let hi = vpaddlq_s16(vmull_high_s8(a, b));
        vaddq_s32(acc, vpaddq_s32(lo, hi))
    }

    #[target_feature(enable = "neon")]
    #[inline]
    unsafe fn block(acc: int32x4_t, c: &[int8x16_t; 8], x: &[int8x16_t; 8]) -> int32x4_t {
        let mut lo = vmull_s8(vget_low_s8(c[0]), vget_low_s8(x[0]));
        let mut hi = vmull_high_s8(c[0], x[0]);
        for k in 1..8 {
            lo = vmlal_s8(lo, vget_low_s8(c[k]), vget_low_s8(x[k]));
            hi = vmlal_high_s8(hi, c[k], x[k]);
        }
        vpadalq_s16(vpadalq_s16(acc, lo), hi)
    }
}

impl Tile for Neon {
    #[target_feature(enable = "neon")]
    unsafe fn dots<const R: usize, const T: usize>(
        rows: &[*const PackedBlock; R],
        xs: &[*const i8; T],
        bpr: usize,
    ) -> [[i32; T]; R] {
        // SAFETY: the trait contract, and the CPU has NEON (this path's only feature).
        unsafe { super::dots::<Neon, R, T>(rows, xs, bpr) }
    }

    #[target_feature(enable = "neon")]
    unsafe fn scaled<const R: usize, const T: usize>(
        rows: &[*const PackedBlock; R],
        xs: &[*const i8; T],
        bpr: usize,
        scales: &[*const f32; R],
        bsums: &[*const i32; T],
    ) -> [f32; 4] {
        // SAFETY: as in `dots`.
        unsafe { super::scaled::<Neon, R, T>(rows, xs, bpr, scales, bsums) }
    }
}
