//! Format tests: naive reference packers written from the spec text, hand-built blocks,
//! round trips, and hostile sizes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_kernels::formats::{float, i2s, q6_k, q8_0, tq1_0, tq2_0, GgmlType};
use tern_kernels::{KernelError, Scales, TernaryMatrix};

fn ternary(rng: &mut StdRng, n: usize) -> Vec<i8> {
    (0..n).map(|_| rng.random_range(-1i8..=1)).collect()
}

/// Deliberately naive `I2_S` packer, straight from the format description: every 128
/// values -> 32 bytes, byte j holds v[j] in bits 7-6, v[j+32] in 5-4, v[j+64] in 3-2,
/// v[j+96] in 1-0; codes v + 1; then the f32 scale, then zeros up to n/4 + 32.
fn naive_i2s(values: &[i8], scale: f32) -> Vec<u8> {
    let n = values.len();
    let mut out = vec![0u8; n / 4 + 32];
    for (i, &v) in values.iter().enumerate() {
        let group = i / 128;
        let within = i % 128;
        let byte = group * 32 + within % 32;
        let shift = match within / 32 {
            0 => 6,
            1 => 4,
            2 => 2,
            _ => 0,
        };
        out[byte] |= ((v + 1) as u8) << shift;
    }
    out[n / 4..n / 4 + 4].copy_from_slice(&scale.to_le_bytes());
    out
}

#[test]
fn i2s_matches_naive_packer_bit_for_bit() {
    let mut rng = StdRng::seed_from_u64(1);
    for n in [128, 256, 384, 1280, 128 * 27] {
        let v = ternary(&mut rng, n);
        let scale = rng.random_range(0.01f32..3.0);
        let packed = i2s::pack(&v, scale).unwrap();
        assert_eq!(packed, naive_i2s(&v, scale), "n = {n}");
        assert_eq!(packed.len(), i2s::packed_size(n).unwrap());
        let (back, s) = i2s::unpack(&packed, n).unwrap();
        assert_eq!(back, v);
        assert_eq!(s.to_bits(), scale.to_bits());
    }
}

#[test]
fn i2s_known_byte() {
    let mut v = vec![0i8; 128];
    v[0] = 1; // code 2 -> bits 7-6
    v[32] = -1; // code 0 -> bits 5-4
    v[64] = 0; // code 1 -> bits 3-2
    v[96] = 1; // code 2 -> bits 1-0
    let p = i2s::pack(&v, 1.5).unwrap();
    assert_eq!(p[0], 0b10_00_01_10);
    assert_eq!(p[1], 0b01_01_01_01);
    assert_eq!(&p[32..36], &1.5f32.to_le_bytes());
    assert!(p[36..].iter().all(|&b| b == 0));
    assert_eq!(p.len(), 64);
}

#[test]
fn i2s_hostile_inputs() {
    assert!(matches!(i2s::pack(&[0; 100], 1.0), Err(KernelError::NotMultiple { .. })));
    assert!(matches!(i2s::pack(&[2; 128], 1.0), Err(KernelError::BadValue { index: 0, value: 2 })));
    assert!(matches!(i2s::pack(&[0; 128], f32::NAN), Err(KernelError::BadScale { .. })));
    let good = i2s::pack(&[0; 256], 1.0).unwrap();
    assert!(matches!(i2s::unpack(&good[..good.len() - 1], 256), Err(KernelError::BadLength { .. })));
    assert!(matches!(i2s::unpack(&good, 128), Err(KernelError::BadLength { .. })));
    assert!(matches!(i2s::unpack(&good, 200), Err(KernelError::NotMultiple { .. })));
    assert!(i2s::unpack(&[], 0).is_err()); // no scale trailer
    let mut bad = good.clone();
    bad[33] = 0b01_11_01_01; // value 128 + 32 + 1 has code 3
    assert_eq!(i2s::unpack(&bad, 256).unwrap_err(), KernelError::BadCode { index: 128 + 32 + 1 });
    assert_eq!(TernaryMatrix::from_i2s(&bad, 2, 128).unwrap_err(), KernelError::BadCode { index: 161 });
}

