//! `Q6_K` (ggml type id 14): super-blocks of 256 values in 210 bytes: `ql[128]` (low 4
//! bits), `qh[64]` (high 2 bits), `scales[16]` (`i8`, one per 16 values), f16 `d`.
//!
//! Decoding, for each half `h` in 0..2 (values `128h..128h+128`, `ql += 64h`,
//! `qh += 32h`, `scales += 8h`) and `l` in 0..32 with `is = l / 16`:
//!
//! ```text
//! q1 = (ql[l]      & 0xF | ((qh[l] >> 0) & 3) << 4) - 32   -> y[l]      = d * sc[is + 0] * q1
//! q2 = (ql[l + 32] & 0xF | ((qh[l] >> 2) & 3) << 4) - 32   -> y[l + 32] = d * sc[is + 2] * q2
//! q3 = (ql[l]      >> 4  | ((qh[l] >> 4) & 3) << 4) - 32   -> y[l + 64] = d * sc[is + 4] * q3
//! q4 = (ql[l + 32] >> 4  | ((qh[l] >> 6) & 3) << 4) - 32   -> y[l + 96] = d * sc[is + 6] * q4
//! ```
//!
//! Source: ggml `ggml-common.h` `block_q6_K` and `ggml-quants.c` `dequantize_row_q6_K`
//! (same expression order: `d * sc * q` in f32).

use crate::error::{check_len, check_multiple, mul, KernelError};
use crate::formats::f16_le;

/// ggml type id of `Q6_K`.
pub const GGML_TYPE_ID: u32 = 14;
/// Values per super-block.
pub const BLOCK_VALUES: usize = 256;
/// Bytes per super-block.
pub const BLOCK_BYTES: usize = 210;

/// Bytes for `n` values (`n` a multiple of 256): `n / 256 * 210`.
pub fn packed_size(n: usize) -> Result<usize, KernelError> {
    check_multiple("Q6_K value count", n, BLOCK_VALUES)?;
    mul("Q6_K bytes", n / BLOCK_VALUES, BLOCK_BYTES)
}

/// Dequantizes `out.len()` values (a multiple of 256) from `bytes`.
///
/// Errors: `bytes.len() != packed_size(out.len())`.
pub fn dequantize(bytes: &[u8], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("Q6_K buffer", packed_size(out.len())?, bytes.len())?;
    for (block, y) in bytes.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK_VALUES)) {
        dequantize_block(block, y);
    }
    Ok(())
}

/// One 210-byte super-block into 256 values. Panics on shorter slices (internal callers
/// pass exact chunks).
#[inline]
pub(crate) fn dequantize_block(block: &[u8], y: &mut [f32]) {
    let d = f16_le(&block[208..210]);
    for h in 0..2 {
        let ql = &block[64 * h..64 * h + 64];
        let qh = &block[128 + 32 * h..128 + 32 * h + 32];
        let sc = &block[192 + 8 * h..192 + 8 * h + 8];
        let y = &mut y[128 * h..128 * h + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            let s = |k: usize| (sc[is + k] as i8) as f32;
            y[l] = d * s(0) * q1 as f32;
            y[l + 32] = d * s(2) * q2 as f32;
            y[l + 64] = d * s(4) * q3 as f32;
            y[l + 96] = d * s(6) * q4 as f32;
        }
    }
}
