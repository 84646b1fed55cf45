//! `Q6_K` output-head GEMV / GEMM with AVX2 + FMA + F16C and **`Q8_0`-block
//! activations** ([`crate::Q8Acts`]): the [`HeadTile`] of the shared driver
//! ([`crate::simd::dense_q8`]) for `Q6_K`, **bit-identical to the scalar reference**
//! ([`crate::scalar::dense_q8`], whose module docs define the per-block sum): per
//! 32-value activation block `b` (values `32j .. 32j + 32` of super-block `b / 8`, its
//! sub-blocks `2j` and `2j + 1`), the exact integer
//! `isum_b = sc[2j] · Σ_{i<16} w_i x_i + sc[2j+1] · Σ_{i≥16} w_i x_i` with the centred
//! codes `w = q - 32`, then the reference's f32 step `acc = fma(isum_b, d · d_x,b, acc)`
//! in ascending `b`.
//!
//! Decoding block `j = 4h + k` of a super-block (`h`: which 128-value half, `k`: which
//! quarter of it) into its 32 raw codes `q` (`0..=63`) in value order, with 16-bit
//! shifts whose cross-byte spill the masks drop: the low 4 bits are
//! `ql[64h + 32(k mod 2) + l]`, low nibble for `k < 2`, high nibble for `k ≥ 2`; the high
//! 2 bits are bits `2k, 2k + 1` of `qh[32h + l]`, moved to bits 4 and 5.
//!
//! The low 128-bit lane of a block's 32 values is sub-block `2j`, the high lane
//! `2j + 1`, so after the byte products (16 `i16` pair sums) one `madd` with the
//! sub-scales as `i16` (`[sc[2j]; 8] | [sc[2j+1]; 8]`, at most 128 in magnitude) gives
//! eight `i32` partial sums of `isum_b` (each at most `2 · 8128 · 128`). No step
//! saturates (`|x| ≤ 127` is a [`crate::Q8Acts`] invariant):
//!
//! - **Rows as lanes** (GEMV, GEMM tails): one token against 4 rows. Per block,
//!   `maddubs(q, x)` (`q` unsigned; pair sums at most `2 · 63 · 127 = 16002`) minus the
//!   pair sums of `32 · x` (one `maddubs` with ones and a shift per block, shared by
//!   the 4 rows) is the pair sums of `(q - 32) · x`, exact in `i16` (at most
//!   `2 · 32 · 127 = 8128`); the sub-scales come from one in-lane `pshufd` of the
//!   half's 8 scales, reordered and widened once per half and row. The rows' partials
//!   are reduced together (`hsum4`).
//! - **Tokens as lanes** (GEMM groups of 8 tokens): the block's centred codes
//!   `w = q - 32` are decoded once, each 4-value chunk broadcast to the 8 lanes (`pshufd`
//!   within a 128-bit lane copied to both) and multiplied with the interleaved
//!   activations by ggml's sign transfer, `maddubs(|w|, sign(x, w))` (pair sums at most
//!   8128; no activation sums needed); a sub-block's four chunks are added in `i16` (at
//!   most `4 · 8128 = 32512`) and widened by one `madd` with its sub-scale.

use std::arch::x86_64::*;

use super::dense_q8::f16_at;
use super::hsum4;
use crate::formats::q6_k;
use crate::quant_q8::{BLOCK_VALUES, GROUP};
use crate::simd::dense_q8::{HeadTile, ROWS};

/// Bytes ahead of the super-block being read (4 super-blocks) that the rows kernel
/// prefetches in each of its rows. A GEMV streams the matrix from memory, and without
/// the hint it ran at well under `Q8_0`'s bytes per second (presumably because a
/// super-block's reads, `ql` and `qh` per half, jump back and forth); measured on the
/// development machine (loaded): about 19 -> 14.5 ms for a 32000 × 2560 GEMV, with 2, 8
/// and 16 super-blocks ahead as good as 4.
const PREFETCH_AHEAD: usize = 4 * q6_k::BLOCK_BYTES;

/// Activation blocks per super-block.
const PER: usize = q6_k::BLOCK_VALUES / BLOCK_VALUES;

/// The `Q6_K` head kernels of the AVX2 path (also run by the AVX-512 VNNI path, whose
/// CPUs all have AVX2, FMA and F16C).
pub(crate) struct Q6K;