#[test]
fn tq2_0_hand_built_block() {
    let mut block = [0x55u8; 66];
    block[0] = 0b00_01_10_00; // l=0 code 0 (v0=-1), l=1 code 2 (v32=+1), l=2 code 1 (v64=0), l=3 code 0 (v96=-1)
    block[32 + 5] = 0b00_00_00_10; // v133=+1, v165=-1, v197=-1, v229=-1
    block[64..66].copy_from_slice(&[0x00, 0x40]); // f16 2.0
    let (v, d) = tq2_0::unpack(&block, 256).unwrap();
    assert_eq!(d, vec![2.0]);
    let mut expect = vec![0i8; 256];
    expect[0] = -1;
    expect[32] = 1;
    expect[96] = -1;
    expect[133] = 1;
    expect[165] = -1;
    expect[197] = -1;
    expect[229] = -1;
    assert_eq!(v, expect);
    assert_eq!(tq2_0::pack(&expect, &[2.0]).unwrap(), block.to_vec());
    let mut y = vec![0f32; 256];
    tq2_0::dequantize(&block, &mut y).unwrap();
    assert_eq!(y[32], 2.0);
    assert_eq!(y[0], -2.0);
    assert_eq!(y[1], 0.0);
}

#[test]
fn tq2_0_round_trip_and_hostile() {
    let mut rng = StdRng::seed_from_u64(2);
    let v = ternary(&mut rng, 1024);
    let scales = [0.5, 1.0, 0.25, 3.0];
    let p = tq2_0::pack(&v, &scales).unwrap();
    assert_eq!(p.len(), 4 * 66);
    assert_eq!(tq2_0::unpack(&p, 1024).unwrap(), (v.clone(), scales.to_vec()));
    assert!(tq2_0::pack(&v, &scales[..3]).is_err());
    assert!(tq2_0::pack(&v[..1000], &scales).is_err());
    assert!(tq2_0::unpack(&p[..65], 256).is_err());
    let mut bad = p.clone();
    bad[66 + 40] |= 0b11 << 4; // block 1, j=32, m=8, l=2 -> value 256 + 128 + 64 + 8
    assert_eq!(tq2_0::unpack(&bad, 1024).unwrap_err(), KernelError::BadCode { index: 256 + 200 });
    assert_eq!(TernaryMatrix::from_tq2_0(&bad, 4, 256).unwrap_err(), KernelError::BadCode { index: 456 });
}

#[test]
fn tq1_0_hand_built_block() {
    // Hand-computed bytes: trits (t0..t4) -> q = sum t_i 3^(4-i) -> ceil(q * 256 / 243).
    // (1,1,1,1,1): q = 121 -> 128. (1,1,1,1,0) for qh: q = 120 -> 127.
    // (2,0,1,1,2): q = 176 -> 186.  qh (0,2,1,2,0): q = 69 -> 73.
    let mut block = [0u8; 54];
    block[..48].fill(128);
    block[48..52].fill(127);
    block[0] = 186;
    block[32 + 3] = 186;
    block[48 + 2] = 73;
    block[52..54].copy_from_slice(&[0x00, 0x3C]); // f16 1.0
    let mut expect = vec![0i8; 256];
    for (i, v) in [(0, 1), (32, -1), (128, 1), (163, 1), (179, -1), (227, 1), (242, -1), (246, 1), (254, 1)] {
        expect[i] = v;
    }
    let (v, d) = tq1_0::unpack(&block, 256).unwrap();
    assert_eq!(d, vec![1.0]);
    assert_eq!(v, expect);
    assert_eq!(tq1_0::pack(&expect, &[1.0]).unwrap(), block.to_vec());
}

