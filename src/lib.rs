//! tern: an async runtime with a built-in inference executor for BitNet b1.58
//! ternary LLMs.
//!
//! This facade re-exports the workspace crates:
//! - [`runtime`]: tasks, the work-stealing scheduler, `block_on`, budgets, metrics.
//! - [`reactor`]: the mio event loop, timers and sockets (in progress).
//! - [`kernels`]: ternary GEMV/GEMM kernels (in progress).
//! - [`inference`]: GGUF, tokenizer, BitNet forward pass and serving (in progress).
//!
//! ```
//! let answer = tern::runtime::block_on(async { tern::runtime::spawn(async { 6 * 7 }).await.unwrap() });
//! assert_eq!(answer, 42);
//! ```

pub use tern_inference as inference;
pub use tern_kernels as kernels;
pub use tern_reactor as reactor;
pub use tern_runtime as runtime;
