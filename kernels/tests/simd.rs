//! Every implemented SIMD path against the scalar reference: exact integers, bit-identical
//! f32 (per-tensor and per-block scales), ragged K, 1..70 tokens, row sub-ranges.
//!
//! Paths this CPU cannot run (AVX-512 VNNI on the development machine; on aarch64,
//! `NeonDot` without `dotprod`) are skipped with a printed note; on a CPU that has them
//! they run automatically. The aarch64 paths run under QEMU: `tools/cross-aarch64.sh`.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_kernels::dispatch::{Kernels, Path};
use tern_kernels::{QuantizedActs, QuantizedBatch, Scales, TernaryMatrix};

/// The SIMD paths with their own code that this CPU runs (notes the ones it cannot).
fn simd_paths() -> Vec<Kernels> {
    let mut out = Vec::new();
    for p in Path::ALL.into_iter().filter(|&p| p != Path::Scalar && p.is_implemented()) {
        match Kernels::with_path(p) {
            Ok(k) => {
                assert_eq!(k.effective_path(), p, "a forced, implemented path runs its own code");
                out.push(k);
            }
            Err(_) => eprintln!("note: {} is implemented but this CPU cannot run it: skipped", p.name()),
        }
    }
    out
}

fn matrix(rng: &mut StdRng, rows: usize, cols: usize, per_block: bool, zero_p: f64) -> TernaryMatrix {
    let v: Vec<i8> = (0..rows * cols)
        .map(|_| {
            if rng.random_bool(zero_p) {
                0
            } else if rng.random_bool(0.5) {
                1
            } else {
                -1
            }
        })
        .collect();
    let scales = if per_block {
        Scales::PerBlock((0..rows * cols.div_ceil(128)).map(|_| rng.random_range(0.01f32..3.0)).collect())
    } else {
        Scales::PerTensor(rng.random_range(0.01f32..3.0))
    };
    TernaryMatrix::from_values_with_scales(rows, cols, &v, scales).unwrap()
}

/// Raw int8 tokens over the full range (-128 included) with random scales.
fn raw_batch(rng: &mut StdRng, n: usize, k: usize) -> QuantizedBatch {
    let v: Vec<i8> = (0..n * k).map(|_| rng.random()).collect();
    let s: Vec<f32> = (0..n).map(|_| rng.random_range(0.5f32..100.0)).collect();
    QuantizedBatch::from_raw(k, &v, &s).unwrap()
}