#[test]
fn tq1_0_every_five_trit_combination_round_trips() {
    // Combination c (0..243) goes to block c / 32, byte m = c % 32 (first section).
    let mut v = vec![0i8; 8 * 256];
    for c in 0..243usize {
        let (b, m) = (c / 32, c % 32);
        let mut rest = c;
        for n in (0..5).rev() {
            v[b * 256 + n * 32 + m] = (rest % 3) as i8 - 1;
            rest /= 3;
        }
    }
    let p = tq1_0::pack(&v, &[1.0; 8]).unwrap();
    assert_eq!(tq1_0::unpack(&p, v.len()).unwrap().0, v);
    let mut rng = StdRng::seed_from_u64(3);
    let r = ternary(&mut rng, 2048);
    let p = tq1_0::pack(&r, &[0.75; 8]).unwrap();
    assert_eq!(p.len(), 8 * 54);
    assert_eq!(tq1_0::unpack(&p, 2048).unwrap(), (r, vec![0.75; 8]));
    assert!(tq1_0::unpack(&p, 2047).is_err());
    assert!(tq1_0::unpack(&p[1..], 2048).is_err());
    assert!(tq1_0::pack(&[0; 256], &[f32::INFINITY]).is_err());
}

#[test]
fn q8_0_hand_built_and_quantize() {
    let mut block = vec![0x00, 0x38]; // f16 0.5
    block.extend((0..32).map(|i| (i as i8 - 16) as u8));
    let mut y = [0f32; 32];
    q8_0::dequantize(&block, &mut y).unwrap();
    for (i, v) in y.iter().enumerate() {
        assert_eq!(*v, 0.5 * (i as f32 - 16.0));
    }
    // amax 127 -> d = 1: quants are round-half-away-from-zero of x (ggml roundf).
    let mut x = [0f32; 32];
    x[0] = 127.0;
    x[1] = 2.5;
    x[2] = -2.5;
    x[3] = -127.0;
    let q = q8_0::quantize(&x).unwrap();
    assert_eq!(&q[..2], &[0x00, 0x3C]);
    assert_eq!(&q[2..6], &[127, 3, (-3i8) as u8, (-127i8) as u8]);
    let mut rng = StdRng::seed_from_u64(4);
    let x: Vec<f32> = (0..96).map(|_| rng.random_range(-4.0f32..4.0)).collect();
    let q = q8_0::quantize(&x).unwrap();
    let mut y = vec![0f32; 96];
    q8_0::dequantize(&q, &mut y).unwrap();
    for (a, b) in x.iter().zip(&y) {
        assert!((a - b).abs() <= 4.0 / 127.0 * 0.51 + 4.0 * 1e-3, "{a} vs {b}");
    }
    assert!(q8_0::quantize(&x[..95]).is_err());
    assert!(q8_0::dequantize(&q[..33], &mut y[..32]).is_err());
}

/// Naive Q6_K packer from ggml's `quantize_row_q6_K_ref` packing loop, for quants
/// `l[i]` in 0..64 (value = d * scales[i / 16] * (l[i] - 32)).
fn naive_q6k(l: &[u8; 256], scales: &[i8; 16], d_bits: u16) -> Vec<u8> {
    let mut ql = [0u8; 128];
    let mut qh = [0u8; 64];
    for j in [0usize, 128] {
        let (qlo, qho) = (j / 2, j / 4);
        for i in 0..32 {
            let (a, b, c, e) = (l[j + i], l[j + i + 32], l[j + i + 64], l[j + i + 96]);
            ql[qlo + i] = (a & 0xF) | ((c & 0xF) << 4);
            ql[qlo + i + 32] = (b & 0xF) | ((e & 0xF) << 4);
            qh[qho + i] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
        }
    }
    let mut out = ql.to_vec();
    out.extend_from_slice(&qh);
    out.extend(scales.iter().map(|&s| s as u8));
    out.extend_from_slice(&d_bits.to_le_bytes());
    out
}

