//! On-disk tensor formats, byte-exact with the GGUF files users have.
//!
//! | module | ggml type (id) | block | bytes | meaning |
//! | --- | --- | --- | --- | --- |
//! | [`i2s`] | `I2_S` (36, bitnet.cpp) | 128 values | 32 (+ one 32-byte trailer per tensor) | ternary, one f32 scale per tensor |
//! | [`tq2_0`] | `TQ2_0` (35) | 256 | 66 | ternary, 2 bits each, f16 scale per block |
//! | [`tq1_0`] | `TQ1_0` (34) | 256 | 54 | ternary, base-3 (5 or 4 trits a byte), f16 scale per block |
//! | [`float`] | `F32` (0), `F16` (1), `BF16` (30) | 1 | 4, 2, 2 | plain little-endian floats |
//! | [`q4_0`] | `Q4_0` (2) | 32 | 18 | f16 scale + 32 × 4-bit (`q - 8`) |
//! | [`q8_0`] | `Q8_0` (8) | 32 | 34 | f16 scale + 32 × i8 |
//! | [`q6_k`] | `Q6_K` (14) | 256 | 210 | 6-bit, 16 i8 sub-scales + f16 super-scale |
//!
//! Ternary formats pack and unpack both ways; [`crate::ternary::TernaryMatrix`] repacks any
//! of them into the kernels' internal layout at load time. The others dequantize to `f32`
//! (embeddings, output heads); `Q8_0` and `Q4_0` also quantize (output heads re-encoded
//! at load, tests).
//!
//! Every function here checks lengths and returns [`crate::KernelError`] on a mismatch;
//! none panics on hostile input.

pub mod float;
pub mod i2s;
pub mod q4_0;
pub mod q6_k;
pub mod q8_0;
pub mod tq1_0;
pub mod tq2_0;

use crate::error::{check_multiple, mul, KernelError};

/// The ggml tensor types this crate understands, with their ggml type ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 32-bit float (id 0).
    F32,
    /// IEEE half (id 1).
    F16,
    /// `Q4_0` (id 2).
    Q4_0,
    /// `Q8_0` (id 8).
    Q8_0,
    /// `Q6_K` (id 14).
    Q6K,
    /// bfloat16 (id 30).
    BF16,
    /// `TQ1_0` (id 34).
    TQ1_0,
    /// `TQ2_0` (id 35).
    TQ2_0,
    /// bitnet.cpp's `I2_S` (id 36).
    I2S,
}

impl GgmlType {
    /// The type for a ggml type id, or [`KernelError::UnsupportedFormat`].
    pub fn from_id(id: u32) -> Result<GgmlType, KernelError> {
        Ok(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            8 => GgmlType::Q8_0,
            14 => GgmlType::Q6K,
            30 => GgmlType::BF16,
            34 => GgmlType::TQ1_0,
            35 => GgmlType::TQ2_0,
            36 => GgmlType::I2S,
            _ => return Err(KernelError::UnsupportedFormat { ggml_type: id, purpose: "tern-kernels" }),
        })
    }

    /// The ggml type id.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q8_0 => 8,
            GgmlType::Q6K => 14,
            GgmlType::BF16 => 30,
            GgmlType::TQ1_0 => 34,
            GgmlType::TQ2_0 => 35,
            GgmlType::I2S => 36,
        }
    }

    /// Values per block (`I2_S`: 128, its packing group).
    pub fn block_values(self) -> usize {
        match self {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => 1,
            GgmlType::Q4_0 => q4_0::BLOCK_VALUES,
            GgmlType::Q8_0 => q8_0::BLOCK_VALUES,
            GgmlType::Q6K => q6_k::BLOCK_VALUES,
            GgmlType::TQ1_0 => tq1_0::BLOCK_VALUES,
            GgmlType::TQ2_0 => tq2_0::BLOCK_VALUES,
            GgmlType::I2S => i2s::BLOCK_VALUES,
        }
    }

    /// Whether the values are ternary (`I2_S`, `TQ1_0`, `TQ2_0`).
    pub fn is_ternary(self) -> bool {
        matches!(self, GgmlType::I2S | GgmlType::TQ1_0 | GgmlType::TQ2_0)
    }

    /// Bytes a whole tensor of `n` values takes (for `I2_S` including its 32-byte
    /// scale trailer). Errors when `n` is not a multiple of [`GgmlType::block_values`].
    pub fn tensor_bytes(self, n: usize) -> Result<usize, KernelError> {
        let per_block = match self {
            GgmlType::I2S => return i2s::packed_size(n),
            GgmlType::F32 => 4,
            GgmlType::F16 | GgmlType::BF16 => 2,
            GgmlType::Q4_0 => q4_0::BLOCK_BYTES,
            GgmlType::Q8_0 => q8_0::BLOCK_BYTES,
            GgmlType::Q6K => q6_k::BLOCK_BYTES,
            GgmlType::TQ1_0 => tq1_0::BLOCK_BYTES,
            GgmlType::TQ2_0 => tq2_0::BLOCK_BYTES,
        };
        check_multiple("value count", n, self.block_values())?;
        mul("tensor bytes", n / self.block_values(), per_block)
    }
}

/// Reads a little-endian f16 at `b[0..2]` as f32.
#[inline]
pub(crate) fn f16_le(b: &[u8]) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()
}

/// Writes `v` rounded to f16 (round to nearest even) as two little-endian bytes.
#[inline]
pub(crate) fn put_f16_le(out: &mut [u8], v: f32) {
    out[..2].copy_from_slice(&half::f16::from_f32(v).to_bits().to_le_bytes());
}

/// Checks a ternary value slice, mapping each value `v` to its code `v + 1`.
pub(crate) fn check_ternary(values: &[i8]) -> Result<(), KernelError> {
    match values.iter().position(|v| !(-1..=1).contains(v)) {
        Some(index) => Err(KernelError::BadValue { index, value: values[index] }),
        None => Ok(()),
    }
}

/// Checks that every scale is finite.
pub(crate) fn check_scales(scales: &[f32]) -> Result<(), KernelError> {
    match scales.iter().position(|s| !s.is_finite()) {
        Some(index) => Err(KernelError::BadScale { index, value: scales[index] }),
        None => Ok(()),
    }
}
