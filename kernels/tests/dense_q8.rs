//! Quantized output heads with `Q8_0`-block activations: the activation quantizer
//! against ggml's `quantize_row_q8_0_ref` (as `formats::q8_0::quantize` implements it),
//! the scalar `q8 x q8` / `q4 x q8` / `q6_K x q8` reference against exact integer
//! arithmetic on codes decoded here from the byte layouts, and the SIMD GEMV / GEMM
//! against the scalar reference **bit for bit** on random shapes, ragged row ranges,
//! token counts around the 8-token groups and row-chunk boundaries, extreme codes, and
//! hostile shapes.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_kernels::dispatch::{Kernels, Path};
use tern_kernels::formats::{q4_0, q8_0, GgmlType};
use tern_kernels::quant_q8::{quantize_block, Q8Acts};
use tern_kernels::scalar::{dense, dense_q8};
use tern_kernels::{DenseMatrix, KernelError};

/// The SIMD paths this CPU runs (notes when there are none).
fn simd_paths() -> Vec<Kernels> {
    let ks: Vec<Kernels> = Path::ALL
        .into_iter()
        .filter(|&p| p != Path::Scalar && p.is_implemented())
        .filter_map(|p| Kernels::with_path(p).ok())
        .collect();
    if ks.is_empty() {
        eprintln!("note: no SIMD path runs on this CPU; the SIMD checks are skipped");
    }
    ks
}

/// The quantized head formats.
const FORMATS: [GgmlType; 3] = [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q6K];

