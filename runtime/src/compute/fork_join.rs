//! Fork-join over a [`BlockingPool`]: the protocol behind
//! [`ComputePool::parallel_for`](super::ComputePool::parallel_for).
//!
//! The caller publishes the loop body as a lifetime-erased pointer in a shared
//! [`Job`], queues up to `threads - 1` helper closures, and takes parts from the
//! shared counter itself. A helper may touch the body only between *entering*
//! (under the job's lock, refused once the job is closed) and *leaving*. When the
//! caller runs out of parts it closes the job and waits, on a condition variable,
//! until no helper is inside; only then does it return and the body's borrow end.
//! Helpers still queued at that point enter nothing and exit, so the caller never
//! waits on a thread that has not started: no deadlock however busy the pool is.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::BlockingPool;

/// The loop body with its lifetime erased (see the module docs for when it may
/// be called).
#[derive(Clone, Copy)]
struct Body(*const (dyn Fn(usize) + Sync));

// SAFETY: the pointee is `Sync`, and the protocol keeps it alive while any
// thread may call it, so sending the pointer to a helper thread is sound.
unsafe impl Send for Body {}
// SAFETY: as for `Send`: sharing the pointer only lets threads call a `Sync`
// closure, and only while it is alive.
unsafe impl Sync for Body {}

struct Job {
    body: Body,
    parts: usize,
    next: AtomicUsize,
    state: Mutex<State>,
    left: Condvar,
}

struct State {
    closed: bool,
    inside: usize,
    panic: Option<Box<dyn Any + Send>>,
}

impl Job {
    /// Takes parts until none are left; a panic is kept for the caller and stops
    /// this thread's share (others finish the remaining parts).
    fn work(&self, body: &(dyn Fn(usize) + Sync)) {
        let res = panic::catch_unwind(AssertUnwindSafe(|| loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.parts {
                break;
            }
            body(i);
        }));
        if let Err(payload) = res {
            // Stop handing out parts: the loop has failed.
            self.next.store(self.parts, Ordering::Relaxed);
            self.state.lock().panic.get_or_insert(payload);
        }
    }

    /// A helper's run: enter (unless closed), work, leave.
    fn help(&self) {
        {
            let mut st = self.state.lock();
            if st.closed {
                return;
            }
            st.inside += 1;
        }
        // SAFETY: we entered while the job was open, so the caller is blocked in
        // `run` until we leave, and the body it borrowed is alive.
        let body = unsafe { &*self.body.0 };
        self.work(body);
        let mut st = self.state.lock();
        st.inside -= 1;
        if st.inside == 0 && st.closed {
            self.left.notify_one();
        }
    }
}

/// Runs `body(i)` for `i in 0..parts` on the caller and up to `threads - 1`
/// helpers from `pool`; returns when all calls have returned, re-raising the
/// first panic.
pub(super) fn run(pool: &BlockingPool, threads: usize, parts: usize, body: &(dyn Fn(usize) + Sync)) {
    let helpers = threads.saturating_sub(1).min(parts.saturating_sub(1));
    if helpers == 0 {
        (0..parts).for_each(body);
        return;
    }
    // SAFETY (of the transmute): only the lifetime changes; the pointer is used
    // only while `run` is blocked below, which outlives every use (module docs).
    let erased: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(body) };
    let job = Arc::new(Job {
        body: Body(erased),
        parts,
        next: AtomicUsize::new(0),
        state: Mutex::new(State { closed: false, inside: 0, panic: None }),
        left: Condvar::new(),
    });
    for _ in 0..helpers {
        let job = job.clone();
        // The handle is dropped: the job's own lock reports completion.
        drop(pool.spawn(move || job.help()));
    }
    job.work(body);
    let mut st = job.state.lock();
    st.closed = true;
    while st.inside > 0 {
        job.left.wait(&mut st);
    }
    if let Some(payload) = st.panic.take() {
        drop(st);
        panic::resume_unwind(payload);
    }
}
