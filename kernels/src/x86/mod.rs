//! The x86-64 SIMD paths: AVX2 ([`avx2`]) and AVX-512 VNNI ([`vnni`]), the
//! [`Tile`] kernels of the shared ternary driver ([`crate::simd::ternary`]); the
//! output-head kernels ([`dense_f16`], [`dense_q8`], [`dense_q6k`]); and the AVX2 helpers
//! they share.

pub(crate) mod avx2;
pub(crate) mod dense_f16;
pub(crate) mod dense_q6k;
pub(crate) mod dense_q8;
pub(crate) mod vnni;

use std::arch::x86_64::*;

pub(crate) use crate::simd::ternary::Tile;
use crate::ternary::PackedBlock;

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
