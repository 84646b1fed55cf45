//! Activation quantization edge cases and the helper ops against naive formulas.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_kernels::ops::{rms_norm, rope_neox, softmax, squared_relu, squared_relu_gate};
use tern_kernels::quant::{quantize_row, MIN_ABSMAX};
use tern_kernels::{QuantizedActs, QuantizedBatch};

#[test]
fn all_zeros_quantize_to_zero_with_floor_scale() {
    let a = QuantizedActs::from_f32(&[0.0; 10]);
    assert!(a.values().iter().all(|&q| q == 0));
    assert_eq!(a.sum(), 0);
    assert_eq!(a.scale(), 127.0 / MIN_ABSMAX);
    assert_eq!(a.values().len(), 128);
}

#[test]
fn ties_round_half_to_even() {
    // absmax 127 -> s = 1 exactly, so q = round_half_even(x).
    let x = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.49, 127.0];
    let mut q = [0i8; 8];
    let (s, sum) = quantize_row(&x, &mut q).unwrap();
    assert_eq!(s, 1.0);
    assert_eq!(q, [0, 2, 2, 0, -2, -2, 3, 127]);
    assert_eq!(sum, 127 + 3);
}

#[test]
fn extremes_clamp_and_nan() {
    let x = [3e38f32, -3e38, 1.0, f32::NAN];
    let mut q = [0i8; 4];
    let (s, sum) = quantize_row(&x, &mut q).unwrap();
    assert_eq!(q, [127, -127, 0, 0]);
    assert_eq!(sum, 0);
    assert!(s > 0.0 && s < 1e-35);
    // The negative extreme maps to -127, never -128, and the max to exactly 127.
    let x = [-5.0f32, 5.0, 2.5];
    let (_, _) = quantize_row(&x, &mut q[..3]).unwrap();
    assert_eq!(&q[..3], &[-127, 127, 64]); // 2.5 * 25.4 = 63.5 -> 64 (even)
    assert!(quantize_row(&x, &mut q).is_err());
}

#[test]
fn padding_and_block_sums() {
    let mut rng = StdRng::seed_from_u64(21);
    let x: Vec<f32> = (0..300).map(|_| rng.random_range(-2.0f32..2.0)).collect();
    let a = QuantizedActs::from_f32(&x);
    let v = a.view();
    assert_eq!(v.values.len(), 384);
    assert!(v.values[300..].iter().all(|&q| q == 0));
    for b in 0..3 {
        assert_eq!(v.block_sums[b], v.values[b * 128..(b + 1) * 128].iter().map(|&q| q as i32).sum::<i32>());
    }
    assert_eq!(v.sum, v.block_sums.iter().sum::<i32>());
    let absmax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (q, xv) in v.values.iter().zip(&x) {
        assert!((*q as f32 / v.scale - xv).abs() <= absmax / 127.0 * 0.5 + 1e-6);
    }
    // A batch gives the same per-token results, and reuses / grows its storage.
    let mut b = QuantizedBatch::new(1, 100);
    b.quantize(&x[..300]).unwrap();
    assert_eq!(b.n_tokens(), 3);
    for t in 0..3 {
        let single = QuantizedActs::from_f32(&x[t * 100..(t + 1) * 100]);
        assert_eq!(b.token(t).values, single.values());
        assert_eq!(b.token(t).scale, single.scale());
        assert_eq!(b.token(t).sum, single.sum());
    }
    b.quantize(&x[..100]).unwrap();
    assert_eq!(b.n_tokens(), 1);
    assert!(b.quantize(&x[..150]).is_err());
    let mut a2 = QuantizedActs::new(300);
    assert!(a2.quantize(&x[..299]).is_err());
    a2.quantize(&x).unwrap();
    assert_eq!(a2, a);
}

