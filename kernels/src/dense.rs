//! Dense (non-ternary) weight matrices for embeddings and the output head: `F32`, `F16`,
//! `BF16`, `Q8_0`, `Q4_0`, `Q6_K`, kept in their file encoding and dequantized on the fly.

use crate::error::{check_len, check_multiple, mul, KernelError};
use crate::formats::{float, q4_0, q6_k, q8_0, GgmlType};

/// Values dequantized per step by the dense kernels (a multiple of every block size).
pub const CHUNK: usize = 256;

/// A `rows × cols` matrix in one of the dense formats, rows contiguous (ggml layout:
/// row `r` = output feature / vocabulary entry `r`).
#[derive(Debug, Clone, PartialEq)]
pub struct DenseMatrix {
    ty: GgmlType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    data: Vec<u8>,
}

impl DenseMatrix {
    /// Wraps a tensor's raw bytes.
    ///
    /// Errors: a ternary or unknown type ([`KernelError::UnsupportedFormat`]), `cols`
    /// not a multiple of the block size (32 for `Q8_0` and `Q4_0`, 256 for `Q6_K`), wrong byte count.
    pub fn new(ty: GgmlType, rows: usize, cols: usize, data: Vec<u8>) -> Result<Self, KernelError> {
        if ty.is_ternary() {
            return Err(KernelError::UnsupportedFormat { ggml_type: ty.id(), purpose: "dense matrix" });
        }
        check_multiple("dense row length", cols, ty.block_values())?;
        let row_bytes = ty.tensor_bytes(cols)?;
        check_len("dense matrix bytes", mul("dense bytes", rows, row_bytes)?, data.len())?;
        Ok(DenseMatrix { ty, rows, cols, row_bytes, data })
    }

    /// Builds an `F32` matrix from row-major values.
    pub fn from_f32(rows: usize, cols: usize, values: &[f32]) -> Result<Self, KernelError> {
        check_len("dense values", mul("rows x cols", rows, cols)?, values.len())?;
        Self::new(GgmlType::F32, rows, cols, values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// The format.
    pub fn ggml_type(&self) -> GgmlType {
        self.ty
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The raw bytes of row `r`. Panics if `r >= rows`.
    pub fn row_bytes(&self, r: usize) -> &[u8] {
        &self.data[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// Dequantizes row `r` into `out` (`cols` values), e.g. an embedding lookup.
    ///
    /// Errors: `r >= rows` ([`KernelError::BadRows`]), `out.len() != cols`.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) -> Result<(), KernelError> {
        if r >= self.rows {
            return Err(KernelError::BadRows { start: r, end: r + 1, rows: self.rows });
        }
        check_len("dequantized row", self.cols, out.len())?;
        for (c, chunk) in out.chunks_mut(CHUNK).enumerate() {
            self.dequantize_chunk(r, c, chunk);
        }
        Ok(())
    }

    /// Dequantizes columns `CHUNK·c .. CHUNK·c + out.len()` of row `r` (`out.len()` ≤
    /// [`CHUNK`], reaching at most the end of the row; `CHUNK` is a multiple of every
    /// block size, so chunks never split a block). Panics when out of range.
    #[inline]
    pub(crate) fn dequantize_chunk(&self, r: usize, c: usize, out: &mut [f32]) {
        let row = self.row_bytes(r);
        let v0 = c * CHUNK;
        let n = out.len();
        let res = match self.ty {
            GgmlType::F32 => float::f32_to_f32(&row[v0 * 4..(v0 + n) * 4], out),
            GgmlType::F16 => float::f16_to_f32(&row[v0 * 2..(v0 + n) * 2], out),
            GgmlType::BF16 => float::bf16_to_f32(&row[v0 * 2..(v0 + n) * 2], out),
            GgmlType::Q8_0 => {
                let b0 = v0 / q8_0::BLOCK_VALUES * q8_0::BLOCK_BYTES;
                q8_0::dequantize(&row[b0..b0 + n / q8_0::BLOCK_VALUES * q8_0::BLOCK_BYTES], out)
            }
            GgmlType::Q4_0 => {
                let b0 = v0 / q4_0::BLOCK_VALUES * q4_0::BLOCK_BYTES;
                q4_0::dequantize(&row[b0..b0 + n / q4_0::BLOCK_VALUES * q4_0::BLOCK_BYTES], out)
            }
            GgmlType::Q6K => {
                let b0 = v0 / q6_k::BLOCK_VALUES * q6_k::BLOCK_BYTES;
                q6_k::dequantize(&row[b0..b0 + n / q6_k::BLOCK_VALUES * q6_k::BLOCK_BYTES], out)
            }
            GgmlType::I2S | GgmlType::TQ1_0 | GgmlType::TQ2_0 => unreachable!("rejected in DenseMatrix::new"),
        };
        debug_assert!(res.is_ok(), "chunk sizes are exact by construction");
    }
}