/// The 32 raw 6-bit codes `q` (`0..=63`) of block `4h + K` of the super-block at `p`,
/// in value order (see the module docs).
///
/// # Safety
/// AVX2 is available; `p` is valid for reads of a super-block (210 bytes); `h < 2`,
/// `K < 4`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn raw<const K: usize>(p: *const u8, h: usize) -> __m256i {
    // SAFETY: `ql[64h + 32(K mod 2) ..][..32]` and `qh[32h ..][..32]` lie inside the
    // super-block for `h < 2` (caller); unaligned loads.
    let (ql, qh) = unsafe {
        (
            _mm256_loadu_si256(p.add(q6_k::QL + 64 * h + 32 * (K & 1)).cast()),
            _mm256_loadu_si256(p.add(q6_k::QH + 32 * h).cast()),
        )
    };
    let lo = if K < 2 { ql } else { _mm256_srli_epi16::<4>(ql) };
    let lo = _mm256_and_si256(lo, _mm256_set1_epi8(0x0F));
    // Bits `2K, 2K + 1` of each `qh` byte to bits 4, 5.
    let hi = match K {
        0 => _mm256_slli_epi16::<4>(qh),
        1 => _mm256_slli_epi16::<2>(qh),
        2 => qh,
        _ => _mm256_srli_epi16::<2>(qh),
    };
    _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(0x30)))
}

/// The 32 centred codes `q - 32` (`-32..=31`) of block `4h + K`, as [`raw`].
///
/// # Safety
/// As [`raw`].
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn weights<const K: usize>(p: *const u8, h: usize) -> __m256i {
    // SAFETY: the caller's contract.
    _mm256_sub_epi8(unsafe { raw::<K>(p, h) }, _mm256_set1_epi8(32))
}

/// The sub-scales of half `h` of the super-block at `p` (`s_i = sc[8h + i]`) as `i16`,
/// each twice: `s0 s0 s2 s2 s4 s4 s6 s6` in the low 128-bit lane, `s1 s1 s3 s3 s5 s5 s7
/// s7` in the high one, so 32-bit element `K` of each lane is block `4h + K`'s pair of
/// sub-scales ([`pick_scales`]).
///
/// # Safety
/// AVX2 is available; `p` is valid for reads of a super-block; `h < 2`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn half_scales(p: *const u8, h: usize) -> __m256i {
    // SAFETY: bytes `SCALES + 8h .. + 8` lie inside the super-block (caller); unaligned.
    let sc = unsafe { _mm_loadl_epi64(p.add(q6_k::SCALES + 8 * h).cast()) };
    let order = _mm_setr_epi8(0, 0, 2, 2, 4, 4, 6, 6, 1, 1, 3, 3, 5, 5, 7, 7);
    _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc, order))
}

/// From [`half_scales`] `s`, the sub-scales of block `4h + K`: `[sc[8h + 2K]; 8]` in
/// the low 128-bit lane, `[sc[8h + 2K + 1]; 8]` in the high one.
#[target_feature(enable = "avx2")]
#[inline]
fn pick_scales<const K: usize>(s: __m256i) -> __m256i {
    match K {
        0 => _mm256_shuffle_epi32::<0x00>(s),
        1 => _mm256_shuffle_epi32::<0x55>(s),
        2 => _mm256_shuffle_epi32::<0xAA>(s),
        _ => _mm256_shuffle_epi32::<0xFF>(s),
    }
}

/// The little-endian f16 scale `d` of the super-block at `p`, as f32 (exact).
///
/// # Safety
/// F16C is available; `p` is valid for reads of a super-block.
#[target_feature(enable = "f16c")]
#[inline]
unsafe fn super_scale(p: *const u8) -> f32 {
    // SAFETY: bytes `D .. D + 2` lie inside the super-block (caller).
    unsafe { f16_at(p.add(q6_k::D)) }
}

impl HeadTile for Q6K {
    unsafe fn rows(
        rows: [*const u8; ROWS],
        codes: *const i8,
        scales: *const f32,
        _bsums8: *const i32,
        blocks: usize,
    ) -> [f32; ROWS] {
        // SAFETY: the trait's contract, which is `rows_dots`'s (AVX2, FMA and F16C are
        // this path's features; `Q6_K` rows make `blocks` a multiple of 8).
        unsafe { rows_dots(rows, codes, scales, blocks) }
    }

    unsafe fn group(
        row: *const u8,
        codes: *const i8,
        scales: *const f32,
        _bsums8: *const i32,
        blocks: usize,
    ) -> [f32; GROUP] {
        // SAFETY: as in `rows`, `group_dots`'s contract.
        unsafe { group_dots(row, codes, scales, blocks) }
    }
}

/// Eight `i32` partial sums whose total is `isum_b` for block `4h + K` of the
/// super-block at `p` (the half's [`half_scales`] `sc`) and the block's 32 activation
/// codes `x`, with `x32` the `i16` pair sums of `32 · x` (shared by the rows).
///
/// # Safety
/// AVX2 is available; `p` is valid for reads of a super-block; `x` holds codes in
/// `-127..=127`; `h < 2`, `K < 4`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn row_partials<const K: usize>(
    p: *const u8,
    sc: __m256i,
    x: __m256i,
    x32: __m256i,
    h: usize,
) -> __m256i {
    // SAFETY: the caller's contract.
    let q = unsafe { raw::<K>(p, h) };
    // Pair sums of `q · x` (at most 2 · 63 · 127 = 16002) minus those of `32 · x`: the
    // pair sums of `(q - 32) · x`, exact in `i16`.
    let p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q, x), x32);
    _mm256_madd_epi16(p16, pick_scales::<K>(sc))
}

