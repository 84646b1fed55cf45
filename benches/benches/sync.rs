//! Sync-primitive benches, `tern_runtime::sync` against `tokio::sync`, side by side in the same
//! run, in the shapes of tokio's own `benches/sync_{mpsc,semaphore,rwlock,notify,mpsc_oneshot}.rs`.
//!
//! Each criterion group is one workload on one runtime flavor (`SHAPE/FLAVOR`); its functions
//! are `tern` and `tokio`. The workloads are written once, in the `workloads!` macro, which is
//! expanded twice: in `tern_side` with tern's `sync` module, `spawn`, `yield_now` and runtime in
//! scope, in `tokio_side` with tokio's. Both therefore run the same source; only the names in
//! scope differ. Multi-thread runtimes have 2 workers; current-thread runtimes run every task on
//! the `block_on` thread. Runtimes are built once per group, outside the measured loop, and shut
//! down after it.
//!
//! ```text
//! cargo bench -p tern-benches --bench sync
//! cargo bench -p tern-benches --bench sync -- --test    # each once, as a smoke test
//! ```

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use tern_benches::{Flavor, WORKERS};

/// Sender tasks in the `mpsc_contention_*` groups, and messages each sends.
const SENDERS: usize = 5;
const MESSAGES: usize = 1_000;
/// The small capacity of `mpsc_contention_bounded_16` (backpressure: senders wait for slots).
const SMALL_CAPACITY: usize = 16;
/// Acquire/release (or lock/unlock, read) operations per task.
const OPS: usize = 1_000;
/// Tasks in `semaphore_contended` and `mutex_contended`.
const TASKS: usize = 5;
/// Permits of the semaphore in `semaphore_contended`.
const CONTENDED_PERMITS: usize = 2;
/// Reader tasks in `rwlock_contended` (plus one writer).
const READERS: usize = 4;
/// Wake-ups counted per iteration of `notify_waiters_N` (tokio's `N_ITERS`).
const NOTIFY_WAKEUPS: usize = 500;
/// Round trips per iteration of `notify_one_ping_pong`.
const PING_PONG_ROUNDS: usize = 1_000;
/// Client tasks and round trips per iteration of `request_reply` (in all, split evenly).
const CLIENTS: usize = 4;
const ROUND_TRIPS: usize = 1_000;
/// Capacity of the request channel in `request_reply` (tokio's bench uses 10).
const REQUEST_QUEUE: usize = 10;

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// tern's names, as the workloads use them.
mod tern_api {
    pub use tern_runtime::sync::{mpsc, oneshot, Mutex, Notify, RwLock, Semaphore};
    pub use tern_runtime::{spawn, yield_now, Runtime};

    pub const NAME: &str = "tern";

    pub fn build(flavor: super::Flavor) -> Runtime {
        let mut builder = match flavor {
            super::Flavor::CurrentThread => tern_runtime::Builder::new_current_thread(),
            super::Flavor::MultiThread => {
                let mut b = tern_runtime::Builder::new_multi_thread();
                b.worker_threads(super::WORKERS);
                b
            }
        };
        builder.build().expect("failed to start tern")
    }
}

/// tokio's names, as the workloads use them.
mod tokio_api {
    pub use tokio::runtime::Runtime;
    pub use tokio::spawn;
    pub use tokio::sync::{mpsc, oneshot, Mutex, Notify, RwLock, Semaphore};
    pub use tokio::task::yield_now;

    pub const NAME: &str = "tokio";

    pub fn build(flavor: super::Flavor) -> Runtime {
        let mut builder = match flavor {
            super::Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            super::Flavor::MultiThread => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(super::WORKERS);
                b
            }
        };
        builder.build().expect("failed to start tokio")
    }
}

