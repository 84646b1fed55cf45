//! No leaks: a million tasks, abort/panic/shutdown mixes and reference cycles
//! leave every future dropped, `num_alive_tasks() == 0`, and — counted by a
//! global allocator — no allocation behind once the runtime is gone.
//!
//! The allocation count is process-wide, so this is its own test binary and
//! every test holds a lock for its whole body; a small tolerance absorbs the
//! test harness's own bookkeeping.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::pending;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use common::*;
use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use tern_runtime::yield_now;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(1, SeqCst);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(1, SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(1, SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

static SERIAL: Mutex<()> = Mutex::new(());

/// Allocations the harness may make or free on its own while a test runs.
const TOLERANCE: isize = 200;

fn live() -> isize {
    LIVE.load(SeqCst)
}

/// Runs `body` under the lock and checks the live allocation count returns to
/// where it started.
fn no_leak(what: &str, body: impl FnOnce() + Send + 'static) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // With RUST_BACKTRACE set, the default hook symbolizes a backtrace per panic
    // and grows std's global caches as it goes: print the message only.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| std::panic::set_hook(Box::new(|info| eprintln!("{info}"))));
    let what = what.to_string();
    with_deadline(&what.clone(), Duration::from_secs(60), move || {
        let before = live();
        body();
        let after = live();
        assert!(after - before <= TOLERANCE, "{what}: {} allocations leaked", after - before);
    });
}

#[test]
fn million_tasks_complete_without_leaks() {
    for flavor in [Flavor::MultiThread(2), Flavor::CurrentThread] {
        no_leak(&format!("{flavor:?}"), move || {
            const TOTAL: usize = 1_000_000;
            const CHUNK: usize = 10_000;
            let rt = flavor.build();
            let drops = Arc::new(AtomicUsize::new(0));
            let d = drops.clone();
            let sum = rt.block_on(async move {
                let mut sum = 0usize;
                for chunk in 0..TOTAL / CHUNK {
                    let hs: Vec<_> = (0..CHUNK)
                        .map(|i| {
                            let c = DropCounter(d.clone());
                            tern_runtime::spawn(async move {
                                let _c = c;
                                if i % 4 == 0 {
                                    yield_now().await;
                                }
                                i
                            })
                        })
                        .collect();
                    for h in hs {
                        sum += h.await.unwrap();
                    }
                    assert_eq!(d.load(SeqCst), (chunk + 1) * CHUNK);
                }
                sum
            });
            assert_eq!(sum, TOTAL / CHUNK * (CHUNK * (CHUNK - 1) / 2));
            assert_eq!(drops.load(SeqCst), TOTAL, "every task's future was dropped");
            let m = rt.metrics();
            assert_eq!(m.num_alive_tasks(), 0);
            assert!(m.spawned_tasks_count() >= TOTAL as u64, "spawned {}", m.spawned_tasks_count());
            drop(rt);
        });
    }
}

#[test]
fn detached_tasks_do_not_leak() {
    for flavor in ALL.iter().copied() {
        no_leak(&format!("{flavor:?}"), move || {
            let rt = flavor.build();
            let drops = Arc::new(AtomicUsize::new(0));
            let (tx, mut rx) = mpsc::unbounded::<()>();
            for i in 0..50_000usize {
                let c = DropCounter(drops.clone());
                let tx = tx.clone();
                drop(rt.spawn(async move {
                    if i % 2 == 0 {
                        yield_now().await;
                    }
                    tx.unbounded_send(()).unwrap();
                    // The output is dropped by the runtime, nobody reads it.
                    c
                }));
            }
            drop(tx);
            let n = rt.block_on(async move {
                let mut n = 0;
                while rx.next().await.is_some() {
                    n += 1;
                }
                n
            });
            assert_eq!(n, 50_000);
            assert!(drive_until(&rt, Duration::from_secs(10), || rt.metrics().num_alive_tasks() == 0));
            assert_eq!(drops.load(SeqCst), 50_000);
            drop(rt);
        });
    }
}

#[test]
fn abort_panic_and_shutdown_mix_does_not_leak() {
    for flavor in ALL.iter().copied() {
        no_leak(&format!("{flavor:?}"), move || {
            let rt = flavor.build();
            let drops = Arc::new(AtomicUsize::new(0));
            let (started_tx, mut started_rx) = mpsc::unbounded::<()>();
            let mut aborted = Vec::new();
            let mut panicked = Vec::new();
            let mut left_pending = Vec::new();
            let n = 3_000;
            for i in 0..n {
                let c = DropCounter(drops.clone());
                let s = started_tx.clone();
                match i % 3 {
                    0 => aborted.push(rt.spawn(async move {
                        let _c = c;
                        s.unbounded_send(()).unwrap();
                        pending::<()>().await;
                    })),
                    1 => panicked.push(rt.spawn(async move {
                        let _c = c;
                        s.unbounded_send(()).unwrap();
                        yield_now().await;
                        panic!("planned");
                    })),
                    _ => {
                        let jh = rt.spawn(async move {
                            let _c = c;
                            s.unbounded_send(()).unwrap();
                            pending::<()>().await;
                        });
                        // Keep half of these handles past shutdown, detach the rest.
                        if i % 2 == 0 {
                            left_pending.push(jh);
                        }
                    }
                }
            }
            drop(started_tx);
            rt.block_on(async {
                for _ in 0..n {
                    started_rx.next().await.unwrap();
                }
            });
            for jh in &aborted {
                jh.abort();
            }
            let (a, p) = rt.block_on(async move {
                let (mut a, mut p) = (0, 0);
                for jh in aborted {
                    a += usize::from(jh.await.unwrap_err().is_cancelled());
                }
                for jh in panicked {
                    p += usize::from(jh.await.unwrap_err().is_panic());
                }
                (a, p)
            });
            assert_eq!((a, p), (n / 3, n / 3));
            assert_eq!(rt.metrics().num_alive_tasks(), n / 3);
            rt.shutdown_timeout(Duration::from_secs(5));
            assert_eq!(drops.load(SeqCst), n);
            for jh in left_pending {
                assert!(futures::executor::block_on(jh).unwrap_err().is_cancelled());
            }
        });
    }
}

#[test]
fn reference_cycles_are_freed_by_shutdown() {
    for flavor in ALL.iter().copied() {
        no_leak(&format!("{flavor:?}"), move || {
            let rt = flavor.build();
            let pairs = 1_000;
            let (started_tx, mut started_rx) = mpsc::unbounded::<()>();
            for _ in 0..pairs {
                let (tx_a, rx_a) = oneshot::channel::<()>();
                let (tx_b, rx_b) = oneshot::channel::<()>();
                let (sa, sb) = (started_tx.clone(), started_tx.clone());
                rt.spawn(async move {
                    let _keep = tx_b;
                    sa.unbounded_send(()).unwrap();
                    let _ = rx_a.await;
                    pending::<()>().await;
                });
                rt.spawn(async move {
                    let _keep = tx_a;
                    sb.unbounded_send(()).unwrap();
                    let _ = rx_b.await;
                    pending::<()>().await;
                });
            }
            drop(started_tx);
            rt.block_on(async {
                for _ in 0..2 * pairs {
                    started_rx.next().await.unwrap();
                }
            });
            // 2000 task cells (plus channels) would show up well above the tolerance.
            drop(rt);
        });
    }
}

#[test]
fn waker_outliving_its_task_and_runtime_frees_it() {
    for flavor in ALL.iter().copied() {
        no_leak(&format!("{flavor:?}"), move || {
            let rt = flavor.build();
            let slot: Arc<Mutex<Vec<Waker>>> = Arc::default();
            let s = slot.clone();
            let hs: Vec<_> = (0..100)
                .map(|_| {
                    let s = s.clone();
                    rt.spawn(std::future::poll_fn(move |cx| {
                        s.lock().unwrap().push(cx.waker().clone());
                        std::task::Poll::Ready(())
                    }))
                })
                .collect();
            rt.block_on(async {
                for h in hs {
                    h.await.unwrap();
                }
            });
            drop(rt);
            // The stored wakers hold the last references to their (finished)
            // tasks; waking them from another thread after the runtime is gone
            // must be harmless, and dropping them must free the tasks.
            let wakers = std::mem::take(&mut *slot.lock().unwrap());
            assert_eq!(wakers.len(), 100);
            std::thread::spawn(move || {
                for (i, w) in wakers.into_iter().enumerate() {
                    if i % 2 == 0 {
                        w.wake_by_ref();
                        drop(w);
                    } else {
                        w.wake();
                    }
                }
            })
            .join()
            .unwrap();
        });
    }
}

#[test]
fn abort_handles_free_their_tasks_in_any_drop_order() {
    for flavor in ALL.iter().copied() {
        no_leak(&format!("{flavor:?}"), move || {
            let rt = flavor.build();
            let n = 3_000;
            let drops = Arc::new(AtomicUsize::new(0));
            let mut kept = Vec::new();
            let mut joins = Vec::new();
            for i in 0..n {
                let c = DropCounter(drops.clone());
                let jh = rt.spawn(async move {
                    let _c = c;
                    if i % 2 == 0 {
                        pending::<()>().await;
                    }
                });
                let ah = jh.abort_handle();
                let clone = ah.clone();
                match i % 3 {
                    // The AbortHandles go first; the task then ends on its own
                    // or by abort through the JoinHandle.
                    0 => {
                        drop((ah, clone));
                        joins.push(jh);
                    }
                    // Detached: the AbortHandles outlive the JoinHandle and abort.
                    1 => {
                        drop(jh);
                        ah.abort();
                        kept.push((ah, clone));
                    }
                    // Both kinds kept until after the runtime is gone.
                    _ => {
                        ah.abort();
                        joins.push(jh);
                        kept.push((ah, clone));
                    }
                }
            }
            rt.block_on(async {
                for jh in joins {
                    jh.abort();
                    let _ = jh.await;
                }
            });
            assert!(drive_until(&rt, Duration::from_secs(10), || rt.metrics().num_alive_tasks() == 0));
            assert_eq!(drops.load(SeqCst), n);
            drop(rt);
            // The last references to these 2000 task cells: freed on another thread.
            std::thread::spawn(move || {
                for (ah, clone) in kept {
                    assert!(ah.is_finished() && clone.is_finished());
                }
            })
            .join()
            .unwrap();
        });
    }
}
