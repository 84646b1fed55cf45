//! The AVX-512 VNNI tile kernels: `vpdpbusd` on 256-bit vectors
//! (`_mm256_dpbusd_epi32`, AVX-512 VNNI + VL).
//!
//! Same block decode and tiling as the AVX2 path ([`super::avx2`]); where AVX2 needs a
//! `maddubs` into `i16` lanes and a `madd` to widen, one `dpbusd` multiplies `u8` codes
//! by `i8` activations and adds each group of four products straight into an `i32`
//! lane: no `i16` stage, no saturation, exact, no chunking. GEMV keeps four
//! accumulators per row (one per code vector of a block) so consecutive `dpbusd`s are
//! independent; the GEMM tile walks a block quarter by quarter, its `R × T`
//! accumulators being the independent chains.
//!
//! **The instruction itself is untested on the development machine** (AMD EPYC Zen 3,
//! AVX2 only; QEMU's TCG has no AVX-512 either): the path is reached only after
//! run-time detection of `avx512f`, `avx512bw`, `avx512vl` and `avx512vnni`, and the
//! equivalence tests (`kernels/tests/simd.rs`) run it automatically on a CPU that has
//! them. The *kernel* is tested everywhere: the tile bodies are written once
//! (`vnni_tile!`) and also instantiated, in this module's unit tests, with an exact
//! AVX2 emulation of `vpdpbusd` (for codes in `0..=2` a `maddubs` pair never saturates,
//! so `madd(maddubs(c, x), 1)` added to the accumulator is the same `i32`), which is
//! compared with the scalar reference on random shapes.
//!
//! The 256-bit form keeps one block per register, the same layout as AVX2. On CPUs with
//! two 512-bit VNNI ports a 512-bit version (two rows per register, activations
//! broadcast with `vbroadcasti64x4`) could double GEMM throughput; not written.

use std::arch::x86_64::*;

use super::{
    code_q, hsum, hsum4, lane_params, load_act_quarter, load_acts, load_block, load_codes, prefetch_next,
    scaled_step, Tile,
};
use crate::ternary::PackedBlock;

/// The AVX-512 VNNI path.
pub(crate) struct Vnni;

/// `acc + Σ` of each group of four `u8 × i8` products: `vpdpbusd`.
#[target_feature(enable = "avx512f,avx512vl,avx512vnni")]
#[inline]
fn dpbusd(acc: __m256i, c: __m256i, x: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(acc, c, x)
}

