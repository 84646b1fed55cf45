//! F16 output-head GEMV / GEMM with AVX2 + F16C + FMA: 8 weights per `vcvtph2ps`, four
//! independent 8-lane accumulators per (row, token), an FMA per 8 weights. The output
//! head of BitNet b1.58 2B4T is a 128256 × 2560 F16 matrix (657 MB, read once per decoded
//! token), so this loop is most of a decode step's memory traffic.
//!
//! Results are f32 sums in a different order from the scalar path (which adds each
//! 256-value chunk sequentially), so they agree to rounding, not bit for bit; the tests
//! compare with a tolerance.

use std::arch::x86_64::*;
use std::ops::Range;

use crate::dense::DenseMatrix;
use crate::error::{check_len, KernelError};
use crate::formats::GgmlType;
use crate::scalar::dense::check_rows;

/// Tokens per GEMM pass: one converted weight vector feeds this many FMAs.
const TOKENS: usize = 4;

/// Whether [`gemv`] / [`gemm`] apply: an F16 matrix on a CPU with AVX2, FMA and F16C.
pub(crate) fn applies(w: &DenseMatrix) -> bool {
    w.ggml_type() == GgmlType::F16
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// Same contract as [`crate::scalar::dense::gemv`], for an F16 `w`.
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
    for (o, r) in out.iter_mut().zip(rows) {
        // SAFETY: the caller checked the CPU features; the row holds `cols` f16 values
        // and `x` holds `cols` f32s (checked above).
        let [v] = unsafe { dots::<1>(w.row_bytes(r), [x]) };
        *o = v;
    }
    Ok(())
}

/// Same contract as [`crate::scalar::dense::gemm`], for an F16 `w`.
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
    for (i, r) in rows.enumerate() {
        let row = w.row_bytes(r);
        let mut t = 0;
        while t < n {
            let tok = |j: usize| &xs[(t + j) * k..(t + j + 1) * k];
            if n - t >= TOKENS {
                // SAFETY: features checked by the caller; each token slice holds `k` f32s.
                let v = unsafe { dots::<TOKENS>(row, [tok(0), tok(1), tok(2), tok(3)]) };
                for (j, v) in v.into_iter().enumerate() {
                    out[(t + j) * nr + i] = v;
                }
                t += TOKENS;
            } else {
                // SAFETY: as above.
                let [v] = unsafe { dots::<1>(row, [tok(0)]) };
                out[t * nr + i] = v;
                t += 1;
            }
        }
    }
    Ok(())
}

/// `Σ_k f16(row[k]) · x_j[k]` for each of the `T` token vectors.
///
/// # Safety
/// AVX2, FMA and F16C are available; `row` holds `2 × len` bytes (little-endian f16) and
/// every `xs[j]` has the same `len` elements.
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::needless_range_loop)] // (token, lane) indexes into the accumulator grid
unsafe fn dots<const T: usize>(row: &[u8], xs: [&[f32]; T]) -> [f32; T] {
    let len = xs[0].len();
    debug_assert!(row.len() >= 2 * len && xs.iter().all(|x| x.len() == len));
    let w = row.as_ptr();
    let mut acc = [[_mm256_setzero_ps(); 4]; T];
    let mut k = 0;
    while k + 32 <= len {
        for u in 0..4 {
            // SAFETY: `k + 8u + 8 <= len`, so the 16 bytes at `w + 2(k + 8u)` and the 8
            // f32s at `xs[j] + k + 8u` are in bounds; unaligned loads.
            let wv = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(w.add(2 * (k + 8 * u)).cast()) });
            for j in 0..T {
                let xv = unsafe { _mm256_loadu_ps(xs[j].as_ptr().add(k + 8 * u)) };
                acc[j][u] = _mm256_fmadd_ps(wv, xv, acc[j][u]);
            }
        }
        k += 32;
    }
    let mut out = [0f32; T];
    for j in 0..T {
        let s = _mm256_add_ps(_mm256_add_ps(acc[j][0], acc[j][1]), _mm256_add_ps(acc[j][2], acc[j][3]));
        let hi = _mm256_extractf128_ps(s, 1);
        let q = _mm_add_ps(_mm256_castps256_ps128(s), hi);
        let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
        out[j] = _mm_cvtss_f32(q);
        for kk in k..len {
            let bits = u16::from_le_bytes([row[2 * kk], row[2 * kk + 1]]);
            out[j] += half::f16::from_bits(bits).to_f32() * xs[j][kk];
        }
    }
    out
}
