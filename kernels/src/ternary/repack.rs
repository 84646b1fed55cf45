//! Load-time repack of `I2_S`, `TQ2_0` and `TQ1_0` tensors into [`TernaryMatrix`], and
//! back to `I2_S`.

use super::{PackedBlock, Scales, TernaryMatrix, BLOCK_COLS, ZERO_BLOCK, ZERO_CODE};
use crate::error::{check_len, check_multiple, mul, KernelError};
use crate::formats::{i2s, tq1_0, tq2_0, GgmlType};

/// `REVERSE_PAIRS[b]` is `b` with its four 2-bit fields in reverse order: turns a `TQ2_0`
/// byte (first value in bits 1-0) into an `I2_S` one (first value in bits 7-6).
const REVERSE_PAIRS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let v = b as u8;
        t[b] = ((v & 3) << 6) | (((v >> 2) & 3) << 4) | (((v >> 4) & 3) << 2) | (v >> 6);
        b += 1;
    }
    t
};

/// Whether any 2-bit field of `b` is 3.
#[inline]
fn has_code3(b: u8) -> bool {
    (b & (b >> 1) & 0x55) != 0
}

impl TernaryMatrix {
    /// Repacks a ggml ternary tensor (`I2_S`, `TQ2_0` or `TQ1_0`) of `rows × cols`
    /// values (ggml's `ne[1] × ne[0]`) from its raw bytes.
    ///
    /// Errors: a non-ternary type ([`KernelError::UnsupportedFormat`]), and those of
    /// [`TernaryMatrix::from_i2s`], [`TernaryMatrix::from_tq2_0`],
    /// [`TernaryMatrix::from_tq1_0`].
    pub fn from_ggml(ty: GgmlType, bytes: &[u8], rows: usize, cols: usize) -> Result<Self, KernelError> {
        match ty {
            GgmlType::I2S => Self::from_i2s(bytes, rows, cols),
            GgmlType::TQ2_0 => Self::from_tq2_0(bytes, rows, cols),
            GgmlType::TQ1_0 => Self::from_tq1_0(bytes, rows, cols),
            other => Err(KernelError::UnsupportedFormat { ggml_type: other.id(), purpose: "ternary repack" }),
        }
    }

    /// Repacks an `I2_S` tensor (`rows × cols` values, `rows × cols` a multiple of 128,
    /// `bytes.len() == rows * cols / 4 + 32`). When `cols` is a multiple of 128 the
    /// packed groups are already this crate's blocks and are copied as they are;
    /// otherwise values are moved one by one into padded rows. Scale: per tensor.
    ///
    /// Errors: bad sizes, a code 3, a non-finite scale.
    pub fn from_i2s(bytes: &[u8], rows: usize, cols: usize) -> Result<Self, KernelError> {
        let n = mul("rows x cols", rows, cols)?;
        let scale = i2s::scale(bytes, n)?;
        let mut m = Self::zeros(rows, cols, Scales::PerTensor(scale))?;
        let packed = &bytes[..n / 4];
        if let Some(i) = packed.iter().position(|&b| has_code3(b)) {
            let shift = (0..4).find(|k| (packed[i] >> (6 - 2 * k)) & 3 == 3).unwrap_or(0);
            return Err(KernelError::BadCode { index: i / 32 * 128 + shift * 32 + i % 32 });
        }
        if cols.is_multiple_of(BLOCK_COLS) {
            for (dst, src) in m.blocks.iter_mut().zip(packed.chunks_exact(32)) {
                dst.0.copy_from_slice(src);
            }
            return Ok(m);
        }
        let mut codes = [ZERO_CODE; BLOCK_COLS];
        for r in 0..rows {
            for b in 0..m.blocks_per_row {
                codes.fill(ZERO_CODE);
                let c0 = b * BLOCK_COLS;
                for (c, code) in codes.iter_mut().enumerate().take((cols - c0).min(BLOCK_COLS)) {
                    let (byte, shift) = i2s::code_position(r * cols + c0 + c);
                    *code = (packed[byte] >> shift) & 3;
                }
                m.blocks[r * m.blocks_per_row + b] = PackedBlock::from_codes(&codes);
            }
        }
        Ok(m)
    }

