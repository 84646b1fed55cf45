//! The AVX-512 VNNI tile kernels: `vpdpbusd` on 256-bit vectors
//! (`_mm256_dpbusd_epi32`, AVX-512 VNNI + VL).
//!
//! Same block decode as the AVX2 path; each of a block's four code vectors meets its
//! 32 activations in one `dpbusd`, which multiplies `u8` codes by `i8` activations and
//! adds each group of four products straight into an `i32` lane: no `i16` stage, no
//! saturation, exact. Each (row, token) cell keeps four accumulators (one per code
//! vector) so consecutive `dpbusd`s are independent.
//!
//! **Untested on the development machine** (AMD EPYC, AVX2 only): it compiles, is
//! reached only after run-time detection of `avx512f`, `avx512bw`, `avx512vl` and
//! `avx512vnni`, and the equivalence tests run it automatically on a CPU that has them.
//!
//! The 256-bit form keeps one block per register, the same layout as AVX2. On CPUs with
//! two 512-bit VNNI ports a 512-bit version (two rows per register, activations
//! broadcast with `vbroadcasti64x4`) could double GEMM throughput; not written.

use std::arch::x86_64::*;

use super::{hsum, hsum4, lane_params, load_acts, load_codes, scaled_step, Tile};
use crate::ternary::PackedBlock;

/// The AVX-512 VNNI path.
pub(crate) struct Vnni;

impl Tile for Vnni {
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn dots<const R: usize, const T: usize>(
        rows: &[*const PackedBlock; R],
        xs: &[*const i8; T],
        bpr: usize,
    ) -> [[i32; T]; R] {
        let mut acc = [[[_mm256_setzero_si256(); 4]; T]; R];
        for b in 0..bpr {
            let mut x = [[_mm256_setzero_si256(); 4]; T];
            for (x, p) in x.iter_mut().zip(xs) {
                // SAFETY: `b < bpr`; the trait contract makes every row valid for `bpr`
                // blocks and every token for `128 · bpr` bytes.
                *x = unsafe { load_acts(*p, b) };
            }
            for (row, acc) in rows.iter().zip(acc.iter_mut()) {
                // SAFETY: as above.
                let c = unsafe { load_codes(*row, b) };
                for (a, x) in acc.iter_mut().zip(&x) {
                    for k in 0..4 {
                        a[k] = _mm256_dpbusd_epi32(a[k], c[k], x[k]);
                    }
                }
            }
        }
        let mut out = [[0i32; T]; R];
        for (o, a) in out.iter_mut().zip(&acc) {
            for (o, a) in o.iter_mut().zip(a) {
                let s = _mm256_add_epi32(_mm256_add_epi32(a[0], a[1]), _mm256_add_epi32(a[2], a[3]));
                *o = hsum(s);
            }
        }
        out
    }

    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn scaled<const R: usize, const T: usize>(
        rows: &[*const PackedBlock; R],
        xs: &[*const i8; T],
        bpr: usize,
        scales: &[*const f32; R],
        bsums: &[*const i32; T],
    ) -> [f32; 4] {
        const { assert!(R * T == 4) };
        let mut acc = _mm_setzero_ps();
        for b in 0..bpr {
            let mut x = [[_mm256_setzero_si256(); 4]; T];
            for (x, p) in x.iter_mut().zip(xs) {
                // SAFETY: `b < bpr`; see the trait contract.
                *x = unsafe { load_acts(*p, b) };
            }
            let mut d = [_mm256_setzero_si256(); 4];
            for (i, row) in rows.iter().enumerate() {
                // SAFETY: as above.
                let c = unsafe { load_codes(*row, b) };
                for (j, x) in x.iter().enumerate() {
                    let lo = _mm256_dpbusd_epi32(_mm256_setzero_si256(), c[0], x[0]);
                    let lo = _mm256_dpbusd_epi32(lo, c[1], x[1]);
                    let hi = _mm256_dpbusd_epi32(_mm256_setzero_si256(), c[2], x[2]);
                    let hi = _mm256_dpbusd_epi32(hi, c[3], x[3]);
                    d[i * T + j] = _mm256_add_epi32(lo, hi);
                }
            }
            // SAFETY: as above.
            let (ws, bs) = unsafe { lane_params(scales, bsums, b) };
            acc = scaled_step(acc, ws, hsum4(d), bs);
        }
        let mut out = [0f32; 4];
        // SAFETY: `out` is 4 f32s; unaligned store.
        unsafe { _mm_storeu_ps(out.as_mut_ptr(), acc) };
        out
    }
}
