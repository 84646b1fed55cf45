//! The registry of a runtime's live tasks, so shutdown can reach every future,
//! including tasks parked on wakers nobody will ever call.
//!
//! Sharded `slab`s behind `parking_lot` mutexes: a spawn locks one shard (chosen by
//! the spawning thread) to insert, completion locks it again to remove. The task's
//! id encodes its slot, so a task needs no extra field to find its entry. The same
//! lock guards the `JoinHandle` waker stored in the task, which makes "complete vs.
//! register the join waker" a plain critical section instead of another atomic protocol.
//! Lock order: a shard, then `names`.

use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use slab::Slab;

use super::raw::Header;
use super::{Id, Schedule, Task};
use crate::loom::{AtomicUsize, Mutex, Ordering::*};

/// A runtime's registry of live tasks (see the module docs).
pub struct OwnedTasks<S: Schedule> {
    shards: Box<[CachePadded<Mutex<Shard<S>>>]>,
    shard_bits: u32,
    /// Names of tasks spawned with `task::Builder::name`; empty in the common case.
    names: Mutex<HashMap<Id, Arc<str>>>,
    named: AtomicUsize,
}

struct Shard<S: Schedule> {
    tasks: Slab<Task<S>>,
    closed: bool,
}

crate::loom::thread_local! {
    /// Each thread inserts into its own shard, so spawns from different workers do
    /// not contend.
    static SHARD_HINT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

crate::loom::thread_local! {
    /// This thread's block of id generations: `(next, end)`.
    static GENERATIONS: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((0, 0)) };
}

/// A generation for a new task id. Blocks of 1024 are reserved per thread from
/// one process-wide counter, so two live tasks of any runtimes share a generation
/// only if one outlived about 2^32 later spawns, and spawning stays contention-free.
fn next_generation() -> u32 {
    const BLOCK: u32 = 1024;
    static NEXT_BLOCK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    GENERATIONS.with(|g| {
        let (mut next, mut end) = g.get();
        if next == end {
            next = NEXT_BLOCK.fetch_add(BLOCK, std::sync::atomic::Ordering::Relaxed);
            end = next.wrapping_add(BLOCK);
        }
        g.set((next.wrapping_add(1), end));
        next
    })
}

fn shard_hint() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    SHARD_HINT.with(|h| match h.get() {
        Some(v) => v,
        None => {
            let v = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            h.set(Some(v));
            v
        }
    })
}

impl<S: Schedule> OwnedTasks<S> {
    /// A registry with at least `min_shards` shards (rounded up to a power of two).
    pub fn new(min_shards: usize) -> Self {
        let n = min_shards.max(1).next_power_of_two();
        let shards = (0..n)
            .map(|_| CachePadded::new(Mutex::new(Shard { tasks: Slab::new(), closed: false })))
            .collect();
        OwnedTasks {
            shards,
            shard_bits: n.trailing_zeros(),
            names: Mutex::new(HashMap::new()),
            named: AtomicUsize::new(0),
        }
    }

    fn shard_of(&self, id: Id) -> &Mutex<Shard<S>> {
        let slot = id.slot() as usize - 1;
        &self.shards[slot & (self.shards.len() - 1)]
    }

    /// Registers a new task and writes its id. `Err` hands the task back when the
    /// registry is closed (the runtime is shutting down).
    ///
    /// # Safety
    /// `task` must be private to the caller: no other thread may see it yet.
    pub(crate) unsafe fn bind(&self, task: Task<S>, name: Option<Arc<str>>) -> Result<Id, Task<S>> {
        let index = shard_hint() & (self.shards.len() - 1);
        let mut shard = self.shards[index].lock();
        if shard.closed {
            return Err(task);
        }
        let entry = shard.tasks.vacant_entry();
        let slot = (entry.key() << self.shard_bits | index) + 1;
        let slot = u32::try_from(slot).expect("more than 2^32 live tasks in one runtime");
        let id = Id::from_parts(next_generation(), slot);
        // SAFETY: the task is still private (caller's contract), so this write races
        // with nothing; the shard lock publishes it to whoever finds the entry.
        unsafe { std::ptr::addr_of_mut!((*task.raw().as_ptr()).id).write(id) };
        entry.insert(task);
        // Publish the name before the shard lock goes: once the task is findable,
        // a racing shutdown may complete it, and `remove` must then see the name.
        if let Some(name) = name {
            self.named.fetch_add(1, Relaxed);
            self.names.lock().insert(id, name);
        }
        drop(shard);
        Ok(id)
    }

