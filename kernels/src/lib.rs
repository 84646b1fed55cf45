//! tern's kernels for BitNet b1.58 ternary LLMs: tensor formats, activation
//! quantization, GEMV / GEMM, and the small ops of the forward pass. No async, no I/O,
//! no allocation in hot loops: inputs are slices, outputs go into caller buffers.
//!
//! | module | one job |
//! | --- | --- |
//! | [`formats`] | byte-exact `I2_S`, `TQ2_0`, `TQ1_0`, `F32` / `F16` / `BF16`, `Q8_0`, `Q4_0`, `Q6_K` |
//! | [`ternary`] | [`TernaryMatrix`]: the internal, SIMD-ready weight layout, and load-time repack |
//! | [`quant`] | per-token absmax int8 activation quantization |
//! | [`quant_q8`] | `Q8_0`-block activation quantization for the quantized output heads |
//! | [`scalar`] | the portable reference kernels (ternary and dense GEMV / GEMM) |
//! | [`dense`] | [`DenseMatrix`]: embeddings and output heads in their file format |
//! | [`ops`] | RMSNorm, softmax, NEOX RoPE, squared ReLU |
//! | [`dispatch`] | [`Path`] detection, `TERN_KERNEL_PATH`, the dispatched entry points |
//!
//! ```
//! use tern_kernels::{dispatch::Kernels, quant::QuantizedActs, ternary::TernaryMatrix};
//!
//! // 2 x 3 ternary weights, per-tensor scale 0.5.
//! let w = TernaryMatrix::from_values(2, 3, &[1, 0, -1, 1, 1, 1], 0.5).unwrap();
//! let x = QuantizedActs::from_f32(&[1.0, 2.0, 4.0]);
//! let mut y = [0f32; 2];
//! Kernels::scalar().gemv(&w, x.view(), 0..2, &mut y).unwrap();
//! assert!((y[0] - (1.0 - 4.0) * 0.5).abs() < 0.05);
//! assert!((y[1] - 7.0 * 0.5).abs() < 0.05);
//! ```
//!
//! Ternary GEMV / GEMM run on the scalar path, AVX2, AVX-512 VNNI (untested on the
//! development machine), or on aarch64 NEON, with or without `sdot` (tested under QEMU),
//! picked at run time. See [`dispatch`] for the status of each path.
//!
//! The quantized output heads (`Q8_0`, `Q4_0`, `Q6_K`) take `Q8_0`-block activations
//! ([`Q8Acts`]) and run integer kernels on AVX2 and NEON that match the scalar reference
//! ([`scalar::dense_q8`]) bit for bit; see [`dispatch`] for every dense format.

#![warn(missing_docs)]

#[cfg(target_arch = "aarch64")]
mod aarch64;
pub mod dense;
pub mod dispatch;
mod error;
pub mod formats;
pub mod ops;
pub mod quant;
pub mod quant_q8;
pub mod scalar;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod simd;
pub mod ternary;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use dense::DenseMatrix;
pub use dispatch::{Kernels, Path};
pub use error::KernelError;
pub use formats::GgmlType;
pub use quant::{ActsView, QuantizedActs, QuantizedBatch};
pub use quant_q8::Q8Acts;
pub use ternary::{PackedBlock, Scales, TernaryMatrix};
