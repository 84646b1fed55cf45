//! [`Nursery`]: a scope that owns its child tasks (trio's nursery).
//!
//! Each child runs as an ordinary task (so children run in parallel on a
//! multi-thread runtime), but its future lives in a slot the nursery shares with
//! the task: the task polls the future under the slot's lock, and dropping the
//! nursery takes every future out of its slot and drops it. That lock is what
//! makes "no child outlives the nursery" hold even for a child being polled on
//! another worker at that moment: the drop waits for that one poll to return.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Id, JoinError, JoinSet};
use crate::loom::Mutex;
use crate::Handle;

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The child future, shared by the nursery and the task that polls it.
struct Slot<T> {
    future: Mutex<Option<BoxFut<T>>>,
}

/// The nursery's view of a slot: drop the future now.
trait Evict: Send + Sync {
    fn evict(&self);
}

impl<T: Send> Evict for Slot<T> {
    fn evict(&self) {
        // Waits for a poll running on another thread; the drop itself happens
        // outside the lock, so a child whose drop reaches this nursery's other
        // slots cannot deadlock on its own.
        let fut = self.future.lock().take();
        drop(fut);
    }
}

/// The task's future: polls the child through its slot. Yields `None` when the
/// nursery already evicted the child.
struct SlotFuture<T> {
    slot: std::sync::Arc<Slot<T>>,
}

impl<T> Future for SlotFuture<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut guard = self.slot.future.lock();
        let Some(fut) = guard.as_mut() else { return Poll::Ready(None) };
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                let done = guard.take();
                drop(guard);
                drop(done);
                Poll::Ready(Some(v))
            }
            Err(payload) => {
                // Drop the broken future now, as the task harness would.
                let broken = guard.take();
                drop(guard);
                drop(broken);
                resume_unwind(payload)
            }
        }
    }
}

impl<T> Drop for SlotFuture<T> {
    fn drop(&mut self) {
        // The task was aborted (or the runtime shut down): drop the child here.
        let fut = self.slot.future.lock().take();
        drop(fut);
    }
}

/// How a wait ended, kept across a cancelled `wait_*` call so that calling a
/// wait method again finishes the job instead of losing the outcome.
enum Stop<T, E> {
    Error(E),
    Winner(T),
    Panic(Box<dyn Any + Send>),
    Cancelled(JoinError),
}

/// A scope that owns child tasks returning `Result<T, E>`.
///
/// - [`wait_all`](Nursery::wait_all) waits for every child; the first error (or
///   panic) aborts the other children, waits until they are gone, and is returned
///   (or resumed).
/// - [`wait_any`](Nursery::wait_any) returns the first success and aborts the
///   rest, or every error when all children failed.
/// - Dropping the nursery aborts every child.
///
/// **No child outlives the nursery.** When `wait_all` / `wait_any` return (or
/// panic) every child has finished or been cancelled and its future dropped. When
/// the nursery is dropped, every child's future is dropped before `drop` returns:
/// children that are idle are dropped on the dropping thread, and for a child
/// being polled on another worker at that moment, `drop` blocks until that single
/// poll returns and then drops it. (So a child whose `poll` never returns would
/// block the drop; children must be well-behaved futures.) A child's future is
/// never polled again after that. The tasks themselves are aborted and finish
/// shortly after, holding nothing of the child.
///
/// The scope is a value, not a closure: create it with [`Nursery::new`], spawn
/// children, and await a wait method; leaving the scope early (an error, a `?`,
/// being cancelled) drops it and so cancels the children.
///
/// ```
/// use tern_runtime::task::Nursery;
///
/// tern_runtime::Runtime::new().unwrap().block_on(async {
///     let mut n: Nursery<u32, String> = Nursery::new();
///     n.spawn(async { Ok(1) });
///     n.spawn(async { Ok(2) });
///     assert_eq!(n.wait_all().await, Ok(vec![1, 2]));
///
///     n.spawn(async { Err("boom".to_string()) });
///     n.spawn(std::future::pending()); // aborted by the error
///     assert_eq!(n.wait_all().await, Err("boom".to_string()));
/// });
/// ```
pub struct Nursery<T, E> {
    handle: Handle,
    set: JoinSet<Option<Result<T, E>>>,
    /// Spawn index and slot of each child still in `set`.
    children: HashMap<Id, (usize, std::sync::Arc<dyn Evict>)>,
    /// Outcomes of children that finished, by spawn index.
    finished: BTreeMap<usize, Result<T, E>>,
    next_index: usize,
    stop: Option<Stop<T, E>>,
}

