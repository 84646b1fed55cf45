//! Ternary and dense GEMV / GEMM against naive f64 / i64 computations, and dispatch.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_kernels::dispatch::{self, resolve, Kernels, Path};
use tern_kernels::formats::{float, q4_0, q8_0};
use tern_kernels::scalar::{dense, ternary};
use tern_kernels::{
    ActsView, DenseMatrix, GgmlType, KernelError, Q8Acts, QuantizedActs, QuantizedBatch, Scales,
    TernaryMatrix,
};

/// Naive integer reference: Σ (v + 1) · x_q over the logical columns.
fn naive_dot(values: &[i8], cols: usize, r: usize, x: &[i8]) -> i64 {
    (0..cols).map(|k| (values[r * cols + k] as i64 + 1) * x[k] as i64).sum()
}

/// Naive f64 reference: Σ_k v[r,k] · scale(r,k) · x_q[k] / s.
fn naive_y(m: &TernaryMatrix, values: &[i8], r: usize, x: ActsView<'_>) -> f64 {
    let cols = m.cols();
    (0..cols)
        .map(|k| values[r * cols + k] as f64 * m.block_scale(r, k / 128) as f64 * x.values[k] as f64)
        .sum::<f64>()
        / x.scale as f64
}

fn close(a: f32, b: f64, scale: f64) -> bool {
    (a as f64 - b).abs() <= 1e-4 * scale.max(1e-3)
}

fn random_matrix(rng: &mut StdRng, rows: usize, cols: usize, per_block: bool) -> (TernaryMatrix, Vec<i8>) {
    let v: Vec<i8> = (0..rows * cols).map(|_| rng.random_range(-1i8..=1)).collect();
    let scales = if per_block {
        Scales::PerBlock((0..rows * cols.div_ceil(128)).map(|_| rng.random_range(0.1f32..2.0)).collect())
    } else {
        Scales::PerTensor(rng.random_range(0.1f32..2.0))
    };
    (TernaryMatrix::from_values_with_scales(rows, cols, &v, scales).unwrap(), v)
}

