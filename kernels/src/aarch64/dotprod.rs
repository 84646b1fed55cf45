//! The NEON + dot-product (`FEAT_DotProd`, Armv8.2+: Cortex-A76 / Neoverse N1 and later,
//! Apple M1 and later) tile kernels: `sdot`.
//!
//! `sdot vd.4s, vn.16b, vm.16b` adds to each `i32` lane the four products of the
//! matching signed bytes: exact for any bytes (`|Σ| ≤ 4 · 128 · 128`), no `i16` stage.
//! [`Dot::block`] runs a block's eight `sdot`s as two independent chains.
//!
//! `vdotq_s32` is unstable in Rust (`stdarch_neon_dotprod`), so [`sdot`] issues the
//! instruction with `asm!`; it and its callers enable `dotprod`, so the assembler
//! accepts it, and the path is only reached after run-time detection of `dotprod`.

use std::arch::aarch64::*;
use std::arch::asm;

use super::{Dot, Tile};
use crate::ternary::PackedBlock;

/// The NEON + `sdot` path.
pub(crate) struct NeonDot;

/// `acc + sdot(a, b)`: lane `l` plus `Σ_{k<4} a[4l + k] · b[4l + k]`.
#[target_feature(enable = "neon,dotprod")]
#[inline]
pub(crate) fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: `sdot` reads three vector registers and writes the first, nothing else (no
    // memory, stack or flags); the CPU has `dotprod`, which this function's target
    // feature requires of every caller.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

impl Dot for NeonDot {
    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    unsafe fn dot4(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        sdot(acc, a, b)
    }

    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    unsafe fn block(acc: int32x4_t, c: &[int8x16_t; 8], x: &[int8x16_t; 8]) -> int32x4_t {
        let mut a = acc;
        let mut b = vdupq_n_s32(0);
        for k in (0..8).step_by(2) {
            a = sdot(a, c[k], x[k]);
            b = sdot(b, c[k + 1], x[k + 1]);
        }
        vaddq_s32(a, b)
    }
}

impl Tile for NeonDot {
    #[target_feature(enable = "neon,dotprod")]
    unsafe fn dots<const R: usize, const T: usize>(
        rows: &[*const PackedBlock; R],
        xs: &[*const i8; T],
        bpr: usize,
    ) -> [[i32; T]; R] {
        // SAFETY: the trait contract, and the CPU has NEON and `dotprod` (this path's
        // features).
        unsafe { super::dots::<NeonDot, R, T>(rows, xs, bpr) }
    }

    #[target_feature(enable = "neon,dotprod")]
    unsafe fn scaled<const R: usize, const T: usize>(
        rows: &[*const PackedBlock; R],
        xs: &[*const i8; T],
        bpr: usize,
        scales: &[*const f32; R],
        bsums: &[*const i32; T],
    ) -> [f32; 4] {
        // SAFETY: as in `dots`.
        unsafe { super::scaled::<NeonDot, R, T>(rows, xs, bpr, scales, bsums) }
    }
}
