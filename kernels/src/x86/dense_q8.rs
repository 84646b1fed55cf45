//! `Q8_0` and `Q4_0` output-head GEMV / GEMM with AVX2 + FMA + F16C and **`Q8_0`-block
//! activations** ([`Q8Acts`]): integer dots per 32-value block, as ggml's AVX2
//! `ggml_vec_dot_q8_0_q8_0` / `ggml_vec_dot_q4_0_q8_0`, but **bit-identical to the scalar
//! reference** ([`crate::scalar::dense_q8`]): every kernel reduces each block to its
//! exact integer dot `isum_b` (below 2²⁴ in magnitude, so exact in f32) and then runs the
//! reference's f32 step `acc = fma(isum_b, d_w,b · d_x,b, acc)` in ascending `b`, one f32
//! lane per (row, token). So results do not depend on the path, the batch size, the
//! tiling or the split of rows across threads.
//!
//! Two kernels:
//!
//! - **Rows as lanes** ([`HeadTile::rows`]: GEMV, and GEMM tails): one token against
//!   4 rows. Per row and block, `maddubs` of weight and activation bytes
//!   (16 `i16` pair sums) and a `madd` with ones (8 `i32` partial sums); the four rows'
//!   partial sums are reduced together (`hsum4`) into one 4-lane vector of exact block
//!   dots, converted, and FMA'd with the 4 rows' `d_w · d_x`.
//! - **Tokens as lanes** ([`HeadTile::group`]: GEMM groups of 8 tokens): one row against
//!   8 tokens, from the activations' interleaved copy (per block, 8 chunks of 4
//!   values × 8 tokens): each 4-byte chunk of the weight block is broadcast to all 8
//!   lanes, so one `maddubs` covers 4 values of 8 tokens and the 32-bit lanes of the
//!   widened sums are tokens: no horizontal reduction, and one conversion and FMA per
//!   block for 8 tokens.
//!
//! Byte products: `Q8_0` codes are signed, so `maddubs(|w|, sign(x, w))` (ggml's sign
//! transfer). `Q4_0` nibbles stay unsigned: `maddubs(nibble, x)`, and the offset of the
//! codes `nibble - 8` is taken off the integer sum as `8 · Σ x`, which the activations
//! carry per block. No saturation: `|w| ≤ 128` as an unsigned byte (a `Q8_0` code of
//! -128 included) and `|x| ≤ 127` (a [`Q8Acts`] invariant) bound each `i16` pair sum by
//! `2 · 128 · 127 = 32512`; `Q4_0` pair sums are at most `2 · 15 · 127 = 3810`, so the
//! group kernel adds a block's eight in `i16` (at most 30480) before widening once.
//!
//! The GEMM loop and the tiling around these kernels are the shared driver's,
//! [`crate::simd::dense_q8`]. `Q6_K` matrices take the same entry points ([`gemv`],
//! [`gemm`]) with their own tile, [`super::dense_q6k`].

use std::arch::x86_64::*;
use std::ops::Range;

use super::dense_q6k::Q6K;
use super::hsum4;
use crate::dense::DenseMatrix;
use crate::error::KernelError;
use crate::formats::{q4_0, q8_0, GgmlType};
use crate::quant_q8::{Q8Acts, GROUP};
use crate::simd::dense_q8::{self, HeadTile, ROWS};

/// Whether [`gemv`] / [`gemm`] apply: a `Q8_0`, `Q4_0` or `Q6_K` matrix on a CPU with
/// AVX2, FMA and F16C.
pub(crate) fn applies(w: &DenseMatrix) -> bool {
    matches!(w.ggml_type(), GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q6K)
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// A weight block format: its byte products with activation codes. "Raw codes" are the
/// stored integers: `Q8_0` codes, or `Q4_0` nibbles (the code being `nibble - 8`).
trait Block {
    /// Bytes per 32-value block (an f16 scale, then the codes).
    const BYTES: usize;

    /// Whether the raw codes are `Q4_0` nibbles: the exact dot is then the raw dot
    /// minus `8 · Σ x`.
    const NIBBLES: bool;

    /// Eight `i32` partial sums whose total is `Σ raw code · x` over the block at `p`
    /// and the 32 activation codes `x` (in value order).
    ///
    /// # Safety
    /// AVX2 is available; `p` is valid for reads of `BYTES` bytes; `x` holds codes in
    /// `-127..=127`.
    unsafe fn partials(p: *const u8, x: __m256i) -> __m256i;

    /// `Σ raw code · x` for 8 interleaved tokens (lane `l`: token `l`): `x` points at
    /// the block's 8 chunks of 32 bytes (chunk `k`: values `4k .. 4k + 4` of each token).
    ///
    /// # Safety
    /// AVX2 is available; `p` is valid for reads of `BYTES` bytes, `x` of 256 codes in
    /// `-127..=127`.
    unsafe fn group_raw(p: *const u8, x: *const i8) -> __m256i;
}

/// The 4 bytes at `p` broadcast to every 32-bit lane.
///
/// # Safety
/// AVX2 is available; `p` is valid for reads of 4 bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn splat4(p: *const u8) -> __m256i {
    // SAFETY: four readable bytes (caller); unaligned read.
    _mm256_set1_epi32(unsafe { p.cast::<i32>().read_unaligned() })
}