macro_rules! workloads {
    ($module:ident, $api:ident) => {
        mod $module {
            use std::hint::black_box;
            use std::sync::atomic::AtomicUsize;
            use std::sync::atomic::Ordering::Relaxed;
            use std::sync::Arc;
            use std::time::Duration;

            use super::$api::{
                build, mpsc, oneshot, spawn, yield_now, Mutex, Notify, RwLock, Semaphore, NAME,
            };
            use super::*;

            fn shutdown(rt: super::$api::Runtime) {
                rt.shutdown_timeout(Duration::from_secs(10));
            }

            /// 5 sender tasks each send 1,000 messages into one bounded channel of `capacity`;
            /// `block_on` receives all 5,000 (tokio's `contention/bounded`, `bounded_full`).
            pub fn mpsc_contention_bounded(group: &mut Group<'_>, flavor: Flavor, capacity: usize) {
                let rt = build(flavor);
                let mut handles = Vec::with_capacity(SENDERS);
                group.bench_function(NAME, |b| {
                    b.iter(|| {
                        rt.block_on(async {
                            let (tx, mut rx) = mpsc::channel::<usize>(capacity);
                            for _ in 0..SENDERS {
                                let tx = tx.clone();
                                handles.push(spawn(async move {
                                    for i in 0..MESSAGES {
                                        tx.send(i).await.unwrap();
                                    }
                                }));
                            }
                            drop(tx);
                            let mut received = 0;
                            while let Some(v) = rx.recv().await {
                                black_box(v);
                                received += 1;
                            }
                            assert_eq!(received, SENDERS * MESSAGES);
                            for handle in handles.drain(..) {
                                handle.await.unwrap();
                            }
                        })
                    })
                });
                shutdown(rt);
            }

            /// As `mpsc_contention_bounded`, on an unbounded channel (tokio's `contention/unbounded`).
            pub fn mpsc_contention_unbounded(group: &mut Group<'_>, flavor: Flavor) {
                let rt = build(flavor);
                let mut handles = Vec::with_capacity(SENDERS);
                group.bench_function(NAME, |b| {
                    b.iter(|| {
                        rt.block_on(async {
                            let (tx, mut rx) = mpsc::unbounded_channel::<usize>();
                            for _ in 0..SENDERS {
                                let tx = tx.clone();
                                handles.push(spawn(async move {
                                    for i in 0..MESSAGES {
                                        tx.send(i).unwrap();
                                    }
                                }));
                            }
                            drop(tx);
                            let mut received = 0;
                            while let Some(v) = rx.recv().await {
                                black_box(v);
                                received += 1;
                            }
                            assert_eq!(received, SENDERS * MESSAGES);
                            for handle in handles.drain(..) {
                                handle.await.unwrap();
                            }
                        })
                    })
                });
                shutdown(rt);
            }

            /// One task (`block_on`) sends 1,000 messages into a bounded channel of capacity
            /// 1,000, then receives them (tokio's `uncontented/bounded`). Includes creating it.
            pub fn mpsc_uncontended_bounded(group: &mut Group<'_>, flavor: Flavor) {
                let rt = build(flavor);
                group.bench_function(NAME, |b| {
                    b.iter(|| {
                        rt.block_on(async {
                            let (tx, mut rx) = mpsc::channel::<usize>(MESSAGES);
                            for i in 0..MESSAGES {
                                tx.send(i).await.unwrap();
                            }
                            for _ in 0..MESSAGES {
                                black_box(rx.recv().await.unwrap());
                            }
                        })
                    })
                });
                shutdown(rt);
            }

            /// As `mpsc_uncontended_bounded`, unbounded (tokio's `uncontented/unbounded`).
            pub fn mpsc_uncontended_unbounded(group: &mut Group<'_>, flavor: Flavor) {
                let rt = build(flavor);
                group.bench_function(NAME, |b| {
                    b.iter(|| {
                        rt.block_on(async {
                            let (tx, mut rx) = mpsc::unbounded_channel::<usize>();
                            for i in 0..MESSAGES {
                                tx.send(i).unwrap();
                            }
                            for _ in 0..MESSAGES {
                                black_box(rx.recv().await.unwrap());
                            }
                        })
                    })
                });
                shutdown(rt);
            }

            /// 1,000 acquire/release pairs in `block_on` on a 10-permit semaphore: never waits
            /// (tokio's `uncontended`, with 1,000 instead of 6).
            pub fn semaphore_uncontended(group: &mut Group<'_>, flavor: Flavor) {
                let rt = build(flavor);
                let sem = Semaphore::new(10);
                group.bench_function(NAME, |b| {
                    b.iter(|| {
                        rt.block_on(async {
                            for _ in 0..OPS {
                                let permit = sem.acquire().await.unwrap();
                                black_box(&permit);
                                drop(permit);
                            }
                        })
                    })
                });
                shutdown(rt);
            }

            /// 5 tasks, each 1,000 times: acquire one of 2 permits, yield to the scheduler while
            /// holding it, release. The yield is what makes the others queue (on 2 workers,
            /// with nothing held across an await, two permits are never short).
            pub fn semaphore_contended(group: &mut Group<'_>, flavor: Flavor) {
                let rt = build(flavor);
                let sem = Arc::new(Semaphore::new(CONTENDED_PERMITS));
                let mut handles = Vec::with_capacity(TASKS);
                group.bench_function(NAME, |b| {
                    b.iter(|| {
                        rt.block_on(async {
                            for _ in 0..TASKS {
                                let sem = sem.clone();
                                handles.push(spawn(async move {
                                    for _ in 0..OPS {
                                        let permit = sem.acquire().await.unwrap();
                                        yield_now().await;
                                        drop(permit);
                                    }
                                }));
                            }
                            for handle in handles.drain(..) {
                                handle.await.unwrap();
                            }
                        })
                    })
                });
                assert_eq!(sem.available_permits(), CONTENDED_PERMITS);
                shutdown(rt);
            }

            /// 1,000 read locks taken and dropped in `block_on` (tokio's `read_uncontended`,
            /// with 1,000 instead of 6).
            pub fn rwlock_read_uncontended(group: &mut Group<'_>, flavor: Flavor) {
                let rt = build(flavor);
                let lock = RwLock::new(0u64);
                group.bench_function(NAME, |b| {
                    b.iter(|| {
                        rt.block_on(async {
                            for _ in 0..OPS {
                                black_box(*lock.read().await);
                            }
                        })
                    })
                });
                shutdown(rt);
            }

            /// 4 reader tasks each take 1,000 read locks while 1 writer task takes 1,000 write
            /// locks, yielding to the scheduler while it holds each (so readers queue behind it
            /// on either flavor).
            pub fn rwlock_contended(group: &mut Group<'_>, flavor: Flavor) {
                let rt = build(flavor);
                let lock = Arc::new(RwLock::new(0usize));
                let mut handles = Vec::with_capacity(READERS + 1);
                group.bench_function(NAME, |b| {
                    b.iter(|| {
                        rt.block_on(async {
                            let writer = lock.clone();
                            handles.push(spawn(async move {
                                for _ in 0..OPS {
                                    let mut guard = writer.write().await;
                                    *guard += 1;
                                    yield_now().await;
                                    drop(guard);
                                }
                            }));
                            for _ in 0..READERS {
                                let lock = lock.clone();
                                handles.push(spawn(async move {
                                    for _ in 0..OPS {
                                        black_box(*lock.read().await);
                                    }
                                }));
                            }
                            for handle in handles.drain(..) {
                                handle.await.unwrap();
                            }
                        })
                    })
                });
                shutdown(rt);
            }

            /// 5 tasks each lock, increment and unlock a shared mutex 1,000 times; nothing is
            /// held across an await, so the multi-thread flavor contends between the two
            /// workers and the current-thread flavor never waits.
            pub fn mutex_contended(group: &mut Group<'_>, flavor: Flavor) {
                let rt = build(flavor);
                let mutex = Arc::new(Mutex::new(0usize));
                let mut handles = Vec::with_capacity(TASKS);
                group.bench_function(NAME, |b| {
                    b.iter(|| {
                        rt.block_on(async {
                            for _ in 0..TASKS {
                                let mutex = mutex.clone();
                                handles.push(spawn(async move {
                                    for _ in 0..OPS {
                                        *mutex.lock().await += 1;
                                    }
                                }));
                            }
                            for handle in handles.drain(..) {
                                handle.await.unwrap();
                            }
                        })
                    })
                });
                shutdown(rt);
            }

            /// tokio's `notify_waiters::<N>`: N tasks loop on `notified().await` and count their
            /// wake-ups; the bench thread (outside the runtime) calls `notify_waiters()` in a
            /// loop until 500 wake-ups were counted. Multi-thread only.
            pub fn notify_waiters(group: &mut Group<'_>, waiters: usize) {
                let rt = build(Flavor::MultiThread);
                let notify = Arc::new(Notify::new());
                let counter = Arc::new(AtomicUsize::new(0));
                for _ in 0..waiters {
                    let notify = notify.clone();
                    let counter = counter.clone();
                    drop(rt.spawn(async move {
                        loop {
                            notify.notified().await;
                            counter.fetch_add(1, Relaxed);
                        }
                    }));
                }
                group.bench_function(NAME, |b| {
                    b.iter(|| {
                        counter.store(0, Relaxed);
                        loop {
                            notify.notify_waiters();
                            if counter.load(Relaxed) >= NOTIFY_WAKEUPS {
                                break;
                            }
                        }
                    })
                });
                shutdown(rt);
            }

            /// Two tasks, 1,000 round trips: one calls `ping.notify_one()` then awaits `pong`,
            /// the other awaits `ping` then calls `pong.notify_one()`.
            pub fn notify_one_ping_pong(group: &mut Group<'_>, flavor: Flavor) {
                let rt = build(flavor);
                group.bench_function(NAME, |b| {
                    b.iter(|| {
                        rt.block_on(async {
                            let ping = Arc::new(Notify::new());
                            let pong = Arc::new(Notify::new());
                            let (ping2, pong2) = (ping.clone(), pong.clone());
                            let ponger = spawn(async move {
                                for _ in 0..PING_PONG_ROUNDS {
                                    ping2.notified().await;
                                    pong2.notify_one();
                                }
                            });
                            let pinger = spawn(async move {
                                for _ in 0..PING_PONG_ROUNDS {
                                    ping.notify_one();
                                    pong.notified().await;
                                }
                            });
                            pinger.await.unwrap();
                            ponger.await.unwrap();
                        })
                    })
                });
                shutdown(rt);
            }

            /// tokio's `request_reply`: a server task (started once, before measuring) receives
            /// `(request, oneshot::Sender)` over a bounded mpsc of capacity 10 and replies
            /// `request + 1`; per iteration 4 client tasks make 250 round trips each.
            pub fn request_reply(group: &mut Group<'_>, flavor: Flavor) {
                let rt = build(flavor);
                let tx = rt.block_on(async {
                    let (tx, mut rx) = mpsc::channel::<(usize, oneshot::Sender<usize>)>(REQUEST_QUEUE);
                    drop(spawn(async move {
                        while let Some((request, reply)) = rx.recv().await {
                            let _ = reply.send(request + 1);
                        }
                    }));
                    tx
                });
                let mut handles = Vec::with_capacity(CLIENTS);
                group.bench_function(NAME, |b| {
                    b.iter(|| {
                        rt.block_on(async {
                            for _ in 0..CLIENTS {
                                let tx = tx.clone();
                                handles.push(spawn(async move {
                                    for i in 0..ROUND_TRIPS / CLIENTS {
                                        let (reply_tx, reply_rx) = oneshot::channel();
                                        tx.send((i, reply_tx)).await.unwrap();
                                        assert_eq!(reply_rx.await.unwrap(), i + 1);
                                    }
                                }));
                            }
                            for handle in handles.drain(..) {
                                handle.await.unwrap();
                            }
                        })
                    })
                });
                drop(tx);
                shutdown(rt);
            }
        }
    };
}

