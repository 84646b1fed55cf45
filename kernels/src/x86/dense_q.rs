//! `Q8_0` and `Q4_0` output-head GEMV / GEMM with AVX2 + FMA + F16C and **f32
//! activations**: each 32-value block's integer codes are widened to four 8-lane f32
//! vectors, dotted with the activations (one multiply, three FMAs), and the block sum is
//! FMA'd with the block's scale into the (row, token) accumulator: `Σ_b d_b Σ q x`, not
//! the scalar path's `Σ (d q) x`. GEMM reuses every decoded block for four tokens.
//!
//! This is not ggml's `vec_dot_q8_0_q8_0` / `vec_dot_q4_0_q8_0`, which first round the
//! activations to 8 bits; here the activations stay f32, so the results equal
//! "dequantize, then f32 dot" — the scalar path's definition — up to the order of the f32
//! sums (not bit for bit; the tests compare with a tolerance).

use std::arch::x86_64::*;
use std::ops::Range;

use crate::dense::DenseMatrix;
use crate::error::{check_len, KernelError};
use crate::formats::{q4_0, q8_0, GgmlType};
use crate::scalar::dense::check_rows;

/// Tokens per GEMM pass: one decoded block feeds this many tokens' FMAs.
const TOKENS: usize = 4;

/// Whether [`gemv`] / [`gemm`] apply: a `Q8_0` or `Q4_0` matrix on a CPU with AVX2, FMA
/// and F16C.
pub(crate) fn applies(w: &DenseMatrix) -> bool {
    matches!(w.ggml_type(), GgmlType::Q8_0 | GgmlType::Q4_0)
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// A block format the kernels decode.
trait Block {
    /// Bytes per 32-value block.
    const BYTES: usize;

    /// The block at `p`: its scale `d` broadcast, and its 32 integer codes as f32 (the
    /// value is `d × code`), as four 8-lane vectors (values `0..8`, `8..16`, `16..24`,
    /// `24..32`).
    ///
    /// # Safety
    /// AVX2, FMA and F16C are available; `p` is valid for reads of `BYTES` bytes.
    unsafe fn load(p: *const u8) -> (__m256, [__m256; 4]);
}

/// The block's f16 scale at `p`, broadcast.
///
/// # Safety
/// AVX2 and F16C are available; `p` is valid for reads of 2 bytes.
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn scale(p: *const u8) -> __m256 {
    // SAFETY: two readable bytes by the caller's contract; unaligned read.
    let bits = unsafe { p.cast::<u16>().read_unaligned() };
    let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(u16::from_le(bits)))));
    _mm256_set1_ps(d)
}

/// `Q8_0`: f16 `d`, 32 × i8.
struct Q8;

impl Block for Q8 {
    const BYTES: usize = q8_0::BLOCK_BYTES;

    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn load(p: *const u8) -> (__m256, [__m256; 4]) {
        // SAFETY: the 34 bytes at `p` are readable (caller); each 8-byte load at
        // `p + 2 + 8u` ends at most at byte 34; unaligned loads.
        unsafe {
            let q =
                |u: usize| _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(2 + 8 * u).cast())));
            (scale(p), [q(0), q(1), q(2), q(3)])
        }
    }
}

/// `Q4_0`: f16 `d`, 16 bytes of nibble pairs (low = values `0..16`, high = `16..32`);
/// code = nibble - 8.
struct Q4;

impl Block for Q4 {
    const BYTES: usize = q4_0::BLOCK_BYTES;

    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn load(p: *const u8) -> (__m256, [__m256; 4]) {
        // SAFETY: the 18 bytes at `p` are readable (caller); the 8-byte loads at `p + 2`
        // and `p + 10` end at byte 18; unaligned.
        unsafe {
            // Bytes 0..8 and 8..16, one per i32 lane: the low nibble is value `j`, the
            // high nibble value `j + 16`.
            let b0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.add(2).cast()));
            let b1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.add(10).cast()));
            let (m, eight) = (_mm256_set1_epi32(0x0F), _mm256_set1_epi32(8));
            let lo = |b: __m256i| _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(b, m), eight));
            let hi = |b: __m256i| _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32::<4>(b), eight));
            (scale(p), [lo(b0), lo(b1), hi(b0), hi(b1)])
        }
    }
}

/// Same contract as [`crate::scalar::dense::gemv`], for a `Q8_0` or `Q4_0` `w`.
///
/// # Safety
/// [`applies`] returned `true` for `w`.
pub(crate) unsafe fn gemv(
    w: &DenseMatrix,
    x: &[f32],
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    check_rows(w, &rows)?;
    check_len("dense activations", w.cols(), x.len())?;
    check_len("dense gemv output", rows.len(), out.len())?;
    let q4 = w.ggml_type() == GgmlType::Q4_0;
    for (o, r) in out.iter_mut().zip(rows) {
        // SAFETY: the caller checked the CPU features; the row holds `cols / 32` blocks
        // of the matrix's format and `x` holds `cols` f32s (checked above).
        let [v] = unsafe {
            if q4 {
                dots::<Q4, 1>(w.row_bytes(r), [x])
            } else {
                dots::<Q8, 1>(w.row_bytes(r), [x])
            }
        };
        *o = v;
    }
    Ok(())
}

