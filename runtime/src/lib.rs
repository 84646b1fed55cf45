//! tern's async runtime: tasks, a work-stealing multi-thread scheduler, a
//! current-thread scheduler, `block_on`, a blocking pool, co-operative budgeting
//! and metrics.
//!
//! ```
//! tern_runtime::block_on(async {
//!     let handles: Vec<_> = (0..4u64).map(|i| tern_runtime::spawn(async move { i * i })).collect();
//!     let mut sum = 0;
//!     for h in handles {
//!         sum += h.await.unwrap();
//!     }
//!     assert_eq!(sum, 14);
//! })
//! ```
//!
//! The design, the state machine and the scheduling rules are in
//! `docs/architecture.md`. Idle threads park; nothing here spins.

#![warn(missing_docs)]

mod blocking;
mod builder;
pub mod compute;
mod context;
pub mod coop;
mod driver;
pub mod fs;
mod handle;
#[cfg(feature = "hyper")]
mod hyper_executor;
mod loom;
mod metrics;
mod park;
mod runtime;
mod scheduler;
pub mod sync;
pub mod task;
mod yield_now;

pub use blocking::{
    spawn_blocking, BlockingPool, BlockingPoolBuilder, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_THREADS,
};
pub use builder::{numbered_thread_names, Builder};
pub use handle::{EnterGuard, Handle, TryCurrentError};
#[cfg(feature = "hyper")]
pub use hyper_executor::HyperExecutor;
pub use metrics::RuntimeMetrics;
pub use runtime::{block_on, spawn, Runtime};
pub use task::{JoinError, JoinHandle};
pub use yield_now::yield_now;

/// Internals exposed to the loom models in `loom-tests/` (only with `--cfg loom`).
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::driver::{Driver, DriverHandle, SharedDriver};
    pub use crate::park::{Parker, Unparker};
    pub use crate::scheduler::multi_thread::idle::Idle;
    pub use crate::scheduler::multi_thread::queue::{Local, LOCAL_QUEUE_CAPACITY};
    pub use crate::sync::mpsc::atomic_waker::AtomicWaker;
    pub use crate::task::CancelToken;
    pub use crate::task::{spawn_task, Notified, OwnedTasks, Schedule, Task};
}

/// Size in bytes of the task allocation for future `F` on the multi-thread
/// scheduler (used by `benches/src/bin/task_size.rs`).
pub fn task_allocation_size<F>() -> usize
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    task::cell_size::<F, std::sync::Arc<scheduler::multi_thread::Shared>>()
}