workloads!(tern_side, tern_api);
workloads!(tokio_side, tokio_api);

fn configure<'a>(c: &'a mut Criterion, name: &str, elements: usize) -> Group<'a> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .throughput(Throughput::Elements(elements as u64));
    group
}

/// One group per flavor: `$name/current_thread` and `$name/multi_thread`, each `tern` then
/// `tokio`.
macro_rules! side_by_side {
    ($fn_name:ident, $name:expr, $bench:ident $(, $arg:expr)*; elements = $elements:expr) => {
        fn $fn_name(c: &mut Criterion) {
            for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
                let mut group = configure(c, &format!("{}/{}", $name, flavor.suffix()), $elements);
                tern_side::$bench(&mut group, flavor $(, $arg)*);
                tokio_side::$bench(&mut group, flavor $(, $arg)*);
                group.finish();
            }
        }
    };
}

side_by_side!(mpsc_contention_bounded_1000, "mpsc_contention_bounded_1000", mpsc_contention_bounded, MESSAGES;
    elements = SENDERS * MESSAGES);
side_by_side!(mpsc_contention_bounded_16, "mpsc_contention_bounded_16", mpsc_contention_bounded, SMALL_CAPACITY;
    elements = SENDERS * MESSAGES);
side_by_side!(mpsc_contention_unbounded, "mpsc_contention_unbounded", mpsc_contention_unbounded;
    elements = SENDERS * MESSAGES);