#[test]
fn q6_k_dequantizes_hand_built_blocks() {
    let scales: [i8; 16] = std::array::from_fn(|k| k as i8 - 8);
    let mut l = [32u8; 256];
    l[0] = 63;
    l[255] = 0;
    let block = naive_q6k(&l, &scales, 0x3C00); // d = 1.0
    assert_eq!(block.len(), 210);
    let mut y = [0f32; 256];
    q6_k::dequantize(&block, &mut y).unwrap();
    assert_eq!(y[0], -8.0 * 31.0);
    assert_eq!(y[255], 7.0 * -32.0);
    assert!(y[1..255].iter().all(|&v| v == 0.0));

    let mut rng = StdRng::seed_from_u64(5);
    let mut bytes = Vec::new();
    let mut expect = Vec::new();
    for _ in 0..3 {
        let l: [u8; 256] = std::array::from_fn(|_| rng.random_range(0..64));
        let sc: [i8; 16] = std::array::from_fn(|_| rng.random_range(-128..=127));
        bytes.extend(naive_q6k(&l, &sc, 0x3400)); // d = 0.25
        expect.extend((0..256).map(|i| 0.25 * sc[i / 16] as f32 * (l[i] as f32 - 32.0)));
    }
    let mut y = vec![0f32; 768];
    q6_k::dequantize(&bytes, &mut y).unwrap();
    assert_eq!(y, expect);
    assert!(q6_k::dequantize(&bytes[..209], &mut y[..256]).is_err());
    assert!(q6_k::dequantize(&bytes, &mut y[..700]).is_err());
}

#[test]
fn floats_decode() {
    let mut y = [0f32; 3];
    float::f16_to_f32(&[0x00, 0x3C, 0x00, 0xC0, 0x00, 0x7C], &mut y).unwrap();
    assert_eq!(y, [1.0, -2.0, f32::INFINITY]);
    float::bf16_to_f32(&[0x80, 0x3F, 0x00, 0xC0, 0x00, 0x00], &mut y).unwrap();
    assert_eq!(y, [1.0, -2.0, 0.0]);
    let bytes: Vec<u8> = [1.5f32, -0.25, 3e8].iter().flat_map(|v| v.to_le_bytes()).collect();
    float::f32_to_f32(&bytes, &mut y).unwrap();
    assert_eq!(y, [1.5, -0.25, 3e8]);
    assert!(float::f16_to_f32(&[0; 5], &mut y).is_err());
    assert!(float::bf16_to_f32(&[0; 7], &mut y).is_err());
    assert!(float::f32_to_f32(&bytes[1..], &mut y).is_err());
    float::f16_to_f32(&float::f32_to_f16_bytes(&[0.5, 2.0, -8.0]), &mut y).unwrap();
    assert_eq!(y, [0.5, 2.0, -8.0]);
}

#[test]
fn ggml_type_ids_and_sizes() {
    for (id, ty) in [
        (0, GgmlType::F32),
        (1, GgmlType::F16),
        (2, GgmlType::Q4_0),
        (8, GgmlType::Q8_0),
        (14, GgmlType::Q6K),
        (30, GgmlType::BF16),
        (34, GgmlType::TQ1_0),
        (35, GgmlType::TQ2_0),
        (36, GgmlType::I2S),
    ] {
        assert_eq!(GgmlType::from_id(id).unwrap(), ty);
        assert_eq!(ty.id(), id);
    }
    assert!(GgmlType::from_id(3).is_err()); // Q4_1
    assert_eq!(GgmlType::Q4_0.tensor_bytes(64).unwrap(), 36);
    assert_eq!(GgmlType::I2S.tensor_bytes(2560 * 2560).unwrap(), 2560 * 2560 / 4 + 32);
    assert_eq!(GgmlType::TQ2_0.tensor_bytes(512).unwrap(), 132);
    assert_eq!(GgmlType::TQ1_0.tensor_bytes(512).unwrap(), 108);
    assert_eq!(GgmlType::Q6K.tensor_bytes(512).unwrap(), 420);
    assert_eq!(GgmlType::Q8_0.tensor_bytes(64).unwrap(), 68);
    assert_eq!(GgmlType::BF16.tensor_bytes(3).unwrap(), 6);
    assert!(GgmlType::Q8_0.tensor_bytes(33).is_err());
    assert_eq!(
        TernaryMatrix::from_values(usize::MAX, 2, &[], 1.0).unwrap_err(),
        KernelError::TooLarge { what: "rows x cols" }
    );
}

