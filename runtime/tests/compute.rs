//! The compute pool: fork-join coverage, nesting, panics, and async hand-off.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use tern_runtime::compute::ComputePool;

#[test]
fn parallel_for_calls_every_part_exactly_once() {
    let pool = ComputePool::new(4);
    for parts in [0, 1, 2, 3, 7, 64, 1000] {
        let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
        pool.parallel_for(parts, |i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "parts = {parts}");
    }
}

#[test]
fn parts_really_run_on_several_threads() {
    let pool = ComputePool::new(3);
    // Three parts that each wait for the other two: only passes if three threads
    // (the caller and two helpers) run them at the same time.
    let barrier = Barrier::new(3);
    let names = parking_lot::Mutex::new(Vec::new());
    pool.parallel_for(3, |_| {
        barrier.wait();
        names.lock().push(thread::current().name().map(str::to_owned));
    });
    let names = names.into_inner();
    assert_eq!(names.iter().filter(|n| n.as_deref() == Some("tern-compute")).count(), 2, "{names:?}");
}

#[test]
fn par_chunks_mut_writes_every_chunk() {
    let pool = ComputePool::new(2);
    let mut data = vec![0usize; 1003];
    pool.par_chunks_mut(&mut data, 10, |c, chunk| {
        for (i, v) in chunk.iter_mut().enumerate() {
            *v = c * 10 + i;
        }
    });
    assert!(data.iter().enumerate().all(|(i, &v)| i == v));
}

#[test]
fn nested_parallel_for_does_not_deadlock() {
    let pool = ComputePool::new(2);
    let count = AtomicUsize::new(0);
    pool.parallel_for(8, |_| {
        pool.parallel_for(8, |_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
    });
    assert_eq!(count.load(Ordering::Relaxed), 64);
}

#[test]
fn busy_pool_does_not_block_the_caller() {
    // Both pool threads are held by jobs waiting on `gate`; a parallel_for must
    // still finish (on the caller alone) instead of waiting for helpers.
    let pool = ComputePool::new(2);
    let gate = Arc::new(Barrier::new(3));
    let blockers: Vec<_> = (0..2)
        .map(|_| {
            let gate = gate.clone();
            pool.spawn(move || {
                gate.wait();
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    let count = AtomicUsize::new(0);
    pool.parallel_for(100, |_| {
        count.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(count.load(Ordering::Relaxed), 100);
    gate.wait();
    for b in blockers {
        tern_runtime::block_on(b).unwrap();
    }
}

#[test]
fn a_panicking_part_reaches_the_caller_after_the_others_return() {
    let pool = ComputePool::new(2);
    let done = AtomicUsize::new(0);
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.parallel_for(50, |i| {
            if i == 10 {
                panic!("part ten failed");
            }
            thread::sleep(Duration::from_micros(200));
            done.fetch_add(1, Ordering::Relaxed);
        })
    }));
    let msg = res.unwrap_err().downcast::<&str>().unwrap();
    assert_eq!(*msg, "part ten failed");
    let after = done.load(Ordering::Relaxed);
    thread::sleep(Duration::from_millis(20));
    assert_eq!(done.load(Ordering::Relaxed), after, "a part ran after parallel_for returned");
    // The pool still works.
    let count = AtomicUsize::new(0);
    pool.parallel_for(10, |_| {
        count.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(count.load(Ordering::Relaxed), 10);
}

#[test]
fn async_task_awaits_a_compute_job_with_fork_join_inside() {
    let pool = ComputePool::new(2);
    let sum = tern_runtime::block_on(async move {
        let p = pool.clone();
        pool.spawn(move || {
            let total = AtomicUsize::new(0);
            p.parallel_for(100, |i| {
                total.fetch_add(i, Ordering::Relaxed);
            });
            total.into_inner()
        })
        .await
        .unwrap()
    });
    assert_eq!(sum, 4950);
}