/// One block of [`rows_dots`]: block `j = 4h + K` of the 4 rows' super-blocks (at `p`,
/// the half's [`half_scales`] `sc`, super-scales `dw`) against the token's codes and scales for the
/// same 256 values (`codes`, `scales`: from the super-block's first value and block);
/// returns the updated accumulator.
///
/// # Safety
/// AVX2, FMA and F16C are available; every `p[r]` is valid for reads of a super-block;
/// `codes` and `scales` hold block `j` (32 codes in `-127..=127` at `32j`, a scale at
/// `j`); `h < 2`, `K < 4`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn rows_block<const K: usize>(
    acc: __m128,
    p: &[*const u8; ROWS],
    sc: &[__m256i; ROWS],
    dw: __m128,
    codes: *const i8,
    scales: *const f32,
    h: usize,
) -> __m128 {
    let j = 4 * h + K;
    // SAFETY: block `j`'s 32 codes and scale are in bounds (caller); unaligned load.
    let (x, dx) = unsafe { (_mm256_loadu_si256(codes.add(BLOCK_VALUES * j).cast()), *scales.add(j)) };
    // Pair sums of `32 · x`: `32 · 2 · 127` at most.
    let x32 = _mm256_slli_epi16::<5>(_mm256_maddubs_epi16(_mm256_set1_epi8(1), x));
    // SAFETY: every `p[r]` is a readable super-block, `h < 2`, `K < 4` (caller).
    let isum = unsafe {
        hsum4([
            row_partials::<K>(p[0], sc[0], x, x32, h),
            row_partials::<K>(p[1], sc[1], x, x32, h),
            row_partials::<K>(p[2], sc[2], x, x32, h),
            row_partials::<K>(p[3], sc[3], x, x32, h),
        ])
    };
    _mm_fmadd_ps(_mm_cvtepi32_ps(isum), _mm_mul_ps(dw, _mm_set1_ps(dx)), acc)
}

/// One token against [`ROWS`] rows (lane `r`: row `r`): per activation block, the four
/// rows' exact `isum_b`, converted, FMA'd with `d_r · d_x,b` into lane `r`.
///
/// # Safety
/// AVX2, FMA and F16C are available; `blocks` is a multiple of 8; every `rows[r]` is
/// valid for reads of `blocks / 8` super-blocks, `codes` for `32 · blocks` codes in
/// `-127..=127`, `scales` for `blocks` elements.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn rows_dots(
    rows: [*const u8; ROWS],
    codes: *const i8,
    scales: *const f32,
    blocks: usize,
) -> [f32; ROWS] {
    let mut acc = _mm_setzero_ps();
    for s in 0..blocks / PER {
        // SAFETY: `s < blocks / 8`: super-block `s` of every row and the token's blocks
        // `8s .. 8s + 8` are in bounds (caller's contract).
        unsafe {
            let p = rows.map(|r| r.add(s * q6_k::BLOCK_BYTES));
            for p in p {
                // Only a hint: a prefetch never faults, and addresses past the row are
                // only computed (wrapping), never read.
                let ahead = p.wrapping_add(PREFETCH_AHEAD);
                for off in (0..q6_k::BLOCK_BYTES).step_by(64) {
                    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(off).cast());
                }
            }
            let dw = _mm_setr_ps(super_scale(p[0]), super_scale(p[1]), super_scale(p[2]), super_scale(p[3]));
            let (x, dx) = (codes.add(q6_k::BLOCK_VALUES * s), scales.add(PER * s));
            for h in 0..2 {
                let sc = p.map(|p| half_scales(p, h));
                acc = rows_block::<0>(acc, &p, &sc, dw, x, dx, h);
                acc = rows_block::<1>(acc, &p, &sc, dw, x, dx, h);
                acc = rows_block::<2>(acc, &p, &sc, dw, x, dx, h);
                acc = rows_block::<3>(acc, &p, &sc, dw, x, dx, h);
            }
        }
    }
    let mut out = [0f32; ROWS];
    // SAFETY: `out` holds 4 f32s; unaligned store.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), acc) };
    out
}