    /// Repacks a `TQ2_0` tensor (`cols` a multiple of 256, `rows × cols / 256 × 66`
    /// bytes). Each 66-byte block becomes two of this crate's blocks (a bit-pair reversal
    /// per byte); scales collapse to one per tensor when every block with a non-zero
    /// weight has the same f16 scale, else one per 128-column block.
    ///
    /// Errors: bad sizes, a code 3, a non-finite scale.
    pub fn from_tq2_0(bytes: &[u8], rows: usize, cols: usize) -> Result<Self, KernelError> {
        check_multiple("TQ2_0 row length", cols, tq2_0::BLOCK_VALUES)?;
        let n = mul("rows x cols", rows, cols)?;
        check_len("TQ2_0 buffer", tq2_0::packed_size(n)?, bytes.len())?;
        let mut blocks = Vec::with_capacity(n / BLOCK_COLS);
        let mut scales = Vec::with_capacity(n / BLOCK_COLS);
        for (t, block) in bytes.chunks_exact(tq2_0::BLOCK_BYTES).enumerate() {
            for half in 0..2 {
                let src = &block[32 * half..32 * half + 32];
                if let Some(m) = src.iter().position(|&b| has_code3(b)) {
                    let l = (0..4).find(|l| (src[m] >> (2 * l)) & 3 == 3).unwrap_or(0);
                    return Err(KernelError::BadCode { index: t * 256 + half * 128 + l * 32 + m });
                }
                blocks.push(PackedBlock(std::array::from_fn(|j| REVERSE_PAIRS[src[j] as usize])));
            }
            let d = crate::formats::f16_le(&block[64..66]);
            scales.extend([d, d]);
        }
        Self::assemble(rows, cols, blocks, scales)
    }

    /// Repacks a `TQ1_0` tensor (`cols` a multiple of 256, `rows × cols / 256 × 54`
    /// bytes). Scales as in [`TernaryMatrix::from_tq2_0`].
    ///
    /// Errors: bad sizes, a non-finite scale.
    pub fn from_tq1_0(bytes: &[u8], rows: usize, cols: usize) -> Result<Self, KernelError> {
        check_multiple("TQ1_0 row length", cols, tq1_0::BLOCK_VALUES)?;
        let n = mul("rows x cols", rows, cols)?;
        check_len("TQ1_0 buffer", tq1_0::packed_size(n)?, bytes.len())?;
        let mut blocks = Vec::with_capacity(n / BLOCK_COLS);
        let mut scales = Vec::with_capacity(n / BLOCK_COLS);
        let mut codes = [0u8; 256];
        for block in bytes.chunks_exact(tq1_0::BLOCK_BYTES) {
            let d = tq1_0::decode_block_codes(block, &mut codes)?;
            for half in codes.chunks_exact(BLOCK_COLS) {
                let half: &[u8; BLOCK_COLS] = half.try_into().expect("chunk of 128");
                blocks.push(PackedBlock::from_codes(half));
            }
            scales.extend([d, d]);
        }
        Self::assemble(rows, cols, blocks, scales)
    }

    /// Finishes a `TQ*` repack: blocks already in row order (cols is a multiple of 256,
    /// so no padding), scales collapsed when possible.
    fn assemble(
        rows: usize,
        cols: usize,
        blocks: Vec<PackedBlock>,
        scales: Vec<f32>,
    ) -> Result<Self, KernelError> {
        let mut shared = None;
        let mut uniform = true;
        for (block, &s) in blocks.iter().zip(&scales) {
            if *block == ZERO_BLOCK {
                continue;
            }
            match shared {
                None => shared = Some(s),
                Some(v) if v.to_bits() == s.to_bits() => {}
                Some(_) => {
                    uniform = false;
                    break;
                }
            }
        }
        let scales = if uniform {
            Scales::PerTensor(shared.unwrap_or_else(|| scales.first().copied().unwrap_or(0.0)))
        } else {
            Scales::PerBlock(scales)
        };
        let mut m = Self::zeros(rows, cols, scales)?;
        m.blocks = blocks;
        Ok(m)
    }

    /// Packs the matrix back into an `I2_S` tensor (`rows × cols / 4 + 32` bytes).
    ///
    /// Errors: per-block scales (`I2_S` has one scale per tensor), or `rows × cols` not
    /// a multiple of 128.
    pub fn to_i2s(&self) -> Result<Vec<u8>, KernelError> {
        match self.scales {
            Scales::PerTensor(s) => i2s::pack(&self.to_values(), s),
            Scales::PerBlock(_) => Err(KernelError::UnsupportedFormat {
                ggml_type: i2s::GGML_TYPE_ID,
                purpose: "per-block scales",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_pairs_is_an_involution_and_maps_fields() {
        for b in 0..=255u8 {
            assert_eq!(REVERSE_PAIRS[REVERSE_PAIRS[b as usize] as usize], b);
        }
        assert_eq!(REVERSE_PAIRS[0b00_01_10_11], 0b11_10_01_00);
    }

    #[test]
    fn has_code3_finds_each_field() {
        for k in 0..4 {
            assert!(has_code3(3 << (2 * k)));
            assert!(!has_code3(2 << (2 * k)) && !has_code3(1 << (2 * k)));
        }
        assert!(!has_code3(0x55) && !has_code3(0xAA) && !has_code3(0));
    }
}
