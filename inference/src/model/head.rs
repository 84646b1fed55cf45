//! [`HeadFormat`] and [`ModelWeights::requantize_head`]: re-encoding the output head at
//! load time (`--lm-head f16|q8|q4`).
//!
//! Decoding one token reads the whole head once (`vocab × dim` weights): for a
//! 2B4T-shape model, a tied F16 head of 128256 × 2560 is 657 MB of the 1.18 GB read per
//! token. Re-encoding it as `Q8_0` (8.5 bits per weight, 349 MB) or `Q4_0` (4.5 bits,
//! 185 MB) cuts that traffic. The error is the weights' own rounding (per 32-value
//! block: half a step of `amax / 127` for `Q8_0`, of `amax / 8` for `Q4_0`) plus the
//! activations', which the kernels quantize to `Q8_0` blocks as ggml does
//! (`tern_kernels::quant_q8`) so the dot products run in integers.
//!
//! A head kept as loaded ([`HeadFormat::Keep`]) in `Q6_K` (llama.cpp's ternary
//! conversions store `output.weight` so: 6.56 bits per weight) runs on the same
//! integer kernels with `Q8_0`-block activations; `F32` / `F16` / `BF16` heads take f32
//! activations.

use std::fmt;
use std::str::FromStr;

use tern_kernels::formats::{float, q4_0, q8_0};
use tern_kernels::{DenseMatrix, GgmlType};

use super::error::ModelError;
use super::weights::ModelWeights;

/// The encoding of the output head after load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeadFormat {
    /// As stored in the file.
    #[default]
    Keep,
    /// IEEE half (16 bits per weight).
    F16,
    /// ggml `Q8_0` (32 weights in 34 bytes).
    Q8_0,
    /// ggml `Q4_0` (32 weights in 18 bytes).
    Q4_0,
}

impl HeadFormat {
    /// The CLI name: `keep`, `f16`, `q8`, `q4`.
    pub fn name(self) -> &'static str {
        match self {
            HeadFormat::Keep => "keep",
            HeadFormat::F16 => "f16",
            HeadFormat::Q8_0 => "q8",
            HeadFormat::Q4_0 => "q4",
        }
    }

    /// The ggml type it encodes to (`None` for [`HeadFormat::Keep`]).
    pub fn ggml_type(self) -> Option<GgmlType> {
        match self {
            HeadFormat::Keep => None,
            HeadFormat::F16 => Some(GgmlType::F16),
            HeadFormat::Q8_0 => Some(GgmlType::Q8_0),
            HeadFormat::Q4_0 => Some(GgmlType::Q4_0),
        }
    }
}

impl fmt::Display for HeadFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HeadFormat {
    type Err = ModelError;

    /// `keep`, `f16`, `q8` / `q8_0`, `q4` / `q4_0` (case-insensitive).
    ///
    /// Errors: [`ModelError::BadInput`] naming the accepted values.
    fn from_str(s: &str) -> Result<HeadFormat, ModelError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "keep" => Ok(HeadFormat::Keep),
            "f16" => Ok(HeadFormat::F16),
            "q8" | "q8_0" => Ok(HeadFormat::Q8_0),
            "q4" | "q4_0" => Ok(HeadFormat::Q4_0),
            _ => {
                Err(ModelError::BadInput(format!("output head format \"{s}\": expected keep, f16, q8 or q4")))
            }
        }
    }
}

impl ModelWeights {
    /// Re-encodes the output head ([`ModelWeights::head`]) as `format`: each row is
    /// dequantized to f32 and encoded again (`Q8_0` / `Q4_0` as ggml's
    /// `quantize_row_q*_0_ref`, F16 round-to-nearest-even). [`HeadFormat::Keep`], or a
    /// head already in the format, changes nothing.
    ///
    /// A separate `output.weight` is replaced. A tied head (`output` is `None`) gets its
    /// own re-encoded copy in `output`, and `token_embd` stays as loaded for the
    /// embedding lookups, which stay exact: that costs the new head's size in memory
    /// (for 2B4T, +349 MB with `Q8_0`, +185 MB with `Q4_0`, beside the 657 MB F16
    /// table) but each lookup reads one row, while every decoded token reads the whole
    /// head. Re-encoding from an already lossy head (say `Q4_0` to `Q8_0`) keeps its
    /// error.
    ///
    /// Errors: a head whose row length is not a multiple of 32 for `Q8_0` / `Q4_0`
    /// ([`ModelError::Kernel`]).
    pub fn requantize_head(&mut self, format: HeadFormat) -> Result<(), ModelError> {
        let Some(ty) = format.ggml_type() else { return Ok(()) };
        let head = self.head();
        if head.ggml_type() == ty {
            return Ok(());
        }
        let ctx = || format!("re-encoding the output head as {format}");
        let (rows, cols) = (head.rows(), head.cols());
        let row_bytes = ty.tensor_bytes(cols).map_err(ModelError::kernel(ctx()))?;
        let total = rows.checked_mul(row_bytes).ok_or_else(|| ModelError::BadInput(ctx()))?;
        let mut bytes = Vec::with_capacity(total);
        let mut row = vec![0f32; cols];
        for r in 0..rows {
            head.dequantize_row(r, &mut row).map_err(ModelError::kernel(ctx()))?;
            let encoded = match format {
                HeadFormat::F16 => float::f32_to_f16_bytes(&row),
                HeadFormat::Q8_0 => q8_0::quantize(&row).map_err(ModelError::kernel(ctx()))?,
                HeadFormat::Q4_0 => q4_0::quantize(&row).map_err(ModelError::kernel(ctx()))?,
                HeadFormat::Keep => unreachable!("returned above"),
            };
            bytes.extend_from_slice(&encoded);
        }
        self.output = Some(DenseMatrix::new(ty, rows, cols, bytes).map_err(ModelError::kernel(ctx()))?);
        Ok(())
    }
}