/// The little-endian f16 bits at `p`.
///
/// # Safety
/// `p` is valid for reads of 2 bytes.
#[inline]
unsafe fn f16_bits(p: *const u8) -> i16 {
    // SAFETY: two readable bytes (caller); unaligned read.
    i16::from_le(unsafe { p.cast::<i16>().read_unaligned() })
}

/// The little-endian f16 at `p`, as f32 (exact; F16C).
///
/// # Safety
/// F16C is available; `p` is valid for reads of 2 bytes.
#[target_feature(enable = "f16c")]
#[inline]
pub(super) unsafe fn f16_at(p: *const u8) -> f32 {
    // SAFETY: two readable bytes (caller).
    let bits = unsafe { f16_bits(p) } as u16;
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
}

/// `Q8_0`: f16 `d`, 32 × i8.
struct Q8;

impl Block for Q8 {
    const BYTES: usize = q8_0::BLOCK_BYTES;
    const NIBBLES: bool = false;

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn partials(p: *const u8, x: __m256i) -> __m256i {
        // SAFETY: bytes `2 .. 34` of the block are readable (caller); unaligned.
        let w = unsafe { _mm256_loadu_si256(p.add(2).cast()) };
        let p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
        _mm256_madd_epi16(p16, _mm256_set1_epi16(1))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn group_raw(p: *const u8, x: *const i8) -> __m256i {
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_si256();
        for k in 0..8 {
            // SAFETY: bytes `2 + 4k .. 6 + 4k <= 34` of the block and bytes
            // `32k .. 32k + 32 <= 256` of `x` are readable (caller); unaligned.
            let (w, xk) = unsafe { (splat4(p.add(2 + 4 * k)), _mm256_loadu_si256(x.add(32 * k).cast())) };
            let p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(xk, w));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
        }
        acc
    }
}

/// `Q4_0`: f16 `d`, 16 bytes of nibble pairs (low = values `0..16`, high = `16..32`);
/// code = nibble - 8.
struct Q4;

impl Block for Q4 {
    const BYTES: usize = q4_0::BLOCK_BYTES;
    const NIBBLES: bool = true;

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn partials(p: *const u8, x: __m256i) -> __m256i {
        // SAFETY: bytes `2 .. 18` of the block are readable (caller); unaligned.
        let b = unsafe { _mm_loadu_si128(p.add(2).cast()) };
        // Low 128-bit lane: the low nibbles (values 0..16); high lane: the high nibbles
        // (values 16..32). The 16-bit shift pulls bits across bytes; the mask drops them.
        let nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(b), b), _mm256_set1_epi8(0x0F));
        _mm256_madd_epi16(_mm256_maddubs_epi16(nib, x), _mm256_set1_epi16(1))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn group_raw(p: *const u8, x: *const i8) -> __m256i {
        let m = _mm256_set1_epi8(0x0F);
        let mut s = _mm256_setzero_si256();
        for j in 0..4 {
            // SAFETY: bytes `2 + 4j .. 6 + 4j <= 18` of the block, bytes `32j .. 32j + 32`
            // and `32(4 + j) .. 32(4 + j) + 32 <= 256` of `x` are readable (caller).
            let (b, xlo, xhi) = unsafe {
                (
                    splat4(p.add(2 + 4 * j)),
                    _mm256_loadu_si256(x.add(32 * j).cast()),
                    _mm256_loadu_si256(x.add(32 * (4 + j)).cast()),
                )
            };
            // Low nibbles: values 4j .. 4j + 4 (chunk j); high: 16 + 4j .. (chunk 4 + j).
            let lo = _mm256_and_si256(b, m);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(b), m);
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(lo, xlo));
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(hi, xhi));
        }
        _mm256_madd_epi16(s, _mm256_set1_epi16(1))
    }
}

/// Same contract as [`crate::scalar::dense_q8::gemv`], and the same bits.
///
/// # Safety
/// [`applies`] returned `true` for `w`.
pub(crate) unsafe fn gemv(
    w: &DenseMatrix,
    x: &Q8Acts,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    // SAFETY: `applies` checked the features; the kernel matches `w`'s format.
    unsafe {
        match w.ggml_type() {
            GgmlType::Q4_0 => dense_q8::gemv::<Q4>(w, x, rows, out),
            GgmlType::Q6K => dense_q8::gemv::<Q6K>(w, x, rows, out),
            _ => dense_q8::gemv::<Q8>(w, x, rows, out),
        }
    }
}

