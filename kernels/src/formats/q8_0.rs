//! `Q8_0` (ggml type id 8): blocks of 32 values in 34 bytes, an f16 scale `d` then 32
//! `i8` quants `qs`; value = `d × qs[i]`.
//!
//! Source: ggml `ggml-common.h` (`block_q8_0 { ggml_half d; int8_t qs[QK8_0]; }`),
//! `ggml-quants.c` `quantize_row_q8_0_ref` (`d = amax / 127`, `id = d ? 1/d : 0`,
//! `qs = roundf(x * id)`, `d` stored as f16) and `dequantize_row_q8_0`.

use crate::error::{check_len, check_multiple, mul, KernelError};
use crate::formats::{f16_le, put_f16_le};

/// ggml type id of `Q8_0`.
pub const GGML_TYPE_ID: u32 = 8;
/// Values per block.
pub const BLOCK_VALUES: usize = 32;
/// Bytes per block.
pub const BLOCK_BYTES: usize = 34;

/// Bytes for `n` values (`n` a multiple of 32): `n / 32 * 34`.
pub fn packed_size(n: usize) -> Result<usize, KernelError> {
    check_multiple("Q8_0 value count", n, BLOCK_VALUES)?;
    mul("Q8_0 bytes", n / BLOCK_VALUES, BLOCK_BYTES)
}

/// Quantizes `x` (a multiple of 32 values) as ggml's `quantize_row_q8_0_ref` does:
/// per block `d = max|x| / 127`, `qs = round_half_away(x / d)` (computed with `1/d` in
/// f32, before `d` is rounded to f16).
///
/// Errors: length not a multiple of 32.
pub fn quantize(x: &[f32]) -> Result<Vec<u8>, KernelError> {
    let mut out = vec![0u8; packed_size(x.len())?];
    for (xs, block) in x.chunks_exact(BLOCK_VALUES).zip(out.chunks_exact_mut(BLOCK_BYTES)) {
        let amax = xs.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16_le(&mut block[..2], d);
        for (q, &v) in block[2..].iter_mut().zip(xs) {
            *q = ((v * id).round() as i8) as u8;
        }
    }
    Ok(out)
}

/// Dequantizes `out.len()` values (a multiple of 32) from `bytes`.
///
/// Errors: `bytes.len() != packed_size(out.len())`.
pub fn dequantize(bytes: &[u8], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("Q8_0 buffer", packed_size(out.len())?, bytes.len())?;
    for (block, y) in bytes.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK_VALUES)) {
        dequantize_block(block, y);
    }
    Ok(())
}

/// One 34-byte block into 32 values. Panics if `block` is shorter than 34 bytes or `y`
/// shorter than 32 (internal callers pass exact chunks).
#[inline]
pub(crate) fn dequantize_block(block: &[u8], y: &mut [f32]) {
    let d = f16_le(&block[..2]);
    for (y, &q) in y[..BLOCK_VALUES].iter_mut().zip(&block[2..BLOCK_BYTES]) {
        *y = d * (q as i8) as f32;
    }
}
