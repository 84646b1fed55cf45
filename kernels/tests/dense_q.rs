//! Quantized output-head formats: `Q4_0` packing byte for byte against hand-made
//! blocks, hostile lengths, and `Q4_0` / `Q8_0` round-trip error bounds. The products
//! on these formats (every path against the scalar reference, bit for bit) are in
//! `tests/dense_q8.rs`; the F16 head's in `tests/simd.rs`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_kernels::formats::{q4_0, q8_0, GgmlType};
use tern_kernels::DenseMatrix;

// ---- Q4_0 format ----

#[test]
fn q4_0_packs_a_hand_made_block_byte_for_byte() {
    // max = -4 (largest magnitude, negative): d = -4 / -8 = 0.5, 1/d = 2,
    // q = min(15, trunc(2x + 8.5)).
    let mut x = [0f32; 32];
    x[..12].copy_from_slice(&[0.0, 0.5, -0.5, 1.0, 3.5, -4.0, 3.9, 0.24, 0.26, -0.26, 2.0, -2.0]);
    x[16..20].copy_from_slice(&[-3.0, 1.5, 0.75, -0.75]);
    // Low codes:  8  9  7 10 15  0 15  8  9  7 12  4  8  8  8  8
    // High codes: 2 11 10  7, then 8.
    let want: [u8; 18] = [
        0x00, 0x38, // f16 0.5
        0x28, 0xB9, 0xA7, 0x7A, 0x8F, 0x80, 0x8F, 0x88, 0x89, 0x87, 0x8C, 0x84, 0x88, 0x88, 0x88, 0x88,
    ];
    assert_eq!(q4_0::quantize(&x).unwrap(), want);
    let mut y = [0f32; 32];
    q4_0::dequantize(&want, &mut y).unwrap();
    let codes_lo = [8, 9, 7, 10, 15, 0, 15, 8, 9, 7, 12, 4, 8, 8, 8, 8];
    let codes_hi = [2, 11, 10, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8];
    for j in 0..16 {
        assert_eq!(y[j], 0.5 * (codes_lo[j] as f32 - 8.0), "value {j}");
        assert_eq!(y[j + 16], 0.5 * (codes_hi[j] as f32 - 8.0), "value {}", j + 16);
    }
}

#[test]
fn q4_0_sign_of_the_max_zero_blocks_and_ties() {
    // max = +4: d = -0.5, 1/d = -2; 4 -> trunc(0.5) = 0, -3 -> trunc(14.5) = 14.
    let mut x = [0f32; 32];
    x[0] = 4.0;
    x[1] = -3.0;
    let q = q4_0::quantize(&x).unwrap();
    assert_eq!(&q[..4], &[0x00, 0xB8, 0x80, 0x8E]);
    let mut y = [0f32; 32];
    q4_0::dequantize(&q, &mut y).unwrap();
    assert_eq!((y[0], y[1], y[2]), (4.0, -3.0, 0.0));
    // All zeros: d = 0 / -8 = -0 (f16 0x8000, as in ggml), every code 8.
    let q = q4_0::quantize(&[0.0; 32]).unwrap();
    assert_eq!(&q[..2], &[0x00, 0x80]);
    assert!(q[2..].iter().all(|&b| b == 0x88));
    // Equal magnitudes: the first wins (ggml's strict `amax < |v|`): max = -2, d = 0.25.
    let mut x = [0f32; 32];
    x[0] = -2.0;
    x[1] = 2.0;
    let q = q4_0::quantize(&x).unwrap();
    assert_eq!(&q[..2], &half::f16::from_f32(0.25).to_bits().to_le_bytes());
    // 2 / 0.25 + 8.5 = 16.5 -> 16 -> clamped to 15 -> dequantized 1.75.
    q4_0::dequantize(&q, &mut y).unwrap();
    assert_eq!((y[0], y[1]), (-2.0, 1.75));
}

#[test]
fn q4_0_hostile_lengths() {
    assert!(q4_0::quantize(&[0.0; 31]).is_err());
    assert!(q4_0::dequantize(&[0; 17], &mut [0.0; 32]).is_err());
    assert!(q4_0::dequantize(&[0; 18], &mut [0.0; 33]).is_err());
    assert_eq!(q4_0::packed_size(64).unwrap(), 36);
    assert!(DenseMatrix::new(GgmlType::Q4_0, 2, 48, vec![0; 54]).is_err());
    assert!(DenseMatrix::new(GgmlType::Q4_0, 2, 64, vec![0; 71]).is_err());
    // Any bytes decode (no invalid Q4_0 block besides a non-finite scale).
    let m = DenseMatrix::new(GgmlType::Q4_0, 1, 32, vec![0xFF; 18]).unwrap();
    let mut y = [0f32; 32];
    m.dequantize_row(0, &mut y).unwrap();
    assert!(y.iter().all(|v| v.is_nan()));
}

/// Per-value error bounds of a round trip, from the formats' definitions:
/// `Q4_0`: rounding to a step `|d| = amax / 8` (half a step), except the values clamped
/// from code 16 to 15 (`x / d >= 7.5`: up to a full step); `Q8_0`: half a step of
/// `amax / 127`. Plus the f16 rounding of `d` (relative 2^-11, or absolute 2^-25 where
/// `d` is an f16 subnormal, times up to 8 or 127 steps).
#[test]
fn round_trip_error_bounds() {
    let mut rng = StdRng::seed_from_u64(21);
    for scale in [1e-3f32, 1.0, 300.0] {
        let x: Vec<f32> = (0..32 * 64).map(|_| rng.random_range(-scale..scale)).collect();
        let mut y = vec![0f32; x.len()];
        q4_0::dequantize(&q4_0::quantize(&x).unwrap(), &mut y).unwrap();
        let mut worst = 0f32;
        for (xb, yb) in x.chunks(32).zip(y.chunks(32)) {
            let max = xb.iter().copied().fold(0f32, |m, v| if v.abs() > m.abs() { v } else { m });
            let step = max.abs() / 8.0;
            for (a, b) in xb.iter().zip(yb) {
                let clamped = a / (max / -8.0) >= 7.5;
                let d16 = (step * 2f32.powi(-11)).max(2f32.powi(-25));
                let bound = if clamped { step } else { step / 2.0 } * 1.0001 + 8.0 * d16 * 1.01;
                assert!((a - b).abs() <= bound, "scale {scale}: {a} -> {b}, bound {bound}");
                worst = worst.max((a - b).abs() / max.abs());
            }
        }
        // The bound is not vacuous: errors close to half a step do occur.
        assert!(worst > 0.055, "scale {scale}: worst relative error {worst}");

        q8_0::dequantize(&q8_0::quantize(&x).unwrap(), &mut y).unwrap();
        for (xb, yb) in x.chunks(32).zip(y.chunks(32)) {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d16 = (amax / 127.0 * 2f32.powi(-11)).max(2f32.powi(-25));
            let bound = amax / 127.0 / 2.0 * 1.0001 + 127.0 * d16 * 1.01;
            for (a, b) in xb.iter().zip(yb) {
                assert!((a - b).abs() <= bound, "Q8_0 scale {scale}: {a} -> {b}, bound {bound}");
            }
        }
    }
}