#[test]
fn rms_norm_matches_naive() {
    let mut rng = StdRng::seed_from_u64(22);
    let x: Vec<f32> = (0..257).map(|_| rng.random_range(-3.0f32..3.0)).collect();
    let w: Vec<f32> = (0..257).map(|_| rng.random_range(0.5f32..1.5)).collect();
    let mut out = vec![0f32; 257];
    rms_norm(&x, &w, 1e-6, &mut out).unwrap();
    let ms: f64 = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / 257.0;
    for i in 0..257 {
        let want = x[i] as f64 / (ms + 1e-6).sqrt() * w[i] as f64;
        assert!((out[i] as f64 - want).abs() < 1e-5 * (1.0 + want.abs()));
    }
    // eps dominates on a zero input: output 0, no NaN.
    let mut z = [1f32; 4];
    rms_norm(&[0.0; 4], &[1.0; 4], 1e-5, &mut z).unwrap();
    assert_eq!(z, [0.0; 4]);
    assert!(rms_norm(&x, &w[..256], 1e-6, &mut out).is_err());
    assert!(rms_norm(&x, &w, 1e-6, &mut out[..256]).is_err());
}

#[test]
fn softmax_is_stable_and_matches_naive() {
    let mut x = [1000.0f32, 1001.0, 999.0, f32::NEG_INFINITY];
    softmax(&mut x);
    let e = [(-1.0f64).exp(), 1.0, (-2.0f64).exp()];
    let s: f64 = e.iter().sum();
    for i in 0..3 {
        assert!((x[i] as f64 - e[i] / s).abs() < 1e-6);
    }
    assert_eq!(x[3], 0.0);
    let mut rng = StdRng::seed_from_u64(23);
    let mut y: Vec<f32> = (0..50).map(|_| rng.random_range(-20.0f32..20.0)).collect();
    let orig = y.clone();
    softmax(&mut y);
    let denom: f64 = orig.iter().map(|&v| (v as f64).exp()).sum();
    for (a, &o) in y.iter().zip(&orig) {
        assert!((*a as f64 - (o as f64).exp() / denom).abs() < 1e-6);
    }
    assert!((y.iter().map(|&v| v as f64).sum::<f64>() - 1.0).abs() < 1e-5);
    softmax(&mut []);
}

#[test]
fn rope_neox_matches_naive_formula() {
    let (heads, d, pos, base) = (3usize, 8usize, 17usize, 10000f32);
    let mut rng = StdRng::seed_from_u64(24);
    let x: Vec<f32> = (0..heads * d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let mut y = x.clone();
    rope_neox(&mut y, d, pos, base).unwrap();
    for h in 0..heads {
        for i in 0..d / 2 {
            let theta = pos as f64 / (base as f64).powf(2.0 * i as f64 / d as f64);
            let (a, b) = (x[h * d + i] as f64, x[h * d + i + d / 2] as f64);
            let (ya, yb) = (a * theta.cos() - b * theta.sin(), a * theta.sin() + b * theta.cos());
            assert!((y[h * d + i] as f64 - ya).abs() < 1e-5);
            assert!((y[h * d + i + d / 2] as f64 - yb).abs() < 1e-5);
        }
    }
    // Position 0 is the identity; pair 0 always turns by exactly `pos` radians.
    let mut z = x.clone();
    rope_neox(&mut z, d, 0, base).unwrap();
    assert_eq!(z, x);
    let mut one = vec![1.0f32, 0.0, 0.0, 0.0];
    rope_neox(&mut one, 4, 1, base).unwrap();
    assert!((one[0] - 1f32.cos()).abs() < 1e-6 && (one[2] - 1f32.sin()).abs() < 1e-6);
    assert!(rope_neox(&mut y, 7, 1, base).is_err());
    assert!(rope_neox(&mut y[..20], 8, 1, base).is_err());
    assert!(rope_neox(&mut y, 0, 1, base).is_err());
}

#[test]
fn squared_relu_ops() {
    let mut x = [-1.0f32, 0.0, 2.0, 0.5];
    squared_relu(&mut x);
    assert_eq!(x, [0.0, 0.0, 4.0, 0.25]);
    let mut g = [-3.0f32, 3.0, 1.0];
    squared_relu_gate(&mut g, &[2.0, 2.0, -1.0]).unwrap();
    assert_eq!(g, [0.0, 18.0, -1.0]);
    assert!(squared_relu_gate(&mut g, &[1.0]).is_err());
}
