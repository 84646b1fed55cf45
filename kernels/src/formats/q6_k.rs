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

/// Byte offset of `ql[128]` (the low 4 bits) in a super-block.
pub(crate) const QL: usize = 0;
/// Byte offset of `qh[64]` (the high 2 bits).
pub(crate) const QH: usize = 128;
/// Byte offset of `scales[16]` (`i8`, one per 16 values).
pub(crate) const SCALES: usize = 192;
/// Byte offset of the f16 super-block scale `d`.
pub(crate) const D: usize = 208;

/// The 256 centred 6-bit codes `q - 32` (`-32..=31`) of one 210-byte super-block, in
/// value order (the decoding in the module docs, without the scales). Panics on shorter
/// slices (internal callers pass exact chunks).
#[inline]
pub(crate) fn codes(block: &[u8], q: &mut [i8; BLOCK_VALUES]) {
    for h in 0..2 {
        let ql = &block[QL + 64 * h..QL + 64 * h + 64];
        let qh = &block[QH + 32 * h..QH + 32 * h + 32];
        let q = &mut q[128 * h..128 * h + 128];
        for l in 0..32 {
            q[l] = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i8 - 32;
            q[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            q[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            q[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
        }
    }
}

/// One 210-byte super-block into 256 values: `y[i] = d * sc[i / 16] * (q_i - 32)`. Panics
/// on shorter slices (internal callers pass exact chunks).
#[inline]
pub(crate) fn dequantize_block(block: &[u8], y: &mut [f32]) {
    let d = f16_le(&block[D..D + 2]);
    let mut q = [0i8; BLOCK_VALUES];
    codes(block, &mut q);
    for ((y, q), &sc) in y.chunks_exact_mut(16).zip(q.chunks_exact(16)).zip(&block[SCALES..SCALES + 16]) {
        let s = sc as i8 as f32;
        for (y, &q) in y.iter_mut().zip(q) {
            *y = d * s * q as f32;
        }
    }
}
