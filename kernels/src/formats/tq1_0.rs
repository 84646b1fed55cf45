//! `TQ1_0`: ggml's base-3 ternary format (ggml type id 34), 1.6875 bits per value.
//!
//! A block of 256 values takes 54 bytes: `qs[48]`, `qh[4]`, then an f16 scale `d`
//! (little-endian). A byte stores trits `t_0..t_k` (codes 0, 1, 2; value = code - 1) as
//! `q = Σ t_i·3^(k-1-i)` (first trit most significant) scaled to a fixed-point fraction
//! of 256: `byte = ceil(q · 256 / 3^k)`, i.e. `(q * 256 + 242) / 243` for `k = 5`; `qh`
//! bytes hold four trits and a zero fifth (`q *= 3` before scaling). Trit `n` of a byte is
//! recovered as `((byte · 3^n mod 256) · 3) >> 8`.
//!
//! Value index of trit `n` of:
//! - `qs[m]`, `m` in 0..32: `n * 32 + m` (n in 0..5, values 0..160),
//! - `qs[32 + m]`, `m` in 0..16: `160 + n * 16 + m` (values 160..240),
//! - `qh[m]`, `m` in 0..4: `240 + n * 4 + m` (n in 0..4, values 240..256).
//!
//! Source: ggml `ggml-quants.c` `quantize_row_tq1_0_ref` (`q *= 3; q += xi` over
//! `x[m + n*32]`, then `q = ((uint16_t)q * 256 + (243 - 1)) / 243`; for `qh`:
//! `x[j + m*4]`, an extra `q *= 3`) and `dequantize_row_tq1_0` (`pow3 = {1, 3, 9, 27, 81,
//! 243}`, `q = qs[j + m] * pow3[n]` as `uint8_t`, `xi = ((uint16_t) q * 3) >> 8`).
//! Every byte decodes to valid trits, so unpacking never fails on content; bytes a packer
//! would not produce (e.g. 243..=255 in `qs`) still decode as ggml decodes them.

use crate::error::{check_len, check_multiple, mul, KernelError};
use crate::formats::{check_scales, check_ternary, f16_le, put_f16_le};

/// ggml type id of `TQ1_0`.
pub const GGML_TYPE_ID: u32 = 34;
/// Values per block.
pub const BLOCK_VALUES: usize = 256;
/// Bytes per block.
pub const BLOCK_BYTES: usize = 54;

const POW3: [u8; 6] = [1, 3, 9, 27, 81, 243];

/// Bytes for `n` values (`n` a multiple of 256): `n / 256 * 54`.
pub fn packed_size(n: usize) -> Result<usize, KernelError> {
    check_multiple("TQ1_0 value count", n, BLOCK_VALUES)?;
    mul("TQ1_0 bytes", n / BLOCK_VALUES, BLOCK_BYTES)
}

/// Trit `n` (0 = most significant) of a packed byte, as ggml decodes it.
#[inline]
pub fn trit(byte: u8, n: usize) -> u8 {
    let q = byte.wrapping_mul(POW3[n]);
    ((q as u16 * 3) >> 8) as u8
}

/// Packs five codes (0..=2, first most significant) into one byte.
#[inline]
fn pack5(codes: [u8; 5]) -> u8 {
    let q = codes.iter().fold(0u16, |q, &c| q * 3 + c as u16);
    // ggml: `(q * 256 + (243 - 1)) / 243`, a ceiling division.
    (q * 256).div_ceil(243) as u8
}

/// Packs ternary `values` (multiple of 256) with one scale per 256-value block.
///
/// Errors: bad lengths, non-ternary values, non-finite scales.
pub fn pack(values: &[i8], scales: &[f32]) -> Result<Vec<u8>, KernelError> {
    let mut out = vec![0u8; packed_size(values.len())?];
    check_len("TQ1_0 scales", values.len() / BLOCK_VALUES, scales.len())?;
    check_ternary(values)?;
    check_scales(scales)?;
    for ((vals, block), &d) in
        values.chunks_exact(BLOCK_VALUES).zip(out.chunks_exact_mut(BLOCK_BYTES)).zip(scales)
    {
        let c = |i: usize| (vals[i] + 1) as u8;
        for (m, byte) in block[..32].iter_mut().enumerate() {
            *byte = pack5(std::array::from_fn(|n| c(n * 32 + m)));
        }
        for (m, byte) in block[32..48].iter_mut().enumerate() {
            *byte = pack5(std::array::from_fn(|n| c(160 + n * 16 + m)));
        }
        for (m, byte) in block[48..52].iter_mut().enumerate() {
            *byte = pack5(std::array::from_fn(|n| if n < 4 { c(240 + n * 4 + m) } else { 0 }));
        }
        put_f16_le(&mut block[52..], d);
    }
    Ok(out)
}

/// Decodes one 54-byte block into 256 codes (0, 1, 2) in value order; returns `d`.
///
/// Errors: `block.len() != 54`.
pub fn decode_block_codes(block: &[u8], codes: &mut [u8; 256]) -> Result<f32, KernelError> {
    check_len("TQ1_0 block", BLOCK_BYTES, block.len())?;
    for n in 0..5 {
        for m in 0..32 {
            codes[n * 32 + m] = trit(block[m], n);
        }
        for m in 0..16 {
            codes[160 + n * 16 + m] = trit(block[32 + m], n);
        }
    }
    for n in 0..4 {
        for m in 0..4 {
            codes[240 + n * 4 + m] = trit(block[48 + m], n);
        }
    }
    Ok(f16_le(&block[52..54]))
}

/// Unpacks `n` values into `(values, per-block scales as f32)`.
///
/// Errors: `bytes.len() != packed_size(n)`.
pub fn unpack(bytes: &[u8], n: usize) -> Result<(Vec<i8>, Vec<f32>), KernelError> {
    check_len("TQ1_0 buffer", packed_size(n)?, bytes.len())?;
    let mut values = vec![0i8; n];
    let mut scales = Vec::with_capacity(n / BLOCK_VALUES);
    let mut codes = [0u8; 256];
    for (block, vals) in bytes.chunks_exact(BLOCK_BYTES).zip(values.chunks_exact_mut(BLOCK_VALUES)) {
        scales.push(decode_block_codes(block, &mut codes)?);
        for (v, &c) in vals.iter_mut().zip(codes.iter()) {
            *v = c as i8 - 1;
        }
    }
    Ok((values, scales))
}

/// Dequantizes `out.len()` values (value × block scale) into `out`.
///
/// Errors: `bytes.len() != packed_size(out.len())`.
pub fn dequantize(bytes: &[u8], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("TQ1_0 buffer", packed_size(out.len())?, bytes.len())?;
    let mut codes = [0u8; 256];
    for (block, y) in bytes.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK_VALUES)) {
        let d = decode_block_codes(block, &mut codes)?;
        for (y, &c) in y.iter_mut().zip(codes.iter()) {
            *y = (c as i32 - 1) as f32 * d;
        }
    }
    Ok(())
}
