//! The AVX2 (+ FMA) tile kernels: `_mm256_maddubs_epi16(codes_u8, acts_i8)`.
//!
//! Per block: one aligned 32-byte load, shifts by 6 / 4 / 2 / 0 and `& 3` give the four
//! code vectors (see [`crate::ternary`]); per token, four `maddubs` against the block's
//! four 32-byte activation vectors give 16 `i16` lanes of pair sums. The GEMM tile
//! walks a block quarter by quarter (one code vector per row, one activation vector
//! per token) to keep its 2 × 4 accumulators in registers.
//!
//! Exactness: codes are `0..=2` and activations `-128..=127`, so one `maddubs` lane (two
//! products) lies in `[-512, 508]` and never saturates, and the four of one block sum to
//! `[-2048, 2032]`. The integer kernel adds whole blocks into `i16` lanes for at most
//! [`CHUNK`] = 16 blocks (`[-32768, 32512]`: no wrap, even with hand-built -128
//! activations; the partial sums of up to 64 `maddubs` lanes stay in that range too,
//! whatever the order), then widens with `_mm256_madd_epi16(acc, ones)` into `i32` lanes. The
//! per-block kernel widens every block (it needs each block's dot).

use std::arch::x86_64::*;

use super::{
    code_q, hsum, hsum4, lane_params, load_act_quarter, load_acts, load_block, load_codes, prefetch_next,
    scaled_step, Tile,
};
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

/// Adds quarter `q` of block `b` (columns `32q .. 32q + 32`, codes `c` of the R rows)
/// into the `i16` accumulators of every (row, token) pair.
///
/// # Safety
///
/// Every `xs[j]` is valid for reads of `128 · (b + 1)` bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn quarter<const R: usize, const T: usize>(
    c: &[__m256i; R],
    xs: &[*const i8; T],
    b: usize,
    q: usize,
    acc: &mut [[__m256i; T]; R],
) {
    for (j, p) in xs.iter().enumerate() {
        // SAFETY: in bounds by the caller's contract.
        let x = unsafe { load_act_quarter(*p, b, q) };
        for (c, acc) in c.iter().zip(acc.iter_mut()) {
            acc[j] = _mm256_add_epi16(acc[j], _mm256_maddubs_epi16(*c, x));
        }
    }
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
                    // GEMM, one 32-column quarter of the block at a time, so the tile's
                    // registers hold R packed rows, their R decoded quarters, one token's
                    // activations and the R × T accumulators (2 + 2 + 1 + 8 of the 16 for
                    // the 2 × 4 tile): each activation load feeds R `maddubs`, each
                    // decoded quarter T.
                    let mut raw = [_mm256_setzero_si256(); R];
                    for (v, row) in raw.iter_mut().zip(rows) {
                        // SAFETY: as above.
                        *v = unsafe { load_block(*row, b) };
                    }
                    // SAFETY (each quarter): as above.
                    unsafe {
                        quarter::<R, T>(&raw.map(|v| code_q::<6>(v)), xs, b, 0, &mut acc16);
                        quarter::<R, T>(&raw.map(|v| code_q::<4>(v)), xs, b, 1, &mut acc16);
                        quarter::<R, T>(&raw.map(|v| code_q::<2>(v)), xs, b, 2, &mut acc16);
                        quarter::<R, T>(&raw.map(|v| code_q::<0>(v)), xs, b, 3, &mut acc16);
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
