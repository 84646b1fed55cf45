//! Scalar helper ops of the BitNet b1.58 forward pass, all in place or into caller
//! buffers, none allocating.
//!
//! | op | file |
//! | --- | --- |
//! | [`rms_norm`] | `norm.rs` |
//! | [`softmax`] | `softmax.rs` |
//! | [`rope_neox`] | `rope.rs` |
//! | [`squared_relu`], [`squared_relu_gate`] | `activation.rs` |

mod activation;
mod norm;
mod rope;
mod softmax;

pub use activation::{squared_relu, squared_relu_gate};
pub use norm::rms_norm;
pub use rope::rope_neox;
pub use softmax::softmax;
