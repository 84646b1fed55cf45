//! `I2_S`: bitnet.cpp's ternary format (ggml type id 36).
//!
//! Layout of a tensor of `n` values (the tensor flattened row-major: one row per output
//! feature, its K inputs contiguous; `n` a multiple of 128):
//!
//! - `n / 4` packed bytes: each group of 128 consecutive values `v[0..128]` becomes 32
//!   bytes; byte `j` (0..32) holds `v[j]` in bits 7-6, `v[j + 32]` in bits 5-4,
//!   `v[j + 64]` in bits 3-2 and `v[j + 96]` in bits 1-0. Codes: 0 = -1, 1 = 0, 2 = +1
//!   (3 is never written).
//! - one little-endian `f32` scale for the whole tensor (weight = value × scale),
//! - zero padding up to a total of `n / 4 + 32` bytes.
//!
//! Groups run across row boundaries when K is not a multiple of 128.
//!
//! Source: microsoft/BitNet `src/ggml-bitnet-mad.cpp`, `quantize_i2_s`, x86 build (the
//! `ACT_PARALLEL` branch, which `include/gemm-config.h` defines): `group_idx = j / 32`,
//! `group_pos = j % 32`, `i2_weight[i * 32 + group_pos] |= q8 << (6 - 2 * group_idx)`,
//! the scale at byte `n / 4`, and a return size of `n / 4 + 32`. bitnet.cpp's *ARM*
//! build packs 64-value groups of 16 bytes instead (`QK_I2_S 64`); files written by it are
//! not this layout and are not readable here.

use crate::error::{check_len, check_multiple, KernelError};
use crate::formats::{check_scales, check_ternary};

/// ggml type id of `I2_S`.
pub const GGML_TYPE_ID: u32 = 36;
/// Values per packing group.
pub const BLOCK_VALUES: usize = 128;
/// Bytes per packing group.
pub const BLOCK_BYTES: usize = 32;
/// Bytes after the packed data: the f32 scale and zero padding.
pub const TRAILER_BYTES: usize = 32;

/// Total bytes of an `I2_S` tensor of `n` values: `n / 4 + 32`.
///
/// Errors: `n` not a multiple of 128 (bitnet.cpp drops such a tail, so no file has one).
pub fn packed_size(n: usize) -> Result<usize, KernelError> {
    check_multiple("I2_S value count", n, BLOCK_VALUES)?;
    Ok(n / 4 + TRAILER_BYTES)
}

/// Byte and bit shift holding the code of flat value `i`.
#[inline]
pub fn code_position(i: usize) -> (usize, u32) {
    let (group, within) = (i / BLOCK_VALUES, i % BLOCK_VALUES);
    (group * BLOCK_BYTES + within % 32, 6 - 2 * (within / 32) as u32)
}

/// Packs ternary `values` (each -1, 0 or 1; `len` a multiple of 128) and a per-tensor
/// `scale` into a new `I2_S` buffer of [`packed_size`] bytes.
///
/// Errors: bad length, a non-ternary value, a non-finite scale.
pub fn pack(values: &[i8], scale: f32) -> Result<Vec<u8>, KernelError> {
    let mut out = vec![0u8; packed_size(values.len())?];
    pack_into(values, scale, &mut out)?;
    Ok(out)
}

/// [`pack`] into a caller buffer of exactly [`packed_size`]`(values.len())` bytes
/// (overwritten entirely, padding included).
pub fn pack_into(values: &[i8], scale: f32, out: &mut [u8]) -> Result<(), KernelError> {
    check_len("I2_S buffer", packed_size(values.len())?, out.len())?;
    check_ternary(values)?;
    check_scales(&[scale])?;
    let n4 = values.len() / 4;
    for (group, block) in values.chunks_exact(BLOCK_VALUES).zip(out[..n4].chunks_exact_mut(BLOCK_BYTES)) {
        for (j, byte) in block.iter_mut().enumerate() {
            let c = |g: usize| (group[j + 32 * g] + 1) as u8;
            *byte = (c(0) << 6) | (c(1) << 4) | (c(2) << 2) | c(3);
        }
    }
    out[n4..n4 + 4].copy_from_slice(&scale.to_le_bytes());
    out[n4 + 4..].fill(0);
    Ok(())
}

/// Reads the per-tensor scale of an `I2_S` tensor of `n` values.
///
/// Errors: `bytes.len() != packed_size(n)`.
pub fn scale(bytes: &[u8], n: usize) -> Result<f32, KernelError> {
    check_len("I2_S buffer", packed_size(n)?, bytes.len())?;
    let n4 = n / 4;
    Ok(f32::from_le_bytes([bytes[n4], bytes[n4 + 1], bytes[n4 + 2], bytes[n4 + 3]]))
}

/// Unpacks an `I2_S` tensor of `n` values into `(values, scale)`.
///
/// Errors: `bytes.len() != n / 4 + 32`, `n` not a multiple of 128, a code 3
/// ([`KernelError::BadCode`]). The padding bytes are not inspected.
pub fn unpack(bytes: &[u8], n: usize) -> Result<(Vec<i8>, f32), KernelError> {
    let s = scale(bytes, n)?;
    let mut values = vec![0i8; n];
    unpack_into(bytes, &mut values)?;
    Ok((values, s))
}

/// Unpacks the values (not the scale) of an `I2_S` tensor of `out.len()` values into
/// `out`. Errors as [`unpack`].
pub fn unpack_into(bytes: &[u8], out: &mut [i8]) -> Result<(), KernelError> {
    check_len("I2_S buffer", packed_size(out.len())?, bytes.len())?;
    for (g, (group, block)) in
        out.chunks_exact_mut(BLOCK_VALUES).zip(bytes.chunks_exact(BLOCK_BYTES)).enumerate()
    {
        for (j, &byte) in block.iter().enumerate() {
            for k in 0..4 {
                let code = (byte >> (6 - 2 * k)) & 3;
                if code == 3 {
                    return Err(KernelError::BadCode { index: g * BLOCK_VALUES + 32 * k + j });
                }
                group[32 * k + j] = code as i8 - 1;
            }
        }
    }
    Ok(())
}