/// Same contract as [`crate::scalar::dense_q8::gemm`], and the same bits.
///
/// # Safety
/// [`applies`] returned `true` for `w`.
pub(crate) unsafe fn gemm(
    w: &DenseMatrix,
    xs: &Q8Acts,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    // SAFETY: as in `gemv`.
    unsafe {
        match w.ggml_type() {
            GgmlType::Q4_0 => dense_q8::gemm::<Q4>(w, xs, rows, out),
            GgmlType::Q6K => dense_q8::gemm::<Q6K>(w, xs, rows, out),
            _ => dense_q8::gemm::<Q8>(w, xs, rows, out),
        }
    }
}

impl<B: Block> HeadTile for B {
    unsafe fn rows(
        rows: [*const u8; ROWS],
        codes: *const i8,
        scales: *const f32,
        bsums8: *const i32,
        blocks: usize,
    ) -> [f32; ROWS] {
        // SAFETY: the trait's contract, which is `rows_dots`'s (AVX2, FMA and F16C are
        // this path's features).
        unsafe { rows_dots::<B>(rows, codes, scales, bsums8, blocks) }
    }

    unsafe fn group(
        row: *const u8,
        codes: *const i8,
        scales: *const f32,
        bsums8: *const i32,
        blocks: usize,
    ) -> [f32; GROUP] {
        // SAFETY: as in `rows`, `group_dots`'s contract.
        unsafe { group_dots::<B>(row, codes, scales, bsums8, blocks) }
    }
}

/// One token against [`ROWS`] rows (lane `r`: row `r`): per block, the four exact
/// integer dots, converted, FMA'd with `d_w,r · d_x` into lane `r`.
///
/// # Safety
/// AVX2, FMA and F16C are available; every `rows[r]` is valid for reads of `blocks`
/// blocks of format `B`, `codes` for `32 · blocks` codes in `-127..=127`, `scales` and
/// `bsums8` for `blocks` elements.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn rows_dots<B: Block>(
    rows: [*const u8; ROWS],
    codes: *const i8,
    scales: *const f32,
    bsums8: *const i32,
    blocks: usize,
) -> [f32; ROWS] {
    let mut acc = _mm_setzero_ps();
    for b in 0..blocks {
        // SAFETY: `b < blocks`: block `b` of every row, the block's 32 codes, its scale
        // and offset are in bounds (caller's contract); unaligned loads.
        let (isum, dw, dx) = unsafe {
            let x = _mm256_loadu_si256(codes.add(32 * b).cast());
            let p = rows.map(|r| r.add(b * B::BYTES));
            let mut isum = hsum4([
                B::partials(p[0], x),
                B::partials(p[1], x),
                B::partials(p[2], x),
                B::partials(p[3], x),
            ]);
            if B::NIBBLES {
                isum = _mm_sub_epi32(isum, _mm_set1_epi32(*bsums8.add(b)));
            }
            let bits =
                _mm_setr_epi16(f16_bits(p[0]), f16_bits(p[1]), f16_bits(p[2]), f16_bits(p[3]), 0, 0, 0, 0);
            (isum, _mm_cvtph_ps(bits), _mm_set1_ps(*scales.add(b)))
        };
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(isum), _mm_mul_ps(dw, dx), acc);
    }
    let mut out = [0f32; ROWS];
    // SAFETY: `out` holds 4 f32s; unaligned store.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), acc) };
    out
}

/// One row against 8 interleaved tokens (lane `l`: token `l`): per block, the 8 exact
/// integer dots, converted, FMA'd with `d_w · d_x,l` into lane `l`.
///
/// # Safety
/// AVX2, FMA and F16C are available; `row` is valid for reads of `blocks` blocks of
/// format `B`, `codes` for `256 · blocks` codes in `-127..=127`, `scales` and `bsums8`
/// for `8 · blocks` elements.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn group_dots<B: Block>(
    row: *const u8,
    codes: *const i8,
    scales: *const f32,
    bsums8: *const i32,
    blocks: usize,
) -> [f32; GROUP] {
    let mut acc = _mm256_setzero_ps();
    for b in 0..blocks {
        // SAFETY: `b < blocks`: block `b` of the row, the block's 256 codes, 8 scales and
        // 8 offsets are in bounds (caller's contract); unaligned loads.
        let (isum, dw, dx) = unsafe {
            let p = row.add(b * B::BYTES);
            let mut isum = B::group_raw(p, codes.add(256 * b));
            if B::NIBBLES {
                isum = _mm256_sub_epi32(isum, _mm256_loadu_si256(bsums8.add(8 * b).cast()));
            }
            let dw = f16_at(p);
            (isum, _mm256_set1_ps(dw), _mm256_loadu_ps(scales.add(8 * b)))
        };
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, dx), acc);
    }
    let mut out = [0f32; GROUP];
    // SAFETY: `out` holds 8 f32s; unaligned store.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), acc) };
    out
}
