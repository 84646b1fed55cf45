//! What the SIMD paths of every architecture share: the drivers that validate
//! arguments, tile the work and call a path's kernels. [`ternary`]: the ternary GEMV /
//! GEMM ([`ternary::Tile`]); [`dense_q8`]: the `Q8_0` / `Q4_0` output heads
//! ([`dense_q8::HeadTile`]).

pub(crate) mod dense_q8;
pub(crate) mod ternary;