#[test]
fn repack_i2s_ragged_and_aligned() {
    let mut rng = StdRng::seed_from_u64(6);
    for (rows, cols) in [(4, 96), (3, 128), (5, 384), (1, 640), (8, 80), (2, 320)] {
        let v = ternary(&mut rng, rows * cols);
        let bytes = i2s::pack(&v, 0.8).unwrap();
        let m = TernaryMatrix::from_i2s(&bytes, rows, cols).unwrap();
        assert_eq!((m.rows(), m.cols()), (rows, cols));
        assert_eq!(m.to_values(), v, "{rows}x{cols}");
        assert_eq!(m.scales(), &Scales::PerTensor(0.8));
        assert_eq!(m.to_i2s().unwrap(), bytes);
        // Padding columns are code 1 (weight 0).
        for r in 0..rows {
            let last = m.row_blocks(r).last().unwrap();
            for c in cols % 128..128 {
                if cols % 128 != 0 {
                    assert_eq!(last.code(c), 1);
                }
            }
        }
        let direct = TernaryMatrix::from_values(rows, cols, &v, 0.8).unwrap();
        assert_eq!(direct, m);
    }
    assert!(TernaryMatrix::from_i2s(&i2s::pack(&[0; 128], 1.0).unwrap(), 3, 40).is_err());
}

#[test]
fn repack_tq_formats_and_scale_collapse() {
    let mut rng = StdRng::seed_from_u64(7);
    let (rows, cols) = (3, 512);
    let v = ternary(&mut rng, rows * cols);
    // Uniform scales collapse to one per tensor.
    let uniform = [0.5f32; 6];
    for ty in [GgmlType::TQ2_0, GgmlType::TQ1_0] {
        let bytes = if ty == GgmlType::TQ2_0 { tq2_0::pack(&v, &uniform) } else { tq1_0::pack(&v, &uniform) };
        let m = TernaryMatrix::from_ggml(ty, &bytes.unwrap(), rows, cols).unwrap();
        assert_eq!(m.to_values(), v);
        assert_eq!(m.scales(), &Scales::PerTensor(0.5));
    }
    // Distinct scales stay per block: each 256-value scale covers two 128-blocks.
    let scales = [0.5f32, 1.0, 2.0, 0.25, 0.125, 4.0];
    for ty in [GgmlType::TQ2_0, GgmlType::TQ1_0] {
        let bytes = if ty == GgmlType::TQ2_0 { tq2_0::pack(&v, &scales) } else { tq1_0::pack(&v, &scales) };
        let m = TernaryMatrix::from_ggml(ty, &bytes.unwrap(), rows, cols).unwrap();
        assert_eq!(m.to_values(), v);
        let expect: Vec<f32> = scales.iter().flat_map(|&s| [s, s]).collect();
        assert_eq!(m.scales(), &Scales::PerBlock(expect));
        assert_eq!(m.block_scale(1, 2), 0.25); // row 1 = blocks 4..8, 256-value block 3
    }
    // An all-zero block's scale (0 here) does not prevent collapsing.
    let mut z = v.clone();
    z[256..512].fill(0);
    let bytes = tq2_0::pack(&z, &[0.5, 0.0, 0.5, 0.5, 0.5, 0.5]).unwrap();
    let m = TernaryMatrix::from_tq2_0(&bytes, rows, cols).unwrap();
    assert_eq!(m.scales(), &Scales::PerTensor(0.5));
    assert_eq!(m.to_values(), z);
    // Hostile shapes.
    let bytes = tq2_0::pack(&v, &uniform).unwrap();
    assert!(TernaryMatrix::from_tq2_0(&bytes, 6, 256).is_ok());
    assert!(TernaryMatrix::from_tq2_0(&bytes, 4, 384).is_err());
    assert!(TernaryMatrix::from_tq2_0(&bytes[..100], 3, 512).is_err());
    assert!(TernaryMatrix::from_tq1_0(&bytes, 3, 512).is_err());
    assert!(TernaryMatrix::from_ggml(GgmlType::F16, &bytes, 3, 512).is_err());
    assert!(TernaryMatrix::from_values(2, 3, &[0; 5], 1.0).is_err());
    assert!(TernaryMatrix::from_values(1, 3, &[0, 3, 0], 1.0).is_err());
}
