//! The compute pool: one thread per core for CPU-bound work (model kernels), so it
//! never runs on an async worker and never competes with blocking I/O jobs.
//!
//! A [`ComputePool`] is a [`BlockingPool`] capped at `threads` with a long
//! keep-alive, plus fork-join: [`ComputePool::parallel_for`] splits one piece of
//! work (the rows of a matrix) across the pool's threads and the calling thread.
//! An async task hands a whole job to the pool with [`ComputePool::spawn`] and
//! awaits its [`JoinHandle`]; the task's worker is free meanwhile, and nothing
//! spins: idle pool threads wait on a condition variable, and a fork-join caller
//! that runs out of parts waits on one too.
//!
//! ```
//! let pool = tern_runtime::compute::ComputePool::new(2);
//! let mut squares = vec![0u64; 1000];
//! pool.par_chunks_mut(&mut squares, 100, |chunk, out| {
//!     for (i, v) in out.iter_mut().enumerate() {
//!         let n = (chunk * 100 + i) as u64;
//!         *v = n * n;
//!     }
//! });
//! assert_eq!(squares[999], 999 * 999);
//! let sum = tern_runtime::block_on(pool.spawn(move || squares.iter().sum::<u64>())).unwrap();
//! assert_eq!(sum, 332_833_500);
//! ```

mod fork_join;

use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;

use crate::{BlockingPool, JoinHandle};

/// How long an idle compute thread stays alive (it costs no CPU while it waits).
const KEEP_ALIVE: Duration = Duration::from_secs(3600);

/// A fixed-size pool for CPU-bound jobs and fork-join loops; cheap to clone
/// (clones share the threads).
#[derive(Clone)]
pub struct ComputePool {
    pool: std::sync::Arc<BlockingPool>,
    threads: usize,
}

impl ComputePool {
    /// A pool of `threads` threads (at least 1), named `tern-compute`. Threads
    /// start on first use and stay for an hour of idleness.
    pub fn new(threads: usize) -> ComputePool {
        let threads = threads.max(1);
        let pool = BlockingPool::builder()
            .max_threads(threads)
            .keep_alive(KEEP_ALIVE)
            .thread_name("tern-compute")
            .build();
        ComputePool { pool: std::sync::Arc::new(pool), threads }
    }

    /// A pool with one thread per available core
    /// ([`std::thread::available_parallelism`], 1 if unknown).
    pub fn per_core() -> ComputePool {
        ComputePool::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// The number of threads (the most parts that run at once).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `func` on a pool thread; await the handle for its result (a panic
    /// becomes a `JoinError` that `is_panic`). Jobs beyond `threads` wait in FIFO
    /// order. `func` may call [`parallel_for`](Self::parallel_for) on this pool.
    pub fn spawn<F, R>(&self, func: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.pool.spawn(func)
    }

    /// Calls `f(i)` once for every `i` in `0..parts`, spread over the calling
    /// thread and up to `threads - 1` pool threads, and returns when every call
    /// has returned. Parts are handed out one at a time from a shared counter, so
    /// a slow thread takes fewer. The caller never waits for a helper that has not
    /// started (helpers that arrive late find nothing to do), so nesting is safe.
    ///
    /// # Panics
    /// Re-raises the first panic of `f` on the calling thread, after every
    /// running call has returned.
    pub fn parallel_for<F>(&self, parts: usize, f: F)
    where
        F: Fn(usize) + Sync,
    {
        fork_join::run(&self.pool, self.threads, parts, &f);
    }

    /// Splits `data` into chunks of `chunk_len` (the last may be shorter, like
    /// [`slice::chunks_mut`]) and calls `f(chunk_index, chunk)` for each, in
    /// parallel as [`parallel_for`](Self::parallel_for).
    ///
    /// # Panics
    /// If `chunk_len` is 0 and `data` is not empty; re-raises a panic of `f`.
    pub fn par_chunks_mut<T, F>(&self, data: &mut [T], chunk_len: usize, f: F)
    where
        T: Send,
        F: Fn(usize, &mut [T]) + Sync,
    {
        if data.is_empty() {
            return;
        }
        // Each index is handed out once, so each lock is taken once: the mutexes
        // only prove the chunks disjoint to the compiler.
        let chunks: Vec<Mutex<Option<&mut [T]>>> =
            data.chunks_mut(chunk_len).map(|c| Mutex::new(Some(c))).collect();
        self.parallel_for(chunks.len(), |i| {
            if let Some(chunk) = chunks[i].lock().take() {
                f(i, chunk);
            }
        });
    }
}

impl fmt::Debug for ComputePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComputePool")
            .field("threads", &self.threads)
            .field("alive", &self.pool.num_threads())
            .field("queue_depth", &self.pool.queue_depth())
            .finish()
    }
}