fn head(ty: GgmlType, rows: usize, cols: usize, rng: &mut StdRng) -> DenseMatrix {
    let bytes = match ty {
        GgmlType::Q6K => {
            // No Q6_K encoder in the crate: random super-blocks (every byte pattern is a
            // valid encoding: codes 0..=63, scales -128..=127) with a random finite `d`
            // of either sign (ggml's encoder gives negative ones too).
            let mut b: Vec<u8> = (0..rows * cols / 256 * 210).map(|_| rng.random()).collect();
            for blk in b.chunks_exact_mut(210) {
                let d = rng.random_range(1e-4f32..1e-2) * if rng.random() { 1.0 } else { -1.0 };
                blk[208..210].copy_from_slice(&half::f16::from_f32(d).to_le_bytes());
            }
            b
        }
        _ => {
            let vals: Vec<f32> = (0..rows * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            match ty {
                GgmlType::Q8_0 => q8_0::quantize(&vals).unwrap(),
                GgmlType::Q4_0 => q4_0::quantize(&vals).unwrap(),
                _ => unreachable!(),
            }
        }
    };
    DenseMatrix::new(ty, rows, cols, bytes).unwrap()
}

/// The centred codes `q - 32` and the 16 sub-scales of one `Q6_K` super-block, decoded
/// from ggml's `block_q6_K` layout (`ql[128]`, `qh[64]`, `scales[16]`, f16 `d`) as in
/// `dequantize_row_q6_K`, independently of the crate.
fn q6k_super_block(b: &[u8]) -> ([i32; 256], [i32; 16], f32) {
    let (ql, qh, sc) = (&b[..128], &b[128..192], &b[192..208]);
    let q = std::array::from_fn(|v| {
        // Value v: half h, and within it l + 32 * quarter.
        let (h, within) = (v / 128, v % 128);
        let (quarter, l) = (within / 32, within % 32);
        let low = ql[64 * h + l + 32 * (quarter % 2)];
        let low = if quarter < 2 { low & 15 } else { low >> 4 };
        let high = (qh[32 * h + l] >> (2 * quarter)) & 3;
        (low | high << 4) as i32 - 32
    });
    let sc = std::array::from_fn(|i| sc[i] as i8 as i32);
    (q, sc, half::f16::from_le_bytes([b[208], b[209]]).to_f32())
}

/// Row `r`'s integer weights per value and f32 weight scales per 32-value block, decoded
/// independently of the crate, such that a block's exact integer dot is
/// `Σ weight · x` over its 32 values: `Q8_0` codes, `Q4_0` nibbles - 8, `Q6_K`
/// `sc[sub-block] · (q - 32)` with the super-block's `d` for each of its 8 blocks.
fn codes(w: &DenseMatrix, r: usize) -> (Vec<i32>, Vec<f32>) {
    let (bytes, q4) = match w.ggml_type() {
        GgmlType::Q8_0 => (34, false),
        GgmlType::Q4_0 => (18, true),
        GgmlType::Q6K => {
            let (mut q, mut d) = (Vec::new(), Vec::new());
            for b in w.row_bytes(r).chunks_exact(210) {
                let (c, sc, dw) = q6k_super_block(b);
                q.extend((0..256).map(|v| sc[v / 16] * c[v]));
                d.extend([dw; 8]);
            }
            return (q, d);
        }
        _ => unreachable!(),
    };
    let mut q = Vec::new();
    let mut d = Vec::new();
    for b in w.row_bytes(r).chunks_exact(bytes) {
        d.push(half::f16::from_le_bytes([b[0], b[1]]).to_f32());
        if q4 {
            q.extend(b[2..].iter().map(|&v| (v & 15) as i32 - 8));
            q.extend(b[2..].iter().map(|&v| (v >> 4) as i32 - 8));
        } else {
            q.extend(b[2..].iter().map(|&v| v as i8 as i32));
        }
    }
    (q, d)
}

/// `(Σ_b d_w d_x isum_b, Σ_b |d_w d_x| Σ_k |q_w q_x|)` in f64 with exact i64 block dots.
fn exact(w: &DenseMatrix, r: usize, xs: &Q8Acts, t: usize) -> (f64, f64) {
    let (qw, dw) = codes(w, r);
    let (qx, dx) = (xs.codes(t), xs.scales(t));
    let (mut sum, mut mag) = (0f64, 0f64);
    for b in 0..dw.len() {
        let (mut isum, mut iabs) = (0i64, 0i64);
        for k in 32 * b..32 * b + 32 {
            isum += qw[k] as i64 * qx[k] as i64;
            iabs += (qw[k] as i64 * qx[k] as i64).abs();
        }
        let s = dw[b] as f64 * dx[b] as f64;
        sum += s * isum as f64;
        mag += s.abs() * iabs as f64;
    }
    (sum, mag)
}

/// Scalar reference against exact arithmetic (to f32 rounding), then every SIMD path's
/// GEMV and GEMM (and the dispatched f32-activation entry points) against the scalar
/// reference, bit for bit (the integer parts are exact and the f32 steps the same).
fn check(w: &DenseMatrix, xs: &[f32], rows: std::ops::Range<usize>) {
    let cols = w.cols();
    let acts = Q8Acts::from_f32(xs, cols).unwrap();
    let (n, nr) = (acts.n_tokens(), rows.len());
    let mut want = vec![0f32; n * nr];
    dense_q8::gemm(w, &acts, rows.clone(), &mut want).unwrap();
    for (i, r) in rows.clone().enumerate() {
        for t in 0..n {
            let (e, m) = exact(w, r, &acts, t);
            let got = want[t * nr + i] as f64;
            // Sequential f32 sums of `blocks` terms: within `blocks · 2^-23 · Σ|terms|`.
            let blocks = cols / 32;
            assert!(
                (got - e).abs() <= (blocks as f64 + 2.0) * 1.2e-7 * m + 1e-30,
                "scalar vs exact: {got} vs {e}"
            );
        }
    }
    let same = |g: f32, w: f32| g.to_bits() == w.to_bits();
    // The scalar path's dispatched entry points are the reference itself.
    let scalar = Kernels::scalar();
    let mut got = vec![0f32; n * nr];
    scalar.dense_gemm_q8(w, &acts, rows.clone(), &mut got).unwrap();
    assert_eq!(got, want);
    scalar.dense_gemm(w, xs, rows.clone(), &mut got).unwrap();
    assert_eq!(got, want);
    for k in simd_paths() {
        let mut got = vec![0f32; n * nr];
        k.dense_gemm_q8(w, &acts, rows.clone(), &mut got).unwrap();
        for (j, (&g, &wv)) in got.iter().zip(&want).enumerate() {
            assert!(
                same(g, wv),
                "{:?} {:?} gemm token {} row {}: {g} vs {wv}",
                k.path(),
                w.ggml_type(),
                j / nr.max(1),
                j % nr.max(1)
            );
        }
        // The f32-activation entry point quantizes the same way and runs the same code.
        let mut via_f32 = vec![0f32; n * nr];
        k.dense_gemm(w, xs, rows.clone(), &mut via_f32).unwrap();
        assert_eq!(
            via_f32,
            got,
            "{:?} {:?}: dense_gemm != quantize + dense_gemm_q8",
            k.path(),
            w.ggml_type()
        );
        for t in 0..n {
            let one = Q8Acts::from_f32(&xs[t * cols..(t + 1) * cols], cols).unwrap();
            let mut v = vec![0f32; nr];
            k.dense_gemv_q8(w, &one, rows.clone(), &mut v).unwrap();
            for (i, &g) in v.iter().enumerate() {
                let j = t * nr + i;
                assert!(same(g, want[j]), "{:?} {:?} gemv token {t} row {i}", k.path(), w.ggml_type());
            }
            let mut v32 = vec![0f32; nr];
            k.dense_gemv(w, &xs[t * cols..(t + 1) * cols], rows.clone(), &mut v32).unwrap();
            assert_eq!(v32, v, "{:?}: dense_gemv != quantize + dense_gemv_q8", k.path());
        }
    }
}

// ---- the activation quantizer ----

#[test]
fn activation_codes_are_ggml_quantize_row_q8_0_ref() {
    let mut rng = StdRng::seed_from_u64(31);
    for scale in [1e-30f32, 1e-3, 1.0, 1e4] {
        let x: Vec<f32> = (0..32 * 40).map(|_| rng.random_range(-scale..scale)).collect();
        let a = Q8Acts::from_f32(&x, 32 * 8).unwrap();
        assert_eq!((a.n_tokens(), a.cols(), a.blocks_per_token()), (5, 256, 8));
        // `formats::q8_0::quantize` is ggml's reference byte for byte (f16 `d`); the codes
        // are computed from the f32 `d` there too, so they must be equal, and our f32 `d`
        // must round to its f16 `d`.
        let ggml = q8_0::quantize(&x).unwrap();
        for (b, blk) in ggml.chunks_exact(34).enumerate() {
            let (t, bb) = (b / 8, b % 8);
            let q = &a.codes(t)[32 * bb..32 * bb + 32];
            assert!(q.iter().zip(&blk[2..]).all(|(&q, &g)| q == g as i8), "scale {scale} block {b}");
            let d = a.scales(t)[bb];
            let amax = x[32 * b..32 * b + 32].iter().fold(0f32, |m, v| m.max(v.abs()));
            assert_eq!(d, amax / 127.0);
            assert_eq!(half::f16::from_f32(d).to_le_bytes(), [blk[0], blk[1]]);
        }
        // Dequantized values are within half a step.
        let mut y = vec![0f32; 256];
        for t in 0..5 {
            a.dequantize(t, &mut y).unwrap();
            for (b, (xb, yb)) in x[t * 256..].chunks(32).zip(y.chunks(32)).enumerate() {
                let d = a.scales(t)[b];
                for (u, v) in xb.iter().zip(yb) {
                    assert!((u - v).abs() <= d * 0.5001, "scale {scale}: {u} -> {v} (d {d})");
                }
            }
        }
    }
}

#[test]
fn activation_rounding_ties_zero_blocks_and_clamp() {
    // amax 127 -> d = 1, id = 1: ties round away from zero, as C's roundf.
    let mut x = [0f32; 32];
    x[..6].copy_from_slice(&[127.0, 2.5, -2.5, 0.5, -0.5, 1.49]);
    let mut q = [0i8; 32];
    assert_eq!(quantize_block(&x, &mut q), 1.0);
    assert_eq!(&q[..7], &[127, 3, -3, 1, -1, 1, 0]);
    // A zero block: d = 0, codes 0.
    assert_eq!(quantize_block(&[0.0; 32], &mut q), 0.0);
    assert!(q.iter().all(|&v| v == 0));
    // A subnormal d overflows 1/d to infinity: ggml's codes would be ±128 (undefined
    // casts); here they clamp to ±127 (zeros stay 0: 0 · inf = NaN -> 0).
    let mut x = [0f32; 32];
    x[0] = 1e-39;
    x[1] = -1e-39;
    let d = quantize_block(&x, &mut q);
    assert!(d > 0.0 && (1.0 / d).is_infinite());
    assert_eq!(&q[..3], &[127, -127, 0]);
    // NaN quantizes to 0 and does not change the scale.
    let mut x = [1.0f32; 32];
    x[3] = f32::NAN;
    assert_eq!(quantize_block(&x, &mut q), 1.0 / 127.0);
    assert_eq!((q[3], q[0]), (0, 127));
}

#[test]
fn activation_shapes_are_checked_and_buffers_reused() {
    assert!(matches!(Q8Acts::from_f32(&[0.0; 40], 40), Err(KernelError::NotMultiple { .. })));
    assert!(matches!(Q8Acts::from_f32(&[0.0; 48], 32), Err(KernelError::NotMultiple { .. })));
    assert!(Q8Acts::from_f32(&[0.0; 1], 0).is_err());
    let e = Q8Acts::from_f32(&[], 0).unwrap();
    assert_eq!((e.n_tokens(), e.cols()), (0, 0));
    let e = Q8Acts::from_f32(&[], 64).unwrap();
    assert_eq!((e.n_tokens(), e.cols()), (0, 64));
    let mut a = Q8Acts::new();
    a.quantize(&[1.0; 64 * 3], 64).unwrap();
    assert_eq!((a.n_tokens(), a.scales(2).len(), a.codes(2).len()), (3, 2, 64));
    a.quantize(&[2.0; 32], 32).unwrap();
    assert_eq!((a.n_tokens(), a.cols(), a.scales(0), a.codes(0)[0]), (1, 32, &[2.0 / 127.0][..], 127));
    assert!(a.dequantize(1, &mut [0.0; 32]).is_err());
    assert!(a.dequantize(0, &mut [0.0; 31]).is_err());
}

// ---- products ----

#[test]
fn q8_heads_match_the_reference_on_fixed_shapes() {
    let mut rng = StdRng::seed_from_u64(32);
    for ty in FORMATS {
        for &(rows, cols, n) in &[
            (1, 32, 1),
            (3, 64, 2),
            (7, 96, 5),
            (16, 256, 4),
            (5, 992, 9),
            (9, 2560, 3),
            (4, 2560, 16),
            // Several GEMM row chunks (Q8_0 rows of 4352 bytes: 30 rows per 128 KiB).
            (70, 4096, 6),
        ] {
            if cols % ty.block_values() != 0 {
                continue;
            }
            let w = head(ty, rows, cols, &mut rng);
            let xs: Vec<f32> = (0..n * cols).map(|_| rng.random_range(-2.0f32..2.0)).collect();
            check(&w, &xs, 0..rows);
            if rows > 2 {
                check(&w, &xs, 1..rows - 1);
            }
            check(&w, &xs, rows / 2..rows / 2);
        }
    }
}

/// `Q6_K` on the shapes its kernels care about: `K` of 1, 2, 10 and 16 super-blocks,
/// row counts that are and are not multiples of the 4-row tile, every token count from
/// 1 to 20 (per-token tails of 1..3, one and two 8-token groups, ragged last groups),
/// whole and partial row ranges, and enough rows for several GEMM row chunks (rows of
/// 3360 bytes at `K` = 4096: 39 per 128 KiB chunk).
#[test]
fn q6k_heads_match_the_reference_on_every_token_count() {
    let mut rng = StdRng::seed_from_u64(35);
    for &(rows, cols) in &[(1, 256), (4, 256), (6, 512), (13, 2560), (83, 4096)] {
        let w = head(GgmlType::Q6K, rows, cols, &mut rng);
        for n in 1..=20 {
            if rows > 40 && !matches!(n, 1 | 3 | 8 | 13) {
                continue; // the row-chunk shape: a few token counts suffice
            }
            let xs: Vec<f32> = (0..n * cols).map(|_| rng.random_range(-2.0f32..2.0)).collect();
            check(&w, &xs, 0..rows);
            if rows > 2 {
                check(&w, &xs, 1..rows - 1);
                check(&w, &xs, rows - 1..rows);
            }
        }
    }
}

/// Extreme codes: `Q8_0` weights of -128 and 127 and `Q4_0` nibbles 0 and 15 (codes -8
/// and 7) against activations of ±127 (the largest `maddubs` pair sums, 2 · 128 · 127,
/// and the largest `i16` block sums of the `Q4_0` group kernel, 8 · 2 · 15 · 127), for
/// token counts on the per-token and the 8-token group kernels, are exact.
#[test]
fn extreme_codes_do_not_saturate() {
    let (rows, cols) = (3, 256);
    for ty in [GgmlType::Q8_0, GgmlType::Q4_0] {
        let mut bytes = Vec::new();
        for r in 0..rows {
            for b in 0..cols / 32 {
                bytes.extend(half::f16::from_f32(0.5).to_le_bytes());
                let hi = (r + b) % 2 == 0;
                match ty {
                    GgmlType::Q8_0 => bytes.extend(std::iter::repeat_n(if hi { 0x80 } else { 0x7F }, 32)),
                    _ => bytes.extend(std::iter::repeat_n(if hi { 0x00 } else { 0xFF }, 16)),
                }
            }
        }
        let w = DenseMatrix::new(ty, rows, cols, bytes).unwrap();
        for n in [3, 4, 11, 12, 16] {
            // ±127: d_x = 1 exactly, codes ±127.
            let xs: Vec<f32> =
                (0..n * cols).map(|k| if (k / 32 + k / cols) % 3 == 0 { 127.0 } else { -127.0 }).collect();
            let acts = Q8Acts::from_f32(&xs, cols).unwrap();
            assert!(acts.codes(0).iter().all(|&q| q == 127 || q == -127));
            assert!(acts.scales(0).iter().all(|&d| d == 1.0));
            check(&w, &xs, 0..rows);
            // Every block's term is 0.5 · 1 · isum with |isum| ≤ 32 · 128 · 127: every
            // partial sum is a multiple of 0.5 below 2^23, exact in f32 in any order, so
            // every path gives the exact value.
            for k in simd_paths().into_iter().chain([Kernels::scalar()]) {
                let mut got = vec![0f32; n * rows];
                k.dense_gemm_q8(&w, &acts, 0..rows, &mut got).unwrap();
                for t in 0..n {
                    for r in 0..rows {
                        let (e, _) = exact(&w, r, &acts, t);
                        assert_eq!(
                            got[t * rows + r] as f64,
                            e,
                            "{:?} {ty:?} n {n} token {t} row {r}",
                            k.path()
                        );
                    }
                }
            }
        }
    }
}

/// Extreme `Q6_K` super-blocks: codes 0 and 63 (centred -32 and 31) with sub-scales
/// -128 and 127 against activations of ±127: the largest `maddubs` pair sums
/// (2 · 32 · 127), the largest `i16` sums of the group kernel's four chunks per
/// sub-block (4 · 8128 = 32512), and the largest block sums (2 · 128 · 16 · 32 · 127,
/// just below 2^24), on the per-token and the 8-token group kernels. The sums are too
/// large to be exact in f32 over several blocks, so `check` compares the reference with
/// the exact value to f32 rounding and every path with the reference bit for bit.
#[test]
fn extreme_q6k_codes_do_not_saturate() {
    let rows = 5;
    for cols in [256, 512] {
        let mut bytes = Vec::new();
        for r in 0..rows {
            for b in 0..cols / 256 {
                let hi = (r + b) % 2 == 0;
                let (code, scale) = if hi { (0x00, 0x80) } else { (0xFF, 0x7F) };
                bytes.extend(std::iter::repeat_n(code, 192));
                bytes.extend(std::iter::repeat_n(scale, 16));
                bytes.extend(half::f16::from_f32(if r == 3 { -0.25 } else { 0.5 }).to_le_bytes());
            }
        }
        let w = DenseMatrix::new(GgmlType::Q6K, rows, cols, bytes).unwrap();
        for n in [1, 3, 4, 8, 11, 16] {
            let xs: Vec<f32> =
                (0..n * cols).map(|k| if (k / 32 + k / cols) % 3 == 0 { 127.0 } else { -127.0 }).collect();
            let acts = Q8Acts::from_f32(&xs, cols).unwrap();
            assert!(acts.codes(0).iter().all(|&q| q == 127 || q == -127));
            check(&w, &xs, 0..rows);
            // A saturated sum would be off by thousands; the exact value is known.
            let mut got = vec![0f32; n * rows];
            for k in simd_paths().into_iter().chain([Kernels::scalar()]) {
                k.dense_gemm_q8(&w, &acts, 0..rows, &mut got).unwrap();
                for t in 0..n {
                    for r in 0..rows {
                        let (e, _) = exact(&w, r, &acts, t);
                        let g = got[t * rows + r] as f64;
                        assert!(
                            (g - e).abs() <= 1e-6 * e.abs(),
                            "{:?} n {n} token {t} row {r}: {g} vs {e}",
                            k.path()
                        );
                    }
                }
            }
        }
    }
}

/// The q8-activation product differs from the f32-activation product only by the
/// activations' rounding: `|Σ w (x - x̂)| <= Σ_b d_x,b / 2 · Σ_k |w_k|` (plus f32 noise),
/// with `w` the crate's f32 dequantization of the matrix: this ties each format's
/// integer reference (and so every SIMD path) to the format's values.
#[test]
fn q8_activations_stay_close_to_f32_activations() {
    let mut rng = StdRng::seed_from_u64(33);
    for ty in FORMATS {
        let (rows, cols, n) = (12, 512, 3);
        let w = head(ty, rows, cols, &mut rng);
        let xs: Vec<f32> = (0..n * cols).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        let acts = Q8Acts::from_f32(&xs, cols).unwrap();
        let mut f32_out = vec![0f32; n * rows];
        dense::gemm(&w, &xs, 0..rows, &mut f32_out).unwrap();
        let mut row = vec![0f32; cols];
        for k in simd_paths().into_iter().chain([Kernels::scalar()]) {
            let mut q8_out = vec![0f32; n * rows];
            k.dense_gemm(&w, &xs, 0..rows, &mut q8_out).unwrap();
            let mut worst = 0f64;
            for r in 0..rows {
                w.dequantize_row(r, &mut row).unwrap();
                for t in 0..n {
                    let bound: f64 = (0..cols / 32)
                        .map(|b| {
                            let s: f64 = row[32 * b..32 * b + 32].iter().map(|v| v.abs() as f64).sum();
                            acts.scales(t)[b] as f64 / 2.0 * s
                        })
                        .sum();
                    let err = (q8_out[t * rows + r] as f64 - f32_out[t * rows + r] as f64).abs();
                    assert!(err <= bound * 1.01 + 1e-4, "{:?} {ty:?}: error {err} > bound {bound}", k.path());
                    worst = worst.max(err / bound);
                }
            }
            // Not vacuous: the activations' rounding is visible.
            assert!(worst > 0.01, "{:?} {ty:?}: q8 and f32 products suspiciously equal", k.path());
        }
    }
}

#[test]
fn q8_products_reject_bad_shapes_on_every_path() {
    let mut rng = StdRng::seed_from_u64(34);
    let f16 = DenseMatrix::new(GgmlType::F16, 2, 64, vec![0; 256]).unwrap();
    let a64 = Q8Acts::from_f32(&[0.5; 64], 64).unwrap();
    for ty in FORMATS {
        // `c`: the row length; activations of `c + 32` values do not fit.
        let c = ty.block_values().max(64);
        let a1 = Q8Acts::from_f32(&vec![0.5; c], c).unwrap();
        let a2 = Q8Acts::from_f32(&vec![0.5; 2 * c], c).unwrap();
        let wide = Q8Acts::from_f32(&vec![0.5; c + 32], c + 32).unwrap();
        let w = head(ty, 4, c, &mut rng);
        for k in simd_paths().into_iter().chain([Kernels::scalar()]) {
            assert!(k.dense_uses_q8(&w));
            assert!(!k.dense_uses_q8(&f16));
            assert!(k.dense_gemv_q8(&w, &wide, 0..4, &mut [0.0; 4]).is_err());
            assert!(k.dense_gemv_q8(&w, &a2, 0..4, &mut [0.0; 4]).is_err());
            assert!(k.dense_gemv_q8(&w, &a1, 0..5, &mut [0.0; 5]).is_err());
            assert!(k.dense_gemv_q8(&w, &a1, std::ops::Range { start: 3, end: 2 }, &mut []).is_err());
            assert!(k.dense_gemv_q8(&w, &a1, 0..4, &mut [0.0; 3]).is_err());
            assert!(k.dense_gemm_q8(&w, &a2, 0..4, &mut [0.0; 7]).is_err());
            assert!(k.dense_gemm_q8(&w, &wide, 0..4, &mut [0.0; 4]).is_err());
            assert!(matches!(
                k.dense_gemm_q8(&f16, &a64, 0..2, &mut [0.0; 2]),
                Err(KernelError::UnsupportedFormat { .. })
            ));
            k.dense_gemm_q8(&w, &Q8Acts::from_f32(&[], c).unwrap(), 0..4, &mut []).unwrap();
            k.dense_gemm_q8(&w, &a2, 2..2, &mut []).unwrap();
            assert!(k.quantize_q8(&[0.0; 40], 40).is_err());
            // The f32-activation entry points check the same shapes.
            assert!(k.dense_gemv(&w, &vec![0.0; c - 1], 0..4, &mut [0.0; 4]).is_err());
            assert!(k.dense_gemv(&w, &vec![0.0; c], 0..5, &mut [0.0; 5]).is_err());
            assert!(k.dense_gemv(&w, &vec![0.0; c], 0..4, &mut [0.0; 3]).is_err());
            assert!(k.dense_gemm(&w, &vec![0.0; 2 * c - 1], 0..4, &mut [0.0; 8]).is_err());
            assert!(k.dense_gemm(&w, &vec![0.0; 2 * c], 1..4, &mut [0.0; 8]).is_err());
            k.dense_gemm(&w, &[], 0..4, &mut []).unwrap();
            assert_eq!(k.quantize_q8(&vec![0.5; 2 * c], c).unwrap(), a2);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn q8_heads_match_the_reference_on_random_shapes(
        seed in any::<u64>(),
        format in 0usize..3,
        rows in 1usize..24,
        blocks in 1usize..40,
        n in 1usize..=20,
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let ty = FORMATS[format];
        // `Q6_K`: 1..=5 super-blocks.
        let cols = if ty == GgmlType::Q6K { 256 * (1 + blocks % 5) } else { 32 * blocks };
        let w = head(ty, rows, cols, &mut rng);
        // Activations with a spread of magnitudes per block (some blocks tiny).
        let xs: Vec<f32> = (0..n * cols)
            .map(|k| rng.random_range(-3.0f32..3.0) * if (k / 32) % 5 == 0 { 1e-3 } else { 1.0 })
            .collect();
        let (s, e) = (a.index(rows + 1), b.index(rows + 1));
        check(&w, &xs, s.min(e)..s.max(e));
    }
}