/// `acc + maddubs(|c|, sign(x, c))` with `c` = 32-bit lane `IMM & 3` of each 128-bit
/// lane of `w` (which holds the same 16 codes in both lanes) broadcast to the lane, and
/// `x` the 32 interleaved codes at `x`: one 4-value chunk of 8 tokens.
///
/// # Safety
/// AVX2 is available; `x` is valid for reads of 32 codes in `-127..=127`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn group_chunk<const IMM: i32>(acc: __m256i, w: __m256i, x: *const i8) -> __m256i {
    let c = _mm256_shuffle_epi32::<IMM>(w);
    // SAFETY: 32 readable codes (caller); unaligned load.
    let x = unsafe { _mm256_loadu_si256(x.cast()) };
    _mm256_add_epi16(acc, _mm256_maddubs_epi16(_mm256_abs_epi8(c), _mm256_sign_epi8(x, c)))
}

/// One block of [`group_dots`]: block `j = 4h + K` of the row's super-block (at `p`,
/// super-scale `dw` in every lane) against the 8 interleaved tokens' codes and scales
/// for the same 256 values (`codes`, `scales`: from the super-block's first block);
/// returns the updated accumulator.
///
/// # Safety
/// AVX2, FMA and F16C are available; `p` is valid for reads of a super-block; `codes`
/// and `scales` hold the group's block `j` (256 codes in `-127..=127` at `256j`, 8
/// scales at `8j`); `h < 2`, `K < 4`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn group_block<const K: usize>(
    acc: __m256,
    p: *const u8,
    dw: __m256,
    codes: *const i8,
    scales: *const f32,
    h: usize,
) -> __m256 {
    let j = 4 * h + K;
    // SAFETY: the super-block is readable, `h < 2`, `K < 4`; the group's block `j`
    // (256 codes, 8 scales) and the scale bytes `SCALES + 2j, + 1` (`2j + 1 < 16`) are
    // in bounds (caller); unaligned loads.
    unsafe {
        let w = weights::<K>(p, h);
        // Values 0..16 (sub-block 2j) and 16..32 (2j + 1), each in both 128-bit lanes.
        let (wa, wb) = (_mm256_permute2x128_si256::<0x00>(w, w), _mm256_permute2x128_si256::<0x11>(w, w));
        let x = codes.add(GROUP * BLOCK_VALUES * j);
        let z = _mm256_setzero_si256();
        let a = group_chunk::<0x00>(z, wa, x);
        let a = group_chunk::<0x55>(a, wa, x.add(32));
        let a = group_chunk::<0xAA>(a, wa, x.add(64));
        let a = group_chunk::<0xFF>(a, wa, x.add(96));
        let c = group_chunk::<0x00>(z, wb, x.add(128));
        let c = group_chunk::<0x55>(c, wb, x.add(160));
        let c = group_chunk::<0xAA>(c, wb, x.add(192));
        let c = group_chunk::<0xFF>(c, wb, x.add(224));
        let sa = _mm256_set1_epi16(i16::from(*p.add(q6_k::SCALES + 2 * j) as i8));
        let sb = _mm256_set1_epi16(i16::from(*p.add(q6_k::SCALES + 2 * j + 1) as i8));
        let isum = _mm256_add_epi32(_mm256_madd_epi16(a, sa), _mm256_madd_epi16(c, sb));
        let dx = _mm256_loadu_ps(scales.add(GROUP * j));
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, dx), acc)
    }
}

/// One row against 8 interleaved tokens (lane `l`: token `l`): per activation block,
/// the 8 exact `isum_b`, converted, FMA'd with `d · d_x,l` into lane `l`.
///
/// # Safety
/// AVX2, FMA and F16C are available; `blocks` is a multiple of 8; `row` is valid for
/// reads of `blocks / 8` super-blocks, `codes` for `256 · blocks` codes in
/// `-127..=127`, `scales` for `8 · blocks` elements.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn group_dots(row: *const u8, codes: *const i8, scales: *const f32, blocks: usize) -> [f32; GROUP] {
    let mut acc = _mm256_setzero_ps();
    for s in 0..blocks / PER {
        // SAFETY: `s < blocks / 8`: super-block `s` of the row and the group's blocks
        // `8s .. 8s + 8` are in bounds (caller's contract).
        unsafe {
            let p = row.add(s * q6_k::BLOCK_BYTES);
            let dw = _mm256_set1_ps(super_scale(p));
            let (x, dx) = (codes.add(GROUP * q6_k::BLOCK_VALUES * s), scales.add(GROUP * PER * s));
            for h in 0..2 {
                acc = group_block::<0>(acc, p, dw, x, dx, h);
                acc = group_block::<1>(acc, p, dw, x, dx, h);
                acc = group_block::<2>(acc, p, dw, x, dx, h);
                acc = group_block::<3>(acc, p, dw, x, dx, h);
            }
        }
    }
    let mut out = [0f32; GROUP];
    // SAFETY: `out` holds 8 f32s; unaligned store.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), acc) };
    out
}
