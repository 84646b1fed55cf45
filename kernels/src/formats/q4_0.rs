//! `Q4_0` (ggml type id 2): blocks of 32 values in 18 bytes, an f16 scale `d` then 16
//! bytes `qs`; byte `j` holds value `j` in its low nibble and value `j + 16` in its high
//! nibble; value = `d × (q - 8)`.
//!
//! Source: ggml `ggml-common.h` (`block_q4_0 { ggml_half d; uint8_t qs[QK4_0 / 2]; }`),
//! `ggml-quants.c` `quantize_row_q4_0_ref` (`max` = the value of largest magnitude, with
//! its sign; `d = max / -8`, `id = d ? 1/d : 0`, `q = min(15, (int8_t)(x * id + 8.5f))`,
//! `d` stored as f16) and `dequantize_row_q4_0`.

use crate::error::{check_len, check_multiple, mul, KernelError};
use crate::formats::{f16_le, put_f16_le};

/// ggml type id of `Q4_0`.
pub const GGML_TYPE_ID: u32 = 2;
/// Values per block.
pub const BLOCK_VALUES: usize = 32;
/// Bytes per block.
pub const BLOCK_BYTES: usize = 18;

/// Bytes for `n` values (`n` a multiple of 32): `n / 32 * 18`.
pub fn packed_size(n: usize) -> Result<usize, KernelError> {
    check_multiple("Q4_0 value count", n, BLOCK_VALUES)?;
    mul("Q4_0 bytes", n / BLOCK_VALUES, BLOCK_BYTES)
}

/// Quantizes `x` (a multiple of 32 values) as ggml's `quantize_row_q4_0_ref` does: per
/// block, `max` is the value of largest magnitude (the first on ties), `d = max / -8`
/// (so `max` itself maps to code 0, i.e. `-8 d`), `q = min(15, trunc(x / d + 8.5))`
/// computed with `1/d` in f32 before `d` is rounded to f16. A block of zeros has `d = 0`
/// and codes 8. Non-finite inputs give unspecified (but in-range) codes.
///
/// Errors: length not a multiple of 32.
pub fn quantize(x: &[f32]) -> Result<Vec<u8>, KernelError> {
    let mut out = vec![0u8; packed_size(x.len())?];
    for (xs, block) in x.chunks_exact(BLOCK_VALUES).zip(out.chunks_exact_mut(BLOCK_BYTES)) {
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in xs {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16_le(&mut block[..2], d);
        // `as i8` saturates where C's `(int8_t)` is undefined; in range both truncate.
        let code = |v: f32| ((v * id + 8.5) as i8).min(15) as u8;
        for j in 0..BLOCK_VALUES / 2 {
            block[2 + j] = code(xs[j]) | code(xs[j + BLOCK_VALUES / 2]) << 4;
        }
    }
    Ok(out)
}

/// Dequantizes `out.len()` values (a multiple of 32) from `bytes`.
///
/// Errors: `bytes.len() != packed_size(out.len())`.
pub fn dequantize(bytes: &[u8], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("Q4_0 buffer", packed_size(out.len())?, bytes.len())?;
    for (block, y) in bytes.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK_VALUES)) {
        dequantize_block(block, y);
    }
    Ok(())
}

/// One 18-byte block into 32 values. Panics if `block` is shorter than 18 bytes or `y`
/// shorter than 32 (internal callers pass exact chunks).
#[inline]
pub(crate) fn dequantize_block(block: &[u8], y: &mut [f32]) {
    let d = f16_le(&block[..2]);
    let (lo, hi) = y[..BLOCK_VALUES].split_at_mut(BLOCK_VALUES / 2);
    for ((&q, l), h) in block[2..BLOCK_BYTES].iter().zip(lo).zip(hi) {
        *l = d * ((q & 0x0F) as i32 - 8) as f32;
        *h = d * ((q >> 4) as i32 - 8) as f32;
    }
}
