//! tern: an async runtime with a built-in inference executor for BitNet b1.58
//! ternary LLMs.
//!
//! This facade re-exports the workspace crates:
//! - [`runtime`]: tasks, the work-stealing scheduler, `block_on`, budgets, metrics.
//! - [`reactor`]: the mio event loop, timers and sockets; its [`net`] and [`time`]
//!   modules, and the runtime's [`fs`], are re-exported at the top level.
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

pub use tern_reactor::{net, time};
pub use tern_runtime::fs;

/// hyper 1.x over tern, with no tokio runtime (feature `hyper`, on by default):
/// [`HyperExecutor`](hyper::HyperExecutor) spawns hyper's tasks,
/// [`HyperTimer`](hyper::HyperTimer) runs its timers on tern's wheel, and tern's
/// streams implement `hyper::rt::{Read, Write}` ([`HyperIo`](hyper::HyperIo) adapts
/// other futures-io types).
#[cfg(feature = "hyper")]
pub mod hyper {
    pub use tern_reactor::hyper::{HyperIo, HyperSleep, HyperTimer};
    pub use tern_runtime::HyperExecutor;
}