    /// Runs `f` under the shard lock of `task` and removes its entry. Returns whether
    /// the task was registered (its registry reference is then the caller's to drop).
    pub(crate) fn remove<R>(&self, task: NonNull<Header>, f: impl FnOnce() -> R) -> (bool, R) {
        // SAFETY: the caller holds a reference to the task.
        let id = unsafe { task.as_ref() }.id;
        if id.slot() == 0 {
            return (false, f());
        }
        let mut shard = self.shard_of(id).lock();
        // Forget the name before `f` publishes COMPLETE: whoever sees the task
        // complete must not find its name any more.
        if self.named.load(Relaxed) > 0 && self.names.lock().remove(&id).is_some() {
            self.named.fetch_sub(1, Relaxed);
        }
        let ret = f();
        let key = (id.slot() as usize - 1) >> self.shard_bits;
        let present = shard.tasks.get(key).is_some_and(|t| t.raw() == task);
        if present {
            // The registry's reference is released by the caller, in one decrement
            // with its own, so it must not be dropped here.
            std::mem::forget(shard.tasks.remove(key));
        }
        drop(shard);
        (present, ret)
    }

    /// Runs `f` under the shard lock of `task` (for the JoinHandle waker).
    pub(crate) fn with_shard_lock<R>(&self, task: NonNull<Header>, f: impl FnOnce() -> R) -> R {
        // SAFETY: the caller holds a reference to the task.
        let id = unsafe { task.as_ref() }.id;
        if id.slot() == 0 {
            return f();
        }
        let _shard = self.shard_of(id).lock();
        f()
    }

    pub(crate) fn name_of(&self, id: Id) -> Option<Arc<str>> {
        if self.named.load(Relaxed) == 0 {
            return None;
        }
        self.names.lock().get(&id).cloned()
    }

    /// Ids and names of the registered tasks: a snapshot, taken one shard at a
    /// time (locks each shard briefly, then the name table).
    pub(crate) fn live(&self) -> Vec<(Id, Option<Arc<str>>)> {
        let mut ids = Vec::new();
        for shard in self.shards.iter() {
            ids.extend(shard.lock().tasks.iter().map(|(_, t)| t.id()));
        }
        if self.named.load(Relaxed) == 0 {
            return ids.into_iter().map(|id| (id, None)).collect();
        }
        let names = self.names.lock();
        ids.into_iter().map(|id| (id, names.get(&id).cloned())).collect()
    }

    /// Refuses every later `bind`.
    pub fn close(&self) {
        for shard in self.shards.iter() {
            shard.lock().closed = true;
        }
    }

    /// Cancels every registered idle task (dropping its future on this thread) and
    /// marks running ones cancelled, so their poller cancels them when it returns.
    /// Call after `close`. Returns how many tasks were still registered.
    pub fn shutdown_all(&self) -> usize {
        let mut seen = 0;
        for shard in self.shards.iter() {
            let batch: Vec<Task<S>> = shard.lock().tasks.iter().map(|(_, t)| t.clone()).collect();
            seen += batch.len();
            for task in batch {
                task.shutdown();
            }
        }
        seen
    }

    /// Number of tasks spawned and not yet completed.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().tasks.len()).sum()
    }

    /// `true` when no spawned task is still running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S: Schedule> Drop for OwnedTasks<S> {
    fn drop(&mut self) {
        // Every entry holds a reference; a registry dropped with entries left (a
        // task whose poller never returned) leaks them rather than freeing a task
        // another thread may still be polling.
        for shard in self.shards.iter() {
            for task in shard.lock().tasks.drain() {
                std::mem::forget(task);
            }
        }
    }
}
