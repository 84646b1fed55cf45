//! `TQ2_0`: ggml's 2-bit ternary format (ggml type id 35).
//!
//! A block of 256 values takes 66 bytes: `qs[64]`, then an f16 scale `d` (little-endian).
//! Byte `qs[j + m]` (`j` in {0, 32}, `m` in 0..32) holds, in its bit pair `l` (bits
//! `2l..2l+2`, least significant pair first, `l` in 0..4), the code of value
//! `j * 4 + l * 32 + m`. Code `c` (0, 1, 2) means value `c - 1`, weight `(c - 1) × d`.
//!
//! Source: ggml `ggml-common.h` (`block_tq2_0 { uint8_t qs[QK_K/4]; ggml_half d; }`),
//! `ggml-quants.c` `quantize_row_tq2_0_ref` (`q += (xi & 3) << (2*n)` for
//! `x[m + n*32]`, `x += 4*32` per 32 bytes) and `dequantize_row_tq2_0`
//! (`(qs[j + m] >> (l*2)) & 3`, minus 1, times `d`). ggml would read a code 3 as +2; this
//! module rejects it ([`KernelError::BadCode`]).

use crate::error::{check_len, check_multiple, mul, KernelError};
use crate::formats::{check_scales, check_ternary, f16_le, put_f16_le};

/// ggml type id of `TQ2_0`.
pub const GGML_TYPE_ID: u32 = 35;
/// Values per block.
pub const BLOCK_VALUES: usize = 256;
/// Bytes per block.
pub const BLOCK_BYTES: usize = 66;

/// Bytes for `n` values (`n` a multiple of 256): `n / 256 * 66`.
pub fn packed_size(n: usize) -> Result<usize, KernelError> {
    check_multiple("TQ2_0 value count", n, BLOCK_VALUES)?;
    mul("TQ2_0 bytes", n / BLOCK_VALUES, BLOCK_BYTES)
}

/// Packs ternary `values` (multiple of 256) with one scale per 256-value block
/// (`scales.len() == values.len() / 256`; each rounded to f16).
///
/// Errors: bad lengths, non-ternary values, non-finite scales.
pub fn pack(values: &[i8], scales: &[f32]) -> Result<Vec<u8>, KernelError> {
    let mut out = vec![0u8; packed_size(values.len())?];
    check_len("TQ2_0 scales", values.len() / BLOCK_VALUES, scales.len())?;
    check_ternary(values)?;
    check_scales(scales)?;
    for ((vals, block), &d) in
        values.chunks_exact(BLOCK_VALUES).zip(out.chunks_exact_mut(BLOCK_BYTES)).zip(scales)
    {
        encode_block(vals, block, d);
    }
    Ok(out)
}

fn encode_block(vals: &[i8], block: &mut [u8], d: f32) {
    for j in [0usize, 32] {
        for m in 0..32 {
            let mut q = 0u8;
            for l in 0..4 {
                q |= ((vals[j * 4 + l * 32 + m] + 1) as u8) << (2 * l);
            }
            block[j + m] = q;
        }
    }
    put_f16_le(&mut block[64..], d);
}

/// Decodes one 66-byte block into 256 codes (0, 1, 2) in value order and returns its
/// scale `d`. `first_index` only labels errors.
///
/// Errors: a code 3.
pub fn decode_block_codes(
    block: &[u8],
    codes: &mut [u8; 256],
    first_index: usize,
) -> Result<f32, KernelError> {
    check_len("TQ2_0 block", BLOCK_BYTES, block.len())?;
    for j in [0usize, 32] {
        for m in 0..32 {
            let byte = block[j + m];
            for l in 0..4 {
                let c = (byte >> (2 * l)) & 3;
                let i = j * 4 + l * 32 + m;
                if c == 3 {
                    return Err(KernelError::BadCode { index: first_index + i });
                }
                codes[i] = c;
            }
        }
    }
    Ok(f16_le(&block[64..66]))
}

/// Unpacks `n` values into `(values, per-block scales as f32)`.
///
/// Errors: `bytes.len() != packed_size(n)`, a code 3.
pub fn unpack(bytes: &[u8], n: usize) -> Result<(Vec<i8>, Vec<f32>), KernelError> {
    check_len("TQ2_0 buffer", packed_size(n)?, bytes.len())?;
    let mut values = vec![0i8; n];
    let mut scales = Vec::with_capacity(n / BLOCK_VALUES);
    let mut codes = [0u8; 256];
    for (b, (block, vals)) in
        bytes.chunks_exact(BLOCK_BYTES).zip(values.chunks_exact_mut(BLOCK_VALUES)).enumerate()
    {
        scales.push(decode_block_codes(block, &mut codes, b * BLOCK_VALUES)?);
        for (v, &c) in vals.iter_mut().zip(codes.iter()) {
            *v = c as i8 - 1;
        }
    }
    Ok((values, scales))
}

/// Dequantizes `out.len()` values (value × block scale) into `out`.
///
/// Errors: as [`unpack`].
pub fn dequantize(bytes: &[u8], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("TQ2_0 buffer", packed_size(out.len())?, bytes.len())?;
    let mut codes = [0u8; 256];
    for (b, (block, y)) in bytes.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK_VALUES)).enumerate()
    {
        let d = decode_block_codes(block, &mut codes, b * BLOCK_VALUES)?;
        for (y, &c) in y.iter_mut().zip(codes.iter()) {
            *y = (c as i32 - 1) as f32 * d;
        }
    }
    Ok(())
}