impl<T, E> Nursery<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// A nursery spawning on the current runtime.
    ///
    /// # Panics
    /// Outside a runtime context.
    #[track_caller]
    pub fn new() -> Nursery<T, E> {
        Nursery::with_handle(Handle::current())
    }

    /// A nursery spawning on the runtime behind `handle`.
    pub fn with_handle(handle: Handle) -> Nursery<T, E> {
        Nursery {
            handle,
            set: JoinSet::new(),
            children: HashMap::new(),
            finished: BTreeMap::new(),
            next_index: 0,
            stop: None,
        }
    }

    /// Number of children not yet collected by a wait method.
    pub fn len(&self) -> usize {
        self.set.len() + self.finished.len()
    }

    /// `true` when there is no child left to collect.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Spawns a child. Its output is collected by [`wait_all`](Nursery::wait_all)
    /// or [`wait_any`](Nursery::wait_any).
    pub fn spawn<F>(&mut self, future: F) -> Id
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let slot = std::sync::Arc::new(Slot { future: Mutex::new(Some(Box::pin(future) as BoxFut<_>)) });
        let id = self.set.spawn_on(SlotFuture { slot: slot.clone() }, &self.handle);
        let index = self.next_index;
        self.next_index += 1;
        self.children.insert(id, (index, slot));
        id
    }

    /// Waits for every child and returns their outputs in spawn order.
    ///
    /// The first child to fail makes this abort the others, wait until they are
    /// gone, and return its error. A child's panic does the same and then resumes
    /// the panic here.
    ///
    /// Cancel safe: dropping this future part-way loses nothing; outputs already
    /// collected (or the error that ended the wait) are kept for the next call.
    ///
    /// # Panics
    /// When a child panicked, or was cancelled by the runtime shutting down.
    pub async fn wait_all(&mut self) -> Result<Vec<T>, E> {
        loop {
            if self.stop.is_none() {
                let first_err = self.finished.iter().find(|(_, r)| r.is_err()).map(|(i, _)| *i);
                if let Some(i) = first_err {
                    if let Some(Err(e)) = self.finished.remove(&i) {
                        self.stop = Some(Stop::Error(e));
                    }
                }
            }
            if self.stop.is_some() {
                return match self.finish_stop().await {
                    Stop::Error(e) => Err(e),
                    Stop::Winner(v) => Ok(vec![v]),
                    Stop::Panic(p) => resume_unwind(p),
                    Stop::Cancelled(e) => panic!("Nursery: a child was cancelled: {e}"),
                };
            }
            if !self.collect_one().await {
                let done = std::mem::take(&mut self.finished);
                return done.into_values().collect();
            }
        }
    }

    /// Waits for the first child to succeed, aborts the others (waiting until they
    /// are gone) and returns its output; when every child failed, returns all the
    /// errors in spawn order (an empty nursery gives `Err(vec![])`).
    ///
    /// Cancel safe, like [`wait_all`](Nursery::wait_all).
    ///
    /// # Panics
    /// When a child panicked (the others are aborted first), or was cancelled by
    /// the runtime shutting down.
    pub async fn wait_any(&mut self) -> Result<T, Vec<E>> {
        loop {
            if self.stop.is_none() {
                let first_ok = self.finished.iter().find(|(_, r)| r.is_ok()).map(|(i, _)| *i);
                if let Some(i) = first_ok {
                    if let Some(Ok(v)) = self.finished.remove(&i) {
                        self.stop = Some(Stop::Winner(v));
                    }
                }
            }
            if self.stop.is_some() {
                return match self.finish_stop().await {
                    Stop::Winner(v) => Ok(v),
                    Stop::Error(e) => Err(vec![e]),
                    Stop::Panic(p) => resume_unwind(p),
                    Stop::Cancelled(e) => panic!("Nursery: a child was cancelled: {e}"),
                };
            }
            if !self.collect_one().await {
                let done = std::mem::take(&mut self.finished);
                return Err(done.into_values().filter_map(Result::err).collect());
            }
        }
    }

    /// Aborts every child and waits until all of them are gone, discarding their
    /// outputs.
    pub async fn cancel_all(&mut self) {
        self.set.shutdown().await;
        self.children.clear();
        self.finished.clear();
    }

    /// Collects one finished child into `finished` (or `stop`). `false` when no
    /// child is left.
    async fn collect_one(&mut self) -> bool {
        match self.set.join_next_with_id().await {
            None => false,
            Some(Ok((id, out))) => {
                if let (Some((index, _)), Some(out)) = (self.children.remove(&id), out) {
                    self.finished.insert(index, out);
                }
                true
            }
            Some(Err(e)) => {
                self.children.remove(&e.id());
                self.stop = Some(if e.is_panic() { Stop::Panic(e.into_panic()) } else { Stop::Cancelled(e) });
                true
            }
        }
    }

    /// Aborts the remaining children, waits for them, and hands out `stop`.
    async fn finish_stop(&mut self) -> Stop<T, E> {
        self.cancel_all().await;
        self.stop.take().expect("finish_stop is called with a stop set")
    }
}

impl<T: Send + 'static, E: Send + 'static> Default for Nursery<T, E> {
    /// [`Nursery::new`]: panics outside a runtime context.
    #[track_caller]
    fn default() -> Self {
        Nursery::new()
    }
}

impl<T, E> Drop for Nursery<T, E> {
    fn drop(&mut self) {
        self.set.abort_all();
        let mut first_panic = None;
        for (_, slot) in self.children.drain().map(|(_, c)| c) {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| slot.evict())) {
                first_panic.get_or_insert(p);
            }
        }
        if let Some(p) = first_panic {
            if !std::thread::panicking() {
                resume_unwind(p);
            }
        }
    }
}

impl<T, E> fmt::Debug for Nursery<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nursery")
            .field("running", &self.set.len())
            .field("finished", &self.finished.len())
            .finish()
    }
}
