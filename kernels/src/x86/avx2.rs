//! The AVX2 (+ FMA) tile kernels: `_mm256_maddubs_epi16(codes_u8, acts_i8)`.
//!
//! Per block: one aligned 32-byte load, shifts by 6 / 4 / 2 / 0 and `& 3` give the four
//! code vectors (see [`crate::ternary`]); per token, four `maddubs` against the block's
//! four 32-byte activation vectors give 16 `i16` lanes of pair sums.
//!
//! Exactness: codes are `0..=2` and activations `-128..=127`, so one `maddubs` lane (two
//! products) lies in `[-512, 508]` and never saturates, and the four of one block sum to
//! `[-2048, 2032]`. The integer kernel adds whole blocks into `i16` lanes for at most
//! [`CHUNK`] = 16 blocks (`[-32768, 32512]`: no wrap, even with hand-built -128
//! activations), then widens with `_mm256_madd_epi16(acc, ones)` into `i32` lanes. The
//! per-block kernel widens every block (it needs each block's dot).

use std::arch::x86_64::*;

use super::{hsum, hsum4, lane_params, load_acts, load_codes, prefetch_next, scaled_step, Tile};
use crate::ternary::PackedBlock;

/// Blocks accumulated in `i16` before widening to `i32` (see the module docs).
const CHUNK: usize = 16;

/// The AVX2 path.
pub(crate) struct Avx2;

/// `Σ` over the block's 4 × 32 columns of code · activation, as 16 `i16` pair sums.
#[target_feature(enable = "avx2")]
#[inline]
fn block_i16(c: &[__m256i; 4], x: &[__m256i; 4]) -> __m256i {
    let p0 = _mm256_maddubs_epi16(c[0], x[0]);
    let p1 = _mm256_maddubs_epi16(c[1], x[1]);
    let p2 = _mm256_maddubs_epi16(c[2], x[2]);
    let p3 = _mm256_maddubs_epi16(c[3], x[3]);
    _mm256_add_epi16(_mm256_add_epi16(p0, p1), _mm256_add_epi16(p2, p3))
}

impl Tile for Avx2 {
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dots<const R: usize, const T: usize>(
        rows: &[*const PackedBlock; R],
        xs: &[*const i8; T],
        bpr: usize,
    ) -> [[i32; T]; R] {
        let ones = _mm256_set1_epi16(1);
        let mut acc32 = [[_mm256_setzero_si256(); T]; R];
        let mut b0 = 0;
        while b0 < bpr {
            let b1 = (b0 + CHUNK).min(bpr);
            let mut acc16 = [[_mm256_setzero_si256(); T]; R];
            for b in b0..b1 {
                prefetch_next::<R>(rows[0], bpr, b);
                if T == 1 {
                    // GEMV: one token's activations stay in registers for all R rows.
                    // SAFETY: `b < bpr`; the trait contract makes every row valid for
                    // `bpr` blocks and every token for `128 · bpr` bytes.
                    let x = unsafe { load_acts(xs[0], b) };
                    for (row, acc) in rows.iter().zip(acc16.iter_mut()) {
                        // SAFETY: as above.
                        let c = unsafe { load_codes(*row, b) };
                        acc[0] = _mm256_add_epi16(acc[0], block_i16(&c, &x));
                    }
                } else {
                    // GEMM: the R rows' decoded codes stay in registers for all T tokens.
                    let mut c = [[_mm256_setzero_si256(); 4]; R];
                    for (c, row) in c.iter_mut().zip(rows) {
                        // SAFETY: as above.
                        *c = unsafe { load_codes(*row, b) };
                    }
                    for (j, p) in xs.iter().enumerate() {
                        // SAFETY: as above.
                        let x = unsafe { load_acts(*p, b) };
                        for (c, acc) in c.iter().zip(acc16.iter_mut()) {
                            acc[j] = _mm256_add_epi16(acc[j], block_i16(c, &x));
                        }
                    }
                }
            }
            for (a32, a16) in acc32.iter_mut().zip(&acc16) {
                for (a32, a16) in a32.iter_mut().zip(a16) {
                    *a32 = _mm256_add_epi32(*a32, _mm256_madd_epi16(*a16, ones));
                }
            }
            b0 = b1;
        }
        let mut out = [[0i32; T]; R];
        for (o, a) in out.iter_mut().zip(&acc32) {
            for (o, a) in o.iter_mut().zip(a) {
                *o = hsum(*a);
            }
        }
        out
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn scaled<const R: usize, const T: usize>(
        rows: &[*const PackedBlock; R],
        xs: &[*const i8; T],
        bpr: usize,
        scales: &[*const f32; R],
        bsums: &[*const i32; T],
    ) -> [f32; 4] {
        const { assert!(R * T == 4) };
        let ones = _mm256_set1_epi16(1);
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
                    d[i * T + j] = _mm256_madd_epi16(block_i16(&c, x), ones);
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
