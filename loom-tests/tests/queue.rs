#![cfg(loom)]
//! Loom models of a worker's bounded local queue (`scheduler/multi_thread/queue.rs`):
//! the owner pushes (overflowing half the queue into the injector when it is full)
//! and pops while a thief steals half of it; every task must be seen exactly once,
//! by the owner, the thief or the injector, and no local queue may exceed
//! `LOCAL_QUEUE_CAPACITY`.
//!
//! What this covers and what it does not: `Local` is a thin layer over
//! `crossbeam-deque`, whose atomics are plain `std` ones that loom does not see,
//! and loom runs its threads one at a time. So each crossbeam call
//! (`push`, `pop`, `steal_batch_with_limit_and_pop`, `Injector::push`) is atomic
//! here, and loom only chooses the order of the steps between the `checkpoint()`s
//! below (a loom atomic operation, i.e. a place where loom may switch threads).
//! The models therefore check our composition: the overflow's
//! check-then-move-half against a concurrent steal, the thief's room computation,
//! and that nothing is lost or duplicated across the three places a task can be,
//! for every interleaving of whole queue operations. They do not check
//! crossbeam-deque's own memory orderings (crossbeam tests those itself), nor
//! interleavings *inside* one `push_back_or_overflow` (its `len` check and the
//! half-move loop are several crossbeam calls that run here without a switch).

use crossbeam_deque::{Injector, Steal};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use tern_runtime::__loom::{Local, LOCAL_QUEUE_CAPACITY};

const CAP: usize = LOCAL_QUEUE_CAPACITY;

/// A point where loom may preempt the current thread.
fn checkpoint(steps: &AtomicUsize) {
    steps.fetch_add(1, SeqCst);
}

fn assert_bounded(q: &Local<usize>) {
    assert!(q.len() <= CAP, "local queue grew to {} > {CAP}", q.len());
}

/// Sorts what was seen and checks it is exactly `0..n`.
fn assert_each_once(mut seen: Vec<usize>, n: usize) {
    seen.sort_unstable();
    let dups: Vec<_> = seen.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    assert!(dups.is_empty(), "tasks seen twice: {dups:?}");
    assert_eq!(seen.len(), n, "tasks lost: saw {} of {n}", seen.len());
    assert!(seen.iter().copied().eq(0..n));
}

fn drain_injector(inject: &Injector<usize>, into: &mut Vec<usize>) {
    loop {
        match inject.steal() {
            Steal::Success(t) => into.push(t),
            Steal::Empty => return,
            Steal::Retry => {}
        }
    }
}

/// The owner starts with a full queue. It pushes once more (overflow: the older
/// half moves to the injector), pops, pushes again and pops, while a thief with
/// an empty queue steals half and drains its own queue. Afterwards the owner's
/// queue and the injector are drained.
#[test]
fn overflow_races_steal() {
    loom::model(|| {
        let steps = Arc::new(AtomicUsize::new(0));
        let inject = Arc::new(Injector::new());
        let owner = Local::new();
        for i in 0..CAP {
            assert!(!owner.push_back_or_overflow(i, &inject));
        }
        let mut next = CAP;
        let stealer = owner.stealer();

        let thief = thread::spawn({
            let steps = steps.clone();
            move || {
                let mine = Local::new();
                let mut seen = Vec::new();
                checkpoint(&steps);
                if let Some(t) = mine.steal_half_from(&stealer) {
                    seen.push(t);
                }
                assert_bounded(&mine);
                checkpoint(&steps);
                while let Some(t) = mine.pop() {
                    seen.push(t);
                }
                seen
            }
        });

        let mut seen = Vec::new();
        checkpoint(&steps);
        let overflowed = owner.push_back_or_overflow(next, &inject);
        next += 1;
        assert_bounded(&owner);
        checkpoint(&steps);
        seen.extend(owner.pop());
        checkpoint(&steps);
        let overflowed2 = owner.push_back_or_overflow(next, &inject);
        next += 1;
        assert_bounded(&owner);
        // Only a push onto a full queue overflows, and the queue is at most full
        // before the first push, so at most one of them did.
        assert!(!(overflowed && overflowed2));
        checkpoint(&steps);
        seen.extend(owner.pop());

        let stolen = thief.join().unwrap();
        if !overflowed && !overflowed2 {
            // Neither push found the queue full: the thief must have stolen first.
            assert!(!stolen.is_empty());
        }
        seen.extend(stolen);
        while let Some(t) = owner.pop() {
            seen.push(t);
        }
        drain_injector(&inject, &mut seen);
        assert_each_once(seen, next);
    });
}

/// Two queues each stealing from the other while the owners push and pop: a
/// task is never duplicated or lost when steals cross, and the thief's room
/// computation keeps a nearly full queue within its capacity.
#[test]
fn crossing_steals_respect_capacity() {
    loom::model(|| {
        let steps = Arc::new(AtomicUsize::new(0));
        let inject = Arc::new(Injector::new());
        // `a` is full; `b` has room for only a few stolen tasks.
        let a = Local::new();
        let b = Local::new();
        let b_start = CAP;
        let b_len = CAP - 3;
        for i in 0..CAP {
            a.push_back_or_overflow(i, &inject);
        }
        for i in 0..b_len {
            b.push_back_or_overflow(b_start + i, &inject);
        }
        let total = b_start + b_len;
        let (a_stealer, b_stealer) = (a.stealer(), b.stealer());

        let other = thread::spawn({
            let steps = steps.clone();
            move || {
                let mut seen = Vec::new();
                checkpoint(&steps);
                seen.extend(b.steal_half_from(&a_stealer));
                assert_bounded(&b);
                checkpoint(&steps);
                seen.extend(b.pop());
                checkpoint(&steps);
                while let Some(t) = b.pop() {
                    seen.push(t);
                }
                seen
            }
        });

        let mut seen = Vec::new();
        checkpoint(&steps);
        seen.extend(a.pop());
        checkpoint(&steps);
        seen.extend(a.steal_half_from(&b_stealer));
        assert_bounded(&a);
        checkpoint(&steps);
        while let Some(t) = a.pop() {
            seen.push(t);
        }

        seen.extend(other.join().unwrap());
        drain_injector(&inject, &mut seen);
        assert_each_once(seen, total);
    });
}