/// Writes `impl Tile for $path` with the VNNI tile bodies, enabling `$features` and
/// using `$dp` as `vpdpbusd` (the real instruction, or the tests' AVX2 emulation).
macro_rules! vnni_tile {
    ($path:ty, $features:literal, $dp:ident) => {
        impl Tile for $path {
            #[target_feature(enable = $features)]
            unsafe fn dots<const R: usize, const T: usize>(
                rows: &[*const PackedBlock; R],
                xs: &[*const i8; T],
                bpr: usize,
            ) -> [[i32; T]; R] {
                let mut out = [[0i32; T]; R];
                if T == 1 {
                    // GEMV: the token's block stays in registers for all R rows; four
                    // accumulators per row.
                    let mut acc = [[_mm256_setzero_si256(); 4]; R];
                    for b in 0..bpr {
                        prefetch_next::<R>(rows[0], bpr, b);
                        // SAFETY: `b < bpr`; the trait contract makes every row valid
                        // for `bpr` blocks and every token for `128 · bpr` bytes.
                        let x = unsafe { load_acts(xs[0], b) };
                        for (row, acc) in rows.iter().zip(acc.iter_mut()) {
                            // SAFETY: as above.
                            let c = unsafe { load_codes(*row, b) };
                            for k in 0..4 {
                                acc[k] = $dp(acc[k], c[k], x[k]);
                            }
                        }
                    }
                    for (o, a) in out.iter_mut().zip(&acc) {
                        let s = _mm256_add_epi32(_mm256_add_epi32(a[0], a[1]), _mm256_add_epi32(a[2], a[3]));
                        o[0] = hsum(s);
                    }
                    return out;
                }
                // GEMM: one 32-column quarter of a block at a time (R raw rows, R decoded
                // quarters, one activation vector, R × T accumulators in registers).
                let mut acc = [[_mm256_setzero_si256(); T]; R];
                for b in 0..bpr {
                    prefetch_next::<R>(rows[0], bpr, b);
                    let mut raw = [_mm256_setzero_si256(); R];
                    for (v, row) in raw.iter_mut().zip(rows) {
                        // SAFETY: as above.
                        *v = unsafe { load_block(*row, b) };
                    }
                    for q in 0..4 {
                        let c = match q {
                            0 => raw.map(|v| code_q::<6>(v)),
                            1 => raw.map(|v| code_q::<4>(v)),
                            2 => raw.map(|v| code_q::<2>(v)),
                            _ => raw.map(|v| code_q::<0>(v)),
                        };
                        for (j, p) in xs.iter().enumerate() {
                            // SAFETY: as above; `q < 4`.
                            let x = unsafe { load_act_quarter(*p, b, q) };
                            for (c, acc) in c.iter().zip(acc.iter_mut()) {
                                acc[j] = $dp(acc[j], *c, x);
                            }
                        }
                    }
                }
                for (o, a) in out.iter_mut().zip(&acc) {
                    for (o, a) in o.iter_mut().zip(a) {
                        *o = hsum(*a);
                    }
                }
                out
            }

            #[target_feature(enable = $features)]
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
                            let lo = $dp(_mm256_setzero_si256(), c[0], x[0]);
                            let lo = $dp(lo, c[1], x[1]);
                            let hi = $dp(_mm256_setzero_si256(), c[2], x[2]);
                            let hi = $dp(hi, c[3], x[3]);
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
    };
}

vnni_tile!(Vnni, "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni", dpbusd);

#[cfg(test)]
mod tests {
    //! The VNNI tile bodies with `vpdpbusd` emulated in AVX2, against the scalar
    //! reference (see the module docs); runs on any AVX2 CPU.

    use std::arch::x86_64::*;

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::super::{
        code_q, hsum, hsum4, lane_params, load_act_quarter, load_acts, load_block, load_codes, prefetch_next,
        scaled_step, Tile,
    };
    use crate::scalar::ternary as reference;
    use crate::simd::ternary as driver;
    use crate::ternary::PackedBlock;
    use crate::{QuantizedBatch, Scales, TernaryMatrix};

    /// The VNNI kernels with [`dpbusd_avx2`] in place of the instruction.
    struct VnniOnAvx2;

    /// `vpdpbusd` for `c` in `0..=2` (ternary codes): a `maddubs` pair lies in
    /// `[-512, 508]`, so no saturation, and `madd` by 1 sums the pairs into the same
    /// four-product groups.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn dpbusd_avx2(acc: __m256i, c: __m256i, x: __m256i) -> __m256i {
        let pairs = _mm256_maddubs_epi16(c, x);
        _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }

    vnni_tile!(VnniOnAvx2, "avx2,fma", dpbusd_avx2);

    fn avx2() -> bool {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }

    fn matrix(rng: &mut StdRng, rows: usize, cols: usize, per_block: bool) -> TernaryMatrix {
        let v: Vec<i8> = (0..rows * cols).map(|_| rng.random_range(-1i8..=1)).collect();
        let scales = if per_block {
            Scales::PerBlock((0..rows * cols.div_ceil(128)).map(|_| rng.random_range(0.01f32..3.0)).collect())
        } else {
            Scales::PerTensor(rng.random_range(0.01f32..3.0))
        };
        TernaryMatrix::from_values_with_scales(rows, cols, &v, scales).unwrap()
    }

    /// Raw int8 tokens over the full range, -128 included.
    fn batch(rng: &mut StdRng, n: usize, k: usize) -> QuantizedBatch {
        let v: Vec<i8> = (0..n * k).map(|_| rng.random()).collect();
        let s: Vec<f32> = (0..n).map(|_| rng.random_range(0.5f32..100.0)).collect();
        QuantizedBatch::from_raw(k, &v, &s).unwrap()
    }

    #[test]
    fn vnni_tiles_match_the_scalar_reference() {
        if !avx2() {
            eprintln!("note: no AVX2 here; the emulated VNNI tiles were not run");
            return;
        }
        let mut rng = StdRng::seed_from_u64(0x7e44);
        for case in 0..60 {
            let rows = rng.random_range(1..=19);
            let k = rng.random_range(1..=700);
            let n = [1, 2, 3, 4, 5, 8, 9, 17][case % 8];
            let per_block = case % 3 == 0;
            let w = matrix(&mut rng, rows, k, per_block);
            let xs = batch(&mut rng, n, k);
            let lo = rng.random_range(0..rows);
            let r = lo..rng.random_range(lo + 1..=rows);
            let nr = r.len();

            let (mut want_i, mut got_i) = (vec![0i32; n * nr], vec![0i32; n * nr]);
            reference::gemm_i32(&w, &xs, r.clone(), &mut want_i).unwrap();
            // SAFETY: AVX2 + FMA detected above, the emulated tiles' only features.
            unsafe { driver::gemm_i32::<VnniOnAvx2>(&w, &xs, r.clone(), &mut got_i) }.unwrap();
            assert_eq!(got_i, want_i, "gemm_i32 {rows}x{k}, n={n}, rows {r:?}");

            let (mut want, mut got) = (vec![0f32; n * nr], vec![0f32; n * nr]);
            reference::gemm(&w, &xs, r.clone(), &mut want).unwrap();
            // SAFETY: as above.
            unsafe { driver::gemm::<VnniOnAvx2>(&w, &xs, r.clone(), &mut got) }.unwrap();
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "gemm {rows}x{k}, n={n}, rows {r:?}, per-block {per_block}");

            for t in 0..n {
                let (mut want, mut got) = (vec![0f32; nr], vec![0f32; nr]);
                reference::gemv(&w, xs.token(t), r.clone(), &mut want).unwrap();
                // SAFETY: as above.
                unsafe { driver::gemv::<VnniOnAvx2>(&w, xs.token(t), r.clone(), &mut got) }.unwrap();
                assert_eq!(bits(&got), bits(&want), "gemv {rows}x{k}, token {t}, rows {r:?}");
            }
        }
    }
}