fn random_acts(rng: &mut StdRng, n: usize, k: usize) -> Vec<f32> {
    (0..n * k).map(|_| rng.random_range(-3.0f32..3.0)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn gemv_and_gemm_match_naive(
        rows in 1usize..10,
        cols in 1usize..420,
        n in 1usize..5,
        per_block in any::<bool>(),
        seed in any::<u64>(),
        cut in 0usize..10,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (m, v) = random_matrix(&mut rng, rows, cols, per_block);
        let xs = random_acts(&mut rng, n, cols);
        let mut batch = QuantizedBatch::new(1, cols);
        batch.quantize(&xs).unwrap();
        let start = cut.min(rows - 1);
        let range = start..rows;
        let nr = range.len();
        let k = Kernels::scalar();

        let mut gi = vec![0i32; n * nr];
        k.gemm_i32(&m, &batch, range.clone(), &mut gi).unwrap();
        let mut gf = vec![0f32; n * nr];
        k.gemm(&m, &batch, range.clone(), &mut gf).unwrap();
        for t in 0..n {
            let x = batch.token(t);
            let single = QuantizedActs::from_f32(&xs[t * cols..(t + 1) * cols]);
            prop_assert_eq!(single.values(), x.values);
            let mut vi = vec![0i32; nr];
            k.gemv_i32(&m, x, range.clone(), &mut vi).unwrap();
            let mut vf = vec![0f32; nr];
            k.gemv(&m, x, range.clone(), &mut vf).unwrap();
            for (i, r) in range.clone().enumerate() {
                let want = naive_dot(&v, cols, r, x.values);
                prop_assert_eq!(vi[i] as i64, want);
                prop_assert_eq!(gi[t * nr + i] as i64, want);
                let y = naive_y(&m, &v, r, x);
                let mag = (0..cols).map(|c| m.block_scale(r, c / 128).abs() as f64 * 127.0).sum::<f64>()
                    / x.scale as f64;
                prop_assert!(close(vf[i], y, mag), "gemv {} vs {}", vf[i], y);
                // GEMM and GEMV share the scalar formula: identical bits.
                prop_assert_eq!(gf[t * nr + i].to_bits(), vf[i].to_bits());
            }
        }
    }
}

#[test]
fn gemv_approximates_the_float_product() {
    let mut rng = StdRng::seed_from_u64(11);
    let (rows, cols) = (7, 300);
    let (m, v) = random_matrix(&mut rng, rows, cols, false);
    let x = random_acts(&mut rng, 1, cols);
    let q = QuantizedActs::from_f32(&x);
    let mut y = vec![0f32; rows];
    dispatch::gemv(&m, q.view(), 0..rows, &mut y).unwrap();
    let absmax = x.iter().fold(0f32, |a, b| a.max(b.abs())) as f64;
    for r in 0..rows {
        let w = m.block_scale(r, 0) as f64;
        let exact: f64 = (0..cols).map(|k| v[r * cols + k] as f64 * w * x[k] as f64).sum();
        // Each activation is off by at most half a quantization step.
        let bound = cols as f64 * m.block_scale(r, 0) as f64 * absmax / 127.0 * 0.5 + 1e-4;
        assert!((y[r] as f64 - exact).abs() <= bound, "row {r}: {} vs {exact}", y[r]);
    }
}

#[test]
fn gemm_tiles_past_64_tokens_and_handles_hand_built_activations() {
    let mut rng = StdRng::seed_from_u64(12);
    let (rows, cols, n) = (3, 130, 70);
    let (m, v) = random_matrix(&mut rng, rows, cols, true);
    // Raw activations including -128, the extreme i8 value.
    let raw: Vec<i8> =
        (0..n * cols).map(|i| if i % 17 == 0 { -128 } else { rng.random_range(-127..=127) }).collect();
    let scales: Vec<f32> = (0..n).map(|_| rng.random_range(1.0f32..50.0)).collect();
    let batch = QuantizedBatch::from_raw(cols, &raw, &scales).unwrap();
    let mut out = vec![0i32; n * rows];
    dispatch::gemm_i32(&m, &batch, 0..rows, &mut out).unwrap();
    let mut outf = vec![0f32; n * rows];
    dispatch::gemm(&m, &batch, 0..rows, &mut outf).unwrap();
    for t in 0..n {
        let x = &raw[t * cols..(t + 1) * cols];
        let single = QuantizedActs::from_raw(x, scales[t]);
        let mut vf = vec![0f32; rows];
        dispatch::gemv(&m, single.view(), 0..rows, &mut vf).unwrap();
        for r in 0..rows {
            assert_eq!(out[t * rows + r] as i64, naive_dot(&v, cols, r, x), "t={t} r={r}");
            assert_eq!(outf[t * rows + r].to_bits(), vf[r].to_bits());
        }
    }
}

#[test]
fn empty_ranges_and_zero_weights() {
    let m = TernaryMatrix::from_values(2, 5, &[0; 10], 3.0).unwrap();
    let x = QuantizedActs::from_f32(&[1.0, -2.0, 3.0, 0.5, 0.25]);
    let mut y = [7f32; 2];
    Kernels::scalar().gemv(&m, x.view(), 0..2, &mut y).unwrap();
    assert_eq!(y, [0.0, 0.0]);
    Kernels::scalar().gemv(&m, x.view(), 1..1, &mut []).unwrap();
}

#[test]
fn kernel_shape_errors() {
    let m = TernaryMatrix::from_values(3, 4, &[1; 12], 1.0).unwrap();
    let x = QuantizedActs::from_f32(&[1.0; 4]);
    let k = Kernels::scalar();
    let mut out = [0f32; 3];
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = 2..1;
    assert!(matches!(k.gemv(&m, x.view(), 0..4, &mut [0.0; 4]), Err(KernelError::BadRows { .. })));
    assert!(matches!(k.gemv(&m, x.view(), reversed, &mut []), Err(KernelError::BadRows { .. })));
    assert!(matches!(k.gemv(&m, x.view(), 0..3, &mut out[..2]), Err(KernelError::BadLength { .. })));
    let x5 = QuantizedActs::from_f32(&[1.0; 5]);
    assert!(matches!(k.gemv(&m, x5.view(), 0..3, &mut out), Err(KernelError::BadLength { .. })));
    assert!(k.gemv_i32(&m, x5.view(), 0..3, &mut [0; 3]).is_err());
    let mut b = QuantizedBatch::new(2, 4);
    b.quantize(&[1.0; 8]).unwrap();
    assert!(k.gemm(&m, &b, 0..3, &mut [0.0; 5]).is_err());
    assert!(k.gemm_i32(&m, &b, 0..4, &mut [0; 8]).is_err());
    let b5 = QuantizedBatch::new(1, 5);
    assert!(k.gemm(&m, &b5, 0..3, &mut []).is_err());
}

fn dense_case(ty: GgmlType, rows: usize, cols: usize, rng: &mut StdRng) -> (DenseMatrix, Vec<f32>) {
    let vals: Vec<f32> = (0..rows * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let bytes = match ty {
        GgmlType::F32 => vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::F16 => float::f32_to_f16_bytes(&vals),
        GgmlType::BF16 => float::f32_to_bf16_bytes(&vals),
        GgmlType::Q8_0 => q8_0::quantize(&vals).unwrap(),
        GgmlType::Q4_0 => q4_0::quantize(&vals).unwrap(),
        GgmlType::Q6K => {
            // Random but valid Q6_K blocks: any bytes decode; keep d small and finite.
            let mut b: Vec<u8> = (0..rows * cols / 256 * 210).map(|_| rng.random()).collect();
            for blk in b.chunks_exact_mut(210) {
                blk[208..210].copy_from_slice(&[0x00, 0x20]); // f16 2^-7
            }
            b
        }
        _ => unreachable!(),
    };
    let m = DenseMatrix::new(ty, rows, cols, bytes).unwrap();
    let mut deq = vec![0f32; rows * cols];
    for r in 0..rows {
        m.dequantize_row(r, &mut deq[r * cols..(r + 1) * cols]).unwrap();
    }
    (m, deq)
}

#[test]
fn dense_gemv_gemm_match_naive_for_every_format() {
    let mut rng = StdRng::seed_from_u64(13);
    for (ty, cols) in [
        (GgmlType::F32, 300),
        (GgmlType::F16, 77),
        (GgmlType::BF16, 513),
        (GgmlType::Q8_0, 288),
        (GgmlType::Q4_0, 320),
        (GgmlType::Q6K, 512),
    ] {
        let rows = 5;
        let (m, deq) = dense_case(ty, rows, cols, &mut rng);
        let n = 3;
        let xs: Vec<f32> = (0..n * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let mut g = vec![0f32; n * 4];
        dispatch::dense_gemm(&m, &xs, 1..5, &mut g).unwrap();
        // The dispatched products of Q8_0 / Q4_0 / Q6_K matrices run on Q8_0-block
        // activations: naive reference with the activations they actually use.
        let q8 = Kernels::scalar().dense_uses_q8(&m);
        assert_eq!(q8, matches!(ty, GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q6K));
        let acts = Q8Acts::from_f32(&xs, cols).ok();
        for t in 0..n {
            let x = &xs[t * cols..(t + 1) * cols];
            let mut xq = vec![0f32; cols];
            if let Some(a) = &acts {
                a.dequantize(t, &mut xq).unwrap();
            }
            let mut y = vec![0f32; 4];
            dense::gemv(&m, x, 1..5, &mut y).unwrap();
            for (i, r) in (1..5).enumerate() {
                let naive = |x: &[f32]| -> (f64, f64) {
                    let want = (0..cols).map(|k| deq[r * cols + k] as f64 * x[k] as f64).sum();
                    let mag: f64 = (0..cols).map(|k| (deq[r * cols + k] as f64 * x[k] as f64).abs()).sum();
                    (want, mag.max(1.0))
                };
                let (want, mag) = naive(x);
                assert!((y[i] as f64 - want).abs() <= 1e-5 * mag, "{ty:?}: {} vs {want}", y[i]);
                // The dispatched GEMM may run a SIMD path (F16 on AVX2): same sum, other order.
                let (want, mag) = if q8 { naive(&xq) } else { (want, mag) };
                assert!((g[t * 4 + i] as f64 - want).abs() <= 1e-5 * mag, "{ty:?} gemm");
            }
        }
        if ty == GgmlType::F32 {
            assert_eq!(
                &deq[..cols],
                &{
                    let mut r = vec![0f32; cols];
                    m.dequantize_row(0, &mut r).unwrap();
                    r
                }[..]
            );
        }
    }
}

#[test]
fn dense_hostile_inputs() {
    assert!(DenseMatrix::new(GgmlType::Q8_0, 2, 33, vec![0; 68]).is_err());
    assert!(DenseMatrix::new(GgmlType::Q8_0, 2, 32, vec![0; 67]).is_err());
    assert!(DenseMatrix::new(GgmlType::I2S, 1, 128, vec![0; 64]).is_err());
    let m = DenseMatrix::from_f32(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    assert!(m.dequantize_row(2, &mut [0.0; 3]).is_err());
    assert!(m.dequantize_row(0, &mut [0.0; 2]).is_err());
    assert!(dense::gemv(&m, &[1.0; 2], 0..2, &mut [0.0; 2]).is_err());
    assert!(dense::gemv(&m, &[1.0; 3], 0..3, &mut [0.0; 3]).is_err());
    assert!(dense::gemm(&m, &[1.0; 7], 0..2, &mut [0.0; 4]).is_err());
    let mut y = [0f32; 2];
    dense::gemv(&m, &[1.0, 0.0, -1.0], 0..2, &mut y).unwrap();
    assert_eq!(y, [-2.0, -2.0]);
}

#[test]
fn dispatch_paths() {
    assert_eq!(resolve(Some("scalar")).unwrap(), Path::Scalar);
    assert_eq!(resolve(Some(" SCALAR ")).unwrap(), Path::Scalar);
    assert_eq!(resolve(None).unwrap(), Path::detect());
    assert_eq!(resolve(Some("auto")).unwrap(), Path::detect());
    assert_eq!(resolve(Some("")).unwrap(), Path::detect());
    assert!(matches!(resolve(Some("sse9")), Err(KernelError::UnknownPath(_))));
    for p in Path::ALL {
        assert_eq!(Path::from_name(p.name()).unwrap(), p);
        assert_eq!(resolve(Some(p.name())).is_ok(), p.is_supported());
        match Kernels::with_path(p) {
            Ok(k) => {
                assert_eq!(k.path(), p);
                let want = if p.is_implemented() { p } else { Path::Scalar };
                assert_eq!(k.effective_path(), want);
            }
            Err(e) => assert_eq!(e, KernelError::UnsupportedPath(p)),
        }
    }
    assert!(Path::detect().is_supported());
    #[cfg(target_arch = "x86_64")]
    assert!(!Path::Neon.is_supported() && !Path::NeonDot.is_supported());
    #[cfg(target_arch = "aarch64")]
    assert!(Path::Neon.is_supported() && !Path::Avx2.is_supported());
    // Every supported path gives the scalar integers.
    let mut rng = StdRng::seed_from_u64(14);
    let (m, _) = random_matrix(&mut rng, 5, 200, false);
    let x = QuantizedActs::from_f32(&random_acts(&mut rng, 1, 200));
    let mut want = [0i32; 5];
    ternary::gemv_i32(&m, x.view(), 0..5, &mut want).unwrap();
    for p in Path::ALL.into_iter().filter(|p| p.is_supported()) {
        let mut got = [0i32; 5];
        Kernels::with_path(p).unwrap().gemv_i32(&m, x.view(), 0..5, &mut got).unwrap();
        assert_eq!(got, want, "{p:?}");
    }
}
