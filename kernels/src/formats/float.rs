//! Plain float tensors: `F32` (ggml id 0), `F16` (id 1), `BF16` (id 30), all
//! little-endian, converted to `f32` with the `half` crate (exact: every f16 and bf16 is
//! an f32).

use crate::error::{check_len, mul, KernelError};

/// ggml type id of `F32`.
pub const F32_TYPE_ID: u32 = 0;
/// ggml type id of `F16`.
pub const F16_TYPE_ID: u32 = 1;
/// ggml type id of `BF16`.
pub const BF16_TYPE_ID: u32 = 30;

/// Copies `out.len()` little-endian f32 values from `bytes` (`4 × out.len()` bytes).
pub fn f32_to_f32(bytes: &[u8], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("F32 buffer", mul("F32 bytes", out.len(), 4)?, bytes.len())?;
    for (y, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *y = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    Ok(())
}

/// Converts `out.len()` little-endian f16 values from `bytes` (`2 × out.len()` bytes).
pub fn f16_to_f32(bytes: &[u8], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("F16 buffer", mul("F16 bytes", out.len(), 2)?, bytes.len())?;
    for (y, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *y = half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
    }
    Ok(())
}

/// Converts `out.len()` little-endian bf16 values from `bytes` (`2 × out.len()` bytes).
pub fn bf16_to_f32(bytes: &[u8], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("BF16 buffer", mul("BF16 bytes", out.len(), 2)?, bytes.len())?;
    for (y, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *y = half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
    }
    Ok(())
}

/// Encodes `values` as little-endian f16 (round to nearest even), for tests and tools.
pub fn f32_to_f16_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|&v| half::f16::from_f32(v).to_bits().to_le_bytes()).collect()
}

/// Encodes `values` as little-endian bf16 (round to nearest even), for tests and tools.
pub fn f32_to_bf16_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|&v| half::bf16::from_f32(v).to_bits().to_le_bytes()).collect()
}