side_by_side!(mpsc_uncontended_bounded, "mpsc_uncontended_bounded", mpsc_uncontended_bounded;
    elements = MESSAGES);
side_by_side!(mpsc_uncontended_unbounded, "mpsc_uncontended_unbounded", mpsc_uncontended_unbounded;
    elements = MESSAGES);
side_by_side!(semaphore_uncontended, "semaphore_uncontended", semaphore_uncontended; elements = OPS);
side_by_side!(semaphore_contended, "semaphore_contended", semaphore_contended; elements = TASKS * OPS);
side_by_side!(rwlock_read_uncontended, "rwlock_read_uncontended", rwlock_read_uncontended; elements = OPS);
side_by_side!(rwlock_contended, "rwlock_contended", rwlock_contended; elements = (READERS + 1) * OPS);
side_by_side!(mutex_contended, "mutex_contended", mutex_contended; elements = TASKS * OPS);
side_by_side!(notify_one_ping_pong, "notify_one_ping_pong", notify_one_ping_pong;
    elements = PING_PONG_ROUNDS);
side_by_side!(request_reply, "request_reply", request_reply; elements = ROUND_TRIPS);

/// `notify_waiters_N/multi_thread` for N in 10, 50, 100, 200, 500 (tokio's bench has no
/// current-thread variant: its bench thread spins outside the runtime).
fn notify_waiters(c: &mut Criterion) {
    for waiters in [10, 50, 100, 200, 500] {
        let mut group = configure(c, &format!("notify_waiters_{waiters}/multi_thread"), NOTIFY_WAKEUPS);
        tern_side::notify_waiters(&mut group, waiters);
        tokio_side::notify_waiters(&mut group, waiters);
        group.finish();
    }
}

criterion_group!(
    sync,
    mpsc_contention_bounded_1000,
    mpsc_contention_bounded_16,
    mpsc_contention_unbounded,
    mpsc_uncontended_bounded,
    mpsc_uncontended_unbounded,
    semaphore_uncontended,
    semaphore_contended,
    rwlock_read_uncontended,
    rwlock_contended,
    mutex_contended,
    notify_waiters,
    notify_one_ping_pong,
    request_reply
);
criterion_main!(sync);