/// Compares every SIMD path with scalar on GEMV (each token) and GEMM (the batch).
fn check_all(m: &TernaryMatrix, batch: &QuantizedBatch, rows: std::ops::Range<usize>) {
    let sc = Kernels::scalar();
    let (n, nr) = (batch.n_tokens(), rows.len());
    let mut want_i = vec![0i32; n * nr];
    let mut want_f = vec![0f32; n * nr];
    sc.gemm_i32(m, batch, rows.clone(), &mut want_i).unwrap();
    sc.gemm(m, batch, rows.clone(), &mut want_f).unwrap();
    for k in simd_paths() {
        let p = k.path();
        let mut got_i = vec![0i32; n * nr];
        let mut got_f = vec![0f32; n * nr];
        k.gemm_i32(m, batch, rows.clone(), &mut got_i).unwrap();
        k.gemm(m, batch, rows.clone(), &mut got_f).unwrap();
        assert_eq!(got_i, want_i, "{p:?} gemm_i32 rows {rows:?} n {n}");
        for (g, w) in got_f.iter().zip(&want_f) {
            assert_eq!(g.to_bits(), w.to_bits(), "{p:?} gemm f32 {g} vs {w}, rows {rows:?} n {n}");
        }
        for t in 0..n {
            let x = batch.token(t);
            let mut vi = vec![0i32; nr];
            let mut vf = vec![0f32; nr];
            k.gemv_i32(m, x, rows.clone(), &mut vi).unwrap();
            k.gemv(m, x, rows.clone(), &mut vf).unwrap();
            assert_eq!(vi, want_i[t * nr..(t + 1) * nr], "{p:?} gemv_i32 token {t}");
            for (g, w) in vf.iter().zip(&want_f[t * nr..(t + 1) * nr]) {
                assert_eq!(g.to_bits(), w.to_bits(), "{p:?} gemv f32 {g} vs {w}, token {t}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    /// Ragged K up to 19 blocks (past the AVX2 16-block `i16` chunk), up to 9 tokens.
    #[test]
    fn simd_matches_scalar_wide(
        rows in 1usize..24,
        cols in 1usize..2400,
        n in 1usize..10,
        per_block in any::<bool>(),
        quantized in any::<bool>(),
        seed in any::<u64>(),
        a in 0usize..24,
        b in 0usize..24,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let m = matrix(&mut rng, rows, cols, per_block, 0.4);
        let batch = if quantized {
            let xs: Vec<f32> = (0..n * cols).map(|_| rng.random_range(-3.0f32..3.0)).collect();
            let mut q = QuantizedBatch::new(n, cols);
            q.quantize(&xs).unwrap();
            q
        } else {
            raw_batch(&mut rng, n, cols)
        };
        let (lo, hi) = (a.min(b).min(rows), a.max(b).min(rows));
        check_all(&m, &batch, lo..hi);
        check_all(&m, &batch, 0..rows);
    }

    /// Many tokens (1..70: ragged token tiles and more than the scalar 64-token tile).
    #[test]
    fn simd_matches_scalar_many_tokens(
        rows in 1usize..7,
        cols in 1usize..300,
        n in 1usize..71,
        per_block in any::<bool>(),
        seed in any::<u64>(),
        start in 0usize..7,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let m = matrix(&mut rng, rows, cols, per_block, 0.3);
        let batch = raw_batch(&mut rng, n, cols);
        check_all(&m, &batch, start.min(rows)..rows);
    }
}

/// The `i16` worst cases: every weight +1 against every activation -128 (most
/// negative) or 127 (most positive), over 40 blocks, so every 16-block chunk is full.
#[test]
fn i16_accumulation_extremes() {
    let (rows, cols) = (5, 40 * 128);
    for w in [1i8, -1] {
        let m = TernaryMatrix::from_values(rows, cols, &vec![w; rows * cols], 1.0).unwrap();
        for a in [-128i8, 127] {
            let batch = QuantizedBatch::from_raw(cols, &vec![a; 3 * cols], &[1.0; 3]).unwrap();
            check_all(&m, &batch, 0..rows);
            let mut out = vec![0i32; 3 * rows];
            Kernels::detect().gemm_i32(&m, &batch, 0..rows, &mut out).unwrap();
            // code = w + 1.
            assert!(out.iter().all(|&o| o == (w as i32 + 1) * a as i32 * cols as i32));
        }
    }
}

#[test]
fn empty_shapes_and_errors_on_every_path() {
    let mut rng = StdRng::seed_from_u64(3);
    let m = matrix(&mut rng, 6, 130, false, 0.3);
    let x = QuantizedActs::from_f32(&[0.5; 130]);
    let empty = QuantizedBatch::new(0, 130);
    for k in simd_paths() {
        k.gemv(&m, x.view(), 3..3, &mut []).unwrap();
        k.gemm(&m, &empty, 0..6, &mut []).unwrap();
        k.gemm_i32(&m, &empty, 0..6, &mut []).unwrap();
        assert!(k.gemv(&m, x.view(), 0..7, &mut [0.0; 7]).is_err());
        assert!(k.gemv_i32(&m, x.view(), 0..6, &mut [0; 5]).is_err());
        let x5 = QuantizedActs::from_f32(&[0.5; 129]);
        assert!(k.gemv(&m, x5.view(), 0..6, &mut [0.0; 6]).is_err());
        let b = raw_batch(&mut rng, 2, 130);
        assert!(k.gemm(&m, &b, 0..6, &mut [0.0; 11]).is_err());
    }
    // A matrix with zero columns: every dot is 0.
    let z = TernaryMatrix::from_values(3, 0, &[], 1.0).unwrap();
    let xz = QuantizedActs::from_f32(&[]);
    for k in simd_paths() {
        let mut y = [9i32; 3];
        k.gemv_i32(&z, xz.view(), 0..3, &mut y).unwrap();
        assert_eq!(y, [0; 3]);
    }
}

#[test]
fn forcing_paths_with_kernels_with_path() {
    assert_eq!(Kernels::with_path(Path::Scalar).unwrap().effective_path(), Path::Scalar);
    #[cfg(target_arch = "x86_64")]
    {
        assert!(Path::Avx2.is_implemented() && Path::Avx512Vnni.is_implemented());
        if Path::Avx2.is_supported() {
            let k = Kernels::with_path(Path::Avx2).unwrap();
            assert_eq!((k.path(), k.effective_path()), (Path::Avx2, Path::Avx2));
        }
        if !Path::Avx512Vnni.is_supported() {
            eprintln!("note: this CPU has no AVX-512 VNNI; the VNNI path is untested in this run");
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        assert!(Path::Neon.is_implemented() && Path::NeonDot.is_implemented());
        // Every aarch64 Linux CPU has NEON (Advanced SIMD).
        let k = Kernels::with_path(Path::Neon).unwrap();
        assert_eq!((k.path(), k.effective_path()), (Path::Neon, Path::Neon));
        if let Ok(k) = Kernels::with_path(Path::NeonDot) {
            assert_eq!((k.path(), k.effective_path()), (Path::NeonDot, Path::NeonDot));
        } else {
            eprintln!("note: this CPU has no dotprod; the NeonDot path is untested in this run");
        }
    }
    #[cfg(not(target_arch = "aarch64"))]
    for p in [Path::Neon, Path::NeonDot] {
        assert!(!p.is_implemented() && !p.is_supported());
        assert_eq!(Kernels::with_path(p), Err(tern_kernels::KernelError::UnsupportedPath(p)));
    }
}

/// The F16 output-head GEMV / GEMM on every SIMD path agrees with the scalar path to
/// f32 rounding (the sums are added in a different order), on ragged widths.
#[test]
fn dense_f16_matches_scalar() {
    use tern_kernels::DenseMatrix;
    let mut rng = StdRng::seed_from_u64(17);
    let scalar = Kernels::with_path(Path::Scalar).unwrap();
    for &(rows, cols, n) in &[(1, 1, 1), (3, 31, 2), (7, 33, 5), (16, 256, 4), (5, 1000, 9), (9, 2560, 3)] {
        let values: Vec<f32> = (0..rows * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let bytes: Vec<u8> =
            values.iter().flat_map(|&v| half::f16::from_f32(v).to_bits().to_le_bytes()).collect();
        let w = DenseMatrix::new(tern_kernels::formats::GgmlType::F16, rows, cols, bytes).unwrap();
        let xs: Vec<f32> = (0..n * cols).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        let mut want_v = vec![0f32; rows];
        scalar.dense_gemv(&w, &xs[..cols], 0..rows, &mut want_v).unwrap();
        let mut want_m = vec![0f32; n * rows];
        scalar.dense_gemm(&w, &xs, 0..rows, &mut want_m).unwrap();
        for k in simd_paths() {
            let mut got_v = vec![0f32; rows];
            k.dense_gemv(&w, &xs[..cols], 0..rows, &mut got_v).unwrap();
            let mut got_m = vec![0f32; n * rows];
            k.dense_gemm(&w, &xs, 0..rows, &mut got_m).unwrap();
            let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * (1.0 + cols as f32).sqrt() * (1.0 + b.abs());
            for (g, w) in got_v.iter().zip(&want_v).chain(got_m.iter().zip(&want_m)) {
                assert!(close(*g, *w), "{:?} {rows}x{cols} n={n}: {g} vs {w}", k.path());
            }
            // Row sub-ranges address the right rows.
            if rows > 2 {
                let mut part = vec![0f32; rows - 2];
                k.dense_gemv(&w, &xs[..cols], 1..rows - 1, &mut part).unwrap();
                for (g, w) in part.iter().zip(&want_v[1..rows - 1]) {
                    assert!(close(*g, *w));
                }
            }
        }
    }
}