/// Same contract as [`crate::scalar::dense::gemm`], for a `Q8_0` or `Q4_0` `w`.
///
/// # Safety
/// [`applies`] returned `true` for `w`.
pub(crate) unsafe fn gemm(
    w: &DenseMatrix,
    xs: &[f32],
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    check_rows(w, &rows)?;
    let k = w.cols();
    let n = xs.len().checked_div(k).unwrap_or(0);
    check_len("dense activations (tokens x cols)", n * k, xs.len())?;
    let nr = rows.len();
    check_len("dense gemm output (tokens x rows)", n * nr, out.len())?;
    // SAFETY: the caller checked the features; shapes checked above.
    unsafe {
        if w.ggml_type() == GgmlType::Q4_0 {
            gemm_rows::<Q4>(w, xs, n, rows, out);
        } else {
            gemm_rows::<Q8>(w, xs, n, rows, out);
        }
    }
    Ok(())
}

/// The GEMM loop for block format `B`: per row, tokens four at a time, then one by one.
///
/// # Safety
/// AVX2, FMA and F16C are available; `w` is in format `B`, `rows` inside it, `xs` holds
/// `n × cols` f32s and `out` `n × rows.len()`.
unsafe fn gemm_rows<B: Block>(w: &DenseMatrix, xs: &[f32], n: usize, rows: Range<usize>, out: &mut [f32]) {
    let (k, nr) = (w.cols(), rows.len());
    for (i, r) in rows.enumerate() {
        let row = w.row_bytes(r);
        let mut t = 0;
        while t < n {
            let tok = |j: usize| &xs[(t + j) * k..(t + j + 1) * k];
            if n - t >= TOKENS {
                // SAFETY: the caller's contract; each token slice holds `k` f32s.
                let v = unsafe { dots::<B, TOKENS>(row, [tok(0), tok(1), tok(2), tok(3)]) };
                for (j, v) in v.into_iter().enumerate() {
                    out[(t + j) * nr + i] = v;
                }
                t += TOKENS;
            } else {
                // SAFETY: as above.
                let [v] = unsafe { dots::<B, 1>(row, [tok(0)]) };
                out[t * nr + i] = v;
                t += 1;
            }
        }
    }
}

/// `Σ_k dequant(row)[k] · x_j[k]` for each of the `T` token vectors: per block
/// `d · Σ code · x` (the codes are small integers, exact in f32), accumulated with FMAs
/// into two accumulators per token (even and odd blocks).
///
/// # Safety
/// AVX2, FMA and F16C are available; every `xs[j]` has the same length `len`, a multiple
/// of 32, and `row` holds `len / 32` blocks of format `B`.
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::needless_range_loop)] // (token, lane) indexes into the accumulator grid
unsafe fn dots<B: Block, const T: usize>(row: &[u8], xs: [&[f32]; T]) -> [f32; T] {
    let len = xs[0].len();
    let blocks = len / 32;
    debug_assert!(
        len.is_multiple_of(32) && row.len() >= blocks * B::BYTES && xs.iter().all(|x| x.len() == len)
    );
    let mut acc = [[_mm256_setzero_ps(); 2]; T];
    for b in 0..blocks {
        // SAFETY: block `b < len / 32` lies inside `row` (caller's contract).
        let (d, q) = unsafe { B::load(row.as_ptr().add(b * B::BYTES)) };
        for j in 0..T {
            // SAFETY: `32b + 32 <= len`: the 4 × 8 f32s are inside `xs[j]`; unaligned.
            let x = |u: usize| unsafe { _mm256_loadu_ps(xs[j].as_ptr().add(32 * b + 8 * u)) };
            let mut t = _mm256_mul_ps(q[0], x(0));
            t = _mm256_fmadd_ps(q[1], x(1), t);
            t = _mm256_fmadd_ps(q[2], x(2), t);
            t = _mm256_fmadd_ps(q[3], x(3), t);
            acc[j][b & 1] = _mm256_fmadd_ps(d, t, acc[j][b & 1]);
        }
    }
    let mut out = [0f32; T];
    for j in 0..T {
        let s = _mm256_add_ps(acc[j][0], acc[j][1]);
        let q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
        let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let q = _mm_add_ss(q, _mm_shuffle_ps::<1>(q, q));
        out[j] = _mm_cvtss_f32(q);
    }
    out
}
