//! `tern_runtime::sync` primitives: Semaphore, Mutex, RwLock, Notify, Event,
//! Barrier, Condvar. Contention tests run on the current-thread and multi-thread
//! runtimes; protocol details (FIFO order, partial assignment, cancellation in
//! the middle of a wait) are driven by hand with flag wakers, so they are exact.

mod common;

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use common::*;
use tern_reactor::time::{sleep, timeout};
use tern_runtime::sync::{
    Barrier, Condvar, Event, Mutex, MutexGuard, Notify, RwLock, Semaphore, TryAcquireError,
};
use tern_runtime::yield_now;

// ---------------------------------------------------------------------------
// helpers

/// A waker that records whether it was woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

impl Flag {
    fn new() -> (Arc<Flag>, Waker) {
        let f = Arc::new(Flag::default());
        (f.clone(), Waker::from(f))
    }
    /// Was woken since the last call (and resets).
    fn take(&self) -> bool {
        self.0.swap(false, SeqCst)
    }
}

fn poll_with<F: Future>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

fn noop_poll<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    poll_with(fut, futures::task::noop_waker_ref())
}

const LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Mutex

/// A pair that must stay equal; updated in two steps with an await in between.
#[derive(Default)]
struct Pair {
    a: u64,
    b: u64,
}

#[test]
fn mutex_mutual_exclusion_under_contention() {
    each(ALL, |rt, _| {
        let m = Arc::new(Mutex::new(Pair::default()));
        let inside = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let (m, inside) = (m.clone(), inside.clone());
                rt.spawn(async move {
                    for j in 0..100u32 {
                        let mut g = m.lock().await;
                        assert_eq!(inside.fetch_add(1, SeqCst), 0, "two tasks inside the lock");
                        assert_eq!(g.a, g.b, "invariant broken");
                        g.a += 1;
                        if (i + j) % 3 == 0 {
                            yield_now().await; // guard held across an await
                        }
                        g.b += 1;
                        inside.fetch_sub(1, SeqCst);
                    }
                })
            })
            .collect();
        rt.block_on(async {
            for h in hs {
                h.await.unwrap();
            }
        });
        let m = Arc::try_unwrap(m).ok().unwrap().into_inner();
        assert_eq!((m.a, m.b), (800, 800));
    });
}

#[test]
fn mutex_lock_is_fifo() {
    each(ALL, |rt, _| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let order = rt.block_on(async {
            let held = m.clone().lock_owned().await;
            // join_all polls its futures in order on the first poll: they queue
            // in index order, each holding the lock across a sleep.
            let waiters = futures::future::join_all((0..10).map(|i| {
                let m = m.clone();
                async move {
                    let mut g = m.lock().await;
                    g.push(i);
                    sleep(Duration::from_millis(1)).await;
                }
            }));
            let release = async {
                yield_now().await;
                assert!(m.try_lock().is_err(), "try_lock must not overtake queued waiters");
                drop(held);
            };
            futures::future::join(waiters, release).await;
            let v = m.lock().await.clone();
            v
        });
        assert_eq!(order, (0..10).collect::<Vec<_>>());
    });
}

#[test]
fn mutex_fifo_across_tasks() {
    // Tasks queue one after another (each waits until the previous one is queued,
    // observed through a hand-held probe future queued behind it).
    each(ALL, |rt, _| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let order = rt.block_on(async {
            let held = m.lock().await;
            let mut hs = Vec::new();
            for i in 0..6 {
                let m2 = m.clone();
                let queued = Arc::new(AtomicBool::new(false));
                let q2 = queued.clone();
                hs.push(tern_runtime::spawn(async move {
                    let mut lock = pin!(m2.lock());
                    // First poll queues the task, then it reports.
                    let mut g = std::future::poll_fn(|cx| {
                        let r = lock.as_mut().poll(cx);
                        q2.store(true, SeqCst);
                        r
                    })
                    .await;
                    g.push(i);
                }));
                while !queued.load(SeqCst) {
                    sleep(Duration::from_millis(1)).await;
                }
            }
            drop(held);
            for h in hs {
                h.await.unwrap();
            }
            let v = m.lock().await.clone();
            v
        });
        assert_eq!(order, (0..6).collect::<Vec<_>>());
    });
}

#[test]
fn mutex_guard_across_await_and_try_lock() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let m = Arc::new(Mutex::new(1));
            let mut g = m.clone().lock_owned().await;
            let m2 = m.clone();
            let h = tern_runtime::spawn(async move { m2.try_lock().is_err() });
            assert!(h.await.unwrap(), "try_lock succeeded while the guard was held");
            sleep(Duration::from_millis(2)).await;
            *g += 1;
            drop(g);
            let g = m.try_lock().expect("free after the guard is dropped");
            assert_eq!(*g, 2);
            let mut mapped = MutexGuard::map(g, |v| v);
            *mapped += 1;
            assert!(m.try_lock().is_err(), "a mapped guard keeps the lock");
            drop(mapped);
            assert_eq!(*m.lock().await, 3);
        });
    });
    let mut m = Mutex::new(String::from("x"));
    m.get_mut().push('y');
    assert_eq!(m.into_inner(), "xy");
}

#[test]
fn mutex_lock_cancelled_while_queued() {
    let m = Mutex::new(0);
    let g = m.try_lock().unwrap();
    let (f1, w1) = Flag::new();
    let (f2, w2) = Flag::new();
    let mut a = Box::pin(m.lock());
    let mut b = Box::pin(m.lock());
    assert!(poll_with(a.as_mut(), &w1).is_pending());
    assert!(poll_with(b.as_mut(), &w2).is_pending());
    drop(g);
    // `a` was handed the lock; cancelling it must pass the lock on to `b`.
    assert!(f1.take());
    assert!(!f2.take());
    drop(a);
    assert!(f2.take(), "the next waiter was not woken after a cancelled lock()");
    let Poll::Ready(mut g) = poll_with(b.as_mut(), &w2) else { panic!("b did not get the lock") };
    *g += 1;
    drop(g);
    drop(b);
    assert_eq!(*m.try_lock().unwrap(), 1);
}

#[test]
fn mutex_lock_cancelled_by_timeout() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let m = Arc::new(Mutex::new(0));
            let g = m.lock().await;
            let m2 = m.clone();
            let waiter = tern_runtime::spawn(async move {
                *m2.lock().await += 1;
            });
            // Several lock() futures time out while queued (in front and behind).
            for _ in 0..3 {
                assert!(timeout(Duration::from_millis(5), m.lock()).await.is_err());
            }
            drop(g);
            timeout(LIMIT, waiter).await.expect("waiter woken").unwrap();
            assert_eq!(*m.try_lock().expect("lock free again"), 1);
        });
    });
}

// ---------------------------------------------------------------------------
// Semaphore

#[test]
fn semaphore_never_exceeds_limit() {
    each(ALL, |rt, _| {
        let sem = Arc::new(Semaphore::new(5));
        let current = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..100)
            .map(|i| {
                let (sem, current, max) = (sem.clone(), current.clone(), max.clone());
                rt.spawn(async move {
                    let n = if i % 10 == 0 { 2 } else { 1 };
                    let p = sem.acquire_many(n).await.unwrap();
                    let now = current.fetch_add(n as usize, SeqCst) + n as usize;
                    max.fetch_max(now, SeqCst);
                    assert!(now <= 5, "{now} permits in use");
                    if i % 4 == 0 {
                        sleep(Duration::from_micros(200)).await;
                    } else {
                        yield_now().await;
                    }
                    current.fetch_sub(n as usize, SeqCst);
                    drop(p);
                })
            })
            .collect();
        rt.block_on(async {
            for h in hs {
                h.await.unwrap();
            }
        });
        assert!(max.load(SeqCst) <= 5);
        assert!(max.load(SeqCst) >= 2, "permits were never held concurrently");
        assert_eq!(sem.available_permits(), 5);
    });
}

#[test]
fn semaphore_basics() {
    let sem = Semaphore::new(3);
    let a = sem.try_acquire_many(2).unwrap();
    assert_eq!(a.num_permits(), 2);
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.try_acquire_many(2).unwrap_err(), TryAcquireError::NoPermits);
    let b = sem.try_acquire().unwrap();
    drop(a);
    assert_eq!(sem.available_permits(), 2);
    b.forget();
    assert_eq!(sem.available_permits(), 2);
    sem.add_permits(3);
    assert_eq!(sem.available_permits(), 5);
    assert_eq!(sem.forget_permits(1), 1);
    let mut p = sem.try_acquire_many(4).unwrap();
    let q = p.split(1).unwrap();
    assert_eq!((p.num_permits(), q.num_permits()), (3, 1));
    p.merge(q);
    assert_eq!(p.num_permits(), 4);
    drop(p);
    assert_eq!(sem.available_permits(), 4);
    let sem = Arc::new(Semaphore::new(1));
    let o = sem.clone().try_acquire_owned().unwrap();
    assert!(sem.clone().try_acquire_owned().is_err());
    drop(o);
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(Semaphore::MAX_PERMITS, usize::MAX >> 3);
}

#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn semaphore_add_permits_overflow_panics() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    sem.add_permits(1);
}

#[test]
fn semaphore_acquire_many_is_fifo() {
    // A big waiter at the head holds back a later small one, even when enough
    // permits for the small one come back.
    let sem = Semaphore::new(2);
    let held = sem.try_acquire_many(2).unwrap();
    let (fa, wa) = Flag::new();
    let (fb, wb) = Flag::new();
    let mut big = Box::pin(sem.acquire_many(3));
    let mut small = Box::pin(sem.acquire());
    assert!(poll_with(big.as_mut(), &wa).is_pending());
    assert!(poll_with(small.as_mut(), &wb).is_pending());
    drop(held); // 2 of 3 assigned to `big`
    assert!(!fa.take() && !fb.take());
    assert!(poll_with(small.as_mut(), &wb).is_pending(), "small waiter overtook the big one");
    assert!(sem.try_acquire().is_err(), "try_acquire overtook queued waiters");
    assert_eq!(sem.available_permits(), 0);
    sem.add_permits(1);
    assert!(fa.take());
    assert!(!fb.take());
    let Poll::Ready(Ok(p)) = poll_with(big.as_mut(), &wa) else { panic!("big not ready") };
    assert_eq!(p.num_permits(), 3);
    drop(p);
    assert!(fb.take());
    let Poll::Ready(Ok(p)) = poll_with(small.as_mut(), &wb) else { panic!("small not ready") };
    drop(p);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn semaphore_partially_assigned_acquire_cancelled() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire_many(2).unwrap();
    let (_fa, wa) = Flag::new();
    let (fb, wb) = Flag::new();
    let (fc, wc) = Flag::new();
    let mut big = Box::pin(sem.acquire_many(3));
    let mut b = Box::pin(sem.acquire());
    let mut c = Box::pin(sem.acquire_many(2));
    assert!(poll_with(big.as_mut(), &wa).is_pending());
    assert!(poll_with(b.as_mut(), &wb).is_pending());
    assert!(poll_with(c.as_mut(), &wc).is_pending());
    drop(held); // `big` now holds 2 of its 3
    assert_eq!(sem.available_permits(), 0);
    drop(big); // its 2 go to `b` (1) and `c` (1 of 2)
    assert!(fb.take(), "next waiter not woken after a partially assigned acquire was dropped");
    assert!(!fc.take());
    assert_eq!(sem.available_permits(), 0);
    let Poll::Ready(Ok(pb)) = poll_with(b.as_mut(), &wb) else { panic!("b not ready") };
    drop(c); // returns its 1 partial permit
    assert_eq!(sem.available_permits(), 1);
    drop(pb);
    assert_eq!(sem.available_permits(), 2, "permits leaked");
}

#[test]
fn semaphore_acquire_cancelled_by_timeout_keeps_permits() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let sem = Arc::new(Semaphore::new(3));
            let held = sem.clone().acquire_many_owned(2).await.unwrap();
            let s2 = sem.clone();
            let waiter =
                tern_runtime::spawn(async move { s2.acquire_many(3).await.map(|p| p.num_permits()) });
            // Queued once it took the one free permit.
            while sem.available_permits() != 0 {
                sleep(Duration::from_millis(1)).await;
            }
            for n in [1, 2, 3] {
                let r = timeout(Duration::from_millis(3), sem.acquire_many(n)).await;
                assert!(r.is_err(), "acquire_many({n}) should wait behind the queued waiter");
            }
            drop(held);
            assert_eq!(timeout(LIMIT, waiter).await.expect("waiter woken").unwrap(), Ok(3));
            assert_eq!(sem.available_permits(), 3);
        });
    });
}

#[test]
fn semaphore_close_wakes_waiters() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let sem = Arc::new(Semaphore::new(1));
            let held = sem.acquire().await.unwrap();
            let hs: Vec<_> = (0..10)
                .map(|i| {
                    let s = sem.clone();
                    tern_runtime::spawn(async move { s.acquire_many(1 + i % 2).await.is_err() })
                })
                .collect();
            sleep(Duration::from_millis(5)).await;
            assert!(!sem.is_closed());
            sem.close();
            assert!(sem.is_closed());
            for h in hs {
                assert!(timeout(LIMIT, h).await.expect("waiter woken by close").unwrap());
            }
            assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
            assert!(sem.acquire().await.is_err());
            assert!(sem.clone().acquire_owned().await.is_err());
            drop(held);
            assert_eq!(sem.available_permits(), 1, "permits of a closed semaphore are still returned");
        });
    });
}

#[test]
fn semaphore_close_returns_partial_assignment() {
    let sem = Semaphore::new(1);
    let (f, w) = Flag::new();
    let mut big = Box::pin(sem.acquire_many(3));
    assert!(poll_with(big.as_mut(), &w).is_pending()); // took the 1 available
    assert_eq!(sem.available_permits(), 0);
    sem.close();
    assert!(f.take());
    assert!(matches!(poll_with(big.as_mut(), &w), Poll::Ready(Err(_))));
    assert_eq!(sem.available_permits(), 1);
}

// ---------------------------------------------------------------------------
// RwLock

#[test]
fn rwlock_queued_writer_blocks_new_readers() {
    let lock = RwLock::new(0);
    let r1 = lock.try_read().unwrap();
    let (fw, ww) = Flag::new();
    let (fr, wr) = Flag::new();
    let mut w = Box::pin(lock.write());
    assert!(poll_with(w.as_mut(), &ww).is_pending());
    assert!(lock.try_read().is_err(), "a reader overtook the queued writer");
    let mut r2 = Box::pin(lock.read());
    assert!(poll_with(r2.as_mut(), &wr).is_pending(), "a reader overtook the queued writer");
    drop(r1);
    assert!(fw.take());
    let Poll::Ready(mut g) = poll_with(w.as_mut(), &ww) else { panic!("writer not ready") };
    assert!(!fr.take());
    *g = 7;
    drop(g);
    assert!(fr.take());
    let Poll::Ready(g) = poll_with(r2.as_mut(), &wr) else { panic!("reader not ready") };
    assert_eq!(*g, 7);
}

#[test]
fn rwlock_cancelled_writer_lets_readers_in() {
    let lock = RwLock::with_max_readers(0, 4);
    let r1 = lock.try_read().unwrap();
    let (_fw, ww) = Flag::new();
    let (fr, wr) = Flag::new();
    let mut w = Box::pin(lock.write());
    assert!(poll_with(w.as_mut(), &ww).is_pending()); // holds 3 of 4 slots
    let mut r2 = Box::pin(lock.read());
    assert!(poll_with(r2.as_mut(), &wr).is_pending());
    drop(w);
    assert!(fr.take(), "reader behind a cancelled writer not woken");
    let Poll::Ready(g2) = poll_with(r2.as_mut(), &wr) else { panic!("reader not ready") };
    drop((g2, r1));
    assert!(lock.try_write().is_ok(), "reader slots leaked");
}

#[test]
fn rwlock_readers_share_writers_exclude() {
    each(ALL, |rt, _| {
        let lock = Arc::new(RwLock::new(0u64));
        let readers = Arc::new(AtomicUsize::new(0));
        let writers = Arc::new(AtomicUsize::new(0));
        let max_readers = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..24)
            .map(|i| {
                let (lock, readers, writers, max_readers) =
                    (lock.clone(), readers.clone(), writers.clone(), max_readers.clone());
                rt.spawn(async move {
                    for _ in 0..20 {
                        if i % 4 == 0 {
                            let mut g = lock.write().await;
                            assert_eq!(writers.fetch_add(1, SeqCst), 0, "two writers");
                            assert_eq!(readers.load(SeqCst), 0, "writer with readers");
                            let v = *g;
                            yield_now().await;
                            *g = v + 1;
                            writers.fetch_sub(1, SeqCst);
                        } else {
                            let g = lock.read().await;
                            let n = readers.fetch_add(1, SeqCst) + 1;
                            max_readers.fetch_max(n, SeqCst);
                            assert_eq!(writers.load(SeqCst), 0, "reader with a writer");
                            let _ = *g;
                            yield_now().await;
                            readers.fetch_sub(1, SeqCst);
                        }
                    }
                })
            })
            .collect();
        rt.block_on(async {
            for h in hs {
                h.await.unwrap();
            }
        });
        assert_eq!(*lock.try_read().unwrap(), 6 * 20);
        assert!(max_readers.load(SeqCst) >= 2, "readers never shared the lock");
    });
}

#[test]
fn rwlock_write_and_read_cancelled_by_timeout() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let lock = Arc::new(RwLock::new(0));
            let r = lock.clone().read_owned().await;
            assert!(timeout(Duration::from_millis(3), lock.write()).await.is_err());
            // The cancelled writer left: readers get in again.
            let r2 = timeout(LIMIT, lock.read()).await.expect("reader after cancelled writer");
            let l2 = lock.clone();
            let writer = tern_runtime::spawn(async move { *l2.write_owned().await += 1 });
            sleep(Duration::from_millis(3)).await;
            assert!(timeout(Duration::from_millis(3), lock.read()).await.is_err(), "reader overtook writer");
            drop((r, r2));
            timeout(LIMIT, writer).await.expect("writer woken").unwrap();
            assert_eq!(*lock.try_write().unwrap(), 1);
        });
    });
    let mut l = RwLock::new(1);
    *l.get_mut() += 1;
    assert_eq!(l.into_inner(), 2);
}

// ---------------------------------------------------------------------------
// Notify

#[test]
fn notify_one_stores_one_permit() {
    let n = Notify::new();
    n.notify_one();
    n.notify_one(); // permits do not add up
    let mut a = pin!(n.notified());
    assert!(noop_poll(a.as_mut()).is_ready(), "stored permit lost");
    let mut b = pin!(n.notified());
    assert!(noop_poll(b.as_mut()).is_pending(), "permits added up");
    n.notify_one();
    assert!(noop_poll(b.as_mut()).is_ready());
}

#[test]
fn notify_one_wakes_in_fifo_order() {
    let n = Notify::new();
    let (fa, wa) = Flag::new();
    let (fb, wb) = Flag::new();
    let mut a = pin!(n.notified());
    let mut b = pin!(n.notified());
    assert!(poll_with(a.as_mut(), &wa).is_pending());
    assert!(poll_with(b.as_mut(), &wb).is_pending());
    n.notify_one();
    assert!(fa.take() && !fb.take());
    assert!(poll_with(b.as_mut(), &wb).is_pending());
    assert!(poll_with(a.as_mut(), &wa).is_ready());
    n.notify_one();
    assert!(fb.take());
    assert!(poll_with(b.as_mut(), &wb).is_ready());
}

#[test]
fn notify_slots_are_reused_only_once_released() {
    // The queue keeps the slots of waiters that left it for reuse; a slot whose
    // `Notified` was woken but not polled yet must not be handed to a new waiter.
    let n = Notify::new();
    for round in 0..3 {
        let mut a = pin!(n.notified());
        assert!(noop_poll(a.as_mut()).is_pending());
        n.notify_one(); // `a` leaves the queue, its slot becomes a spare
        let mut b = pin!(n.notified());
        assert!(noop_poll(b.as_mut()).is_pending(), "round {round}: b took a's notification");
        assert!(noop_poll(a.as_mut()).is_ready(), "round {round}: a lost its notification");
        assert!(noop_poll(b.as_mut()).is_pending(), "round {round}");
        n.notify_one();
        assert!(noop_poll(b.as_mut()).is_ready(), "round {round}: b missed its notification");
    }
    // Many waiters, many waits: every notification reaches exactly its waiter.
    for _ in 0..100 {
        let mut ws: Vec<_> = (0..6).map(|_| Box::pin(n.notified())).collect();
        for w in &mut ws {
            assert!(noop_poll(w.as_mut()).is_pending());
        }
        for i in 0..ws.len() {
            n.notify_one();
            assert!(noop_poll(ws[i].as_mut()).is_ready());
            if let Some(next) = ws.get_mut(i + 1) {
                assert!(noop_poll(next.as_mut()).is_pending());
            }
        }
    }
}

#[test]
fn notify_waiters_wakes_all_without_permit() {
    let n = Notify::new();
    let (fa, wa) = Flag::new();
    let mut a = pin!(n.notified());
    let mut b = pin!(n.notified());
    let mut unpolled = pin!(n.notified()); // created before the call: also released
    assert!(poll_with(a.as_mut(), &wa).is_pending());
    assert!(noop_poll(b.as_mut()).is_pending());
    n.notify_waiters();
    assert!(fa.take());
    assert!(poll_with(a.as_mut(), &wa).is_ready());
    assert!(noop_poll(b.as_mut()).is_ready());
    assert!(noop_poll(unpolled.as_mut()).is_ready());
    let mut later = pin!(n.notified());
    assert!(noop_poll(later.as_mut()).is_pending(), "notify_waiters stored a permit");
}

#[test]
fn dropped_notified_passes_notification_on() {
    let n = Notify::new();
    let (fb, wb) = Flag::new();
    let mut a = Box::pin(n.notified());
    let mut b = pin!(n.notified());
    assert!(noop_poll(a.as_mut()).is_pending());
    assert!(poll_with(b.as_mut(), &wb).is_pending());
    n.notify_one(); // picks `a`
    assert!(!fb.take());
    drop(a); // cancelled before it saw the notification
    assert!(fb.take(), "notification lost with the dropped Notified");
    assert!(poll_with(b.as_mut(), &wb).is_ready());

    // With nobody else waiting it becomes a stored permit.
    let mut c = Box::pin(n.notified());
    assert!(noop_poll(c.as_mut()).is_pending());
    n.notify_one();
    drop(c);
    let mut d = pin!(n.notified());
    assert!(noop_poll(d.as_mut()).is_ready(), "notification lost with the dropped Notified");

    // A waiter dropped before it was notified takes nothing with it.
    let mut e = Box::pin(n.notified());
    assert!(noop_poll(e.as_mut()).is_pending());
    drop(e);
    let mut f = pin!(n.notified());
    assert!(noop_poll(f.as_mut()).is_pending());
}

#[test]
fn notified_cancelled_by_timeout_then_notify_reaches_next() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let n = Arc::new(Notify::new());
            assert!(timeout(Duration::from_millis(3), n.notified()).await.is_err());
            let n2 = n.clone();
            let h = tern_runtime::spawn(async move { n2.notified().await });
            sleep(Duration::from_millis(3)).await;
            assert!(timeout(Duration::from_millis(3), n.notified()).await.is_err());
            n.notify_one();
            timeout(LIMIT, h).await.expect("waiter woken").unwrap();
        });
    });
}

#[test]
fn notify_ping_pong_across_threads() {
    each(ALL, |rt, _| {
        let ping = Arc::new(Notify::new());
        let pong = Arc::new(Notify::new());
        let (p2, q2) = (ping.clone(), pong.clone());
        let h = rt.spawn(async move {
            for _ in 0..500 {
                p2.notified().await;
                q2.notify_one();
            }
        });
        rt.block_on(async {
            for _ in 0..500 {
                ping.notify_one();
                timeout(LIMIT, pong.notified()).await.expect("pong lost");
            }
            h.await.unwrap();
        });
    });
}

#[test]
fn notify_waiters_wakes_every_task() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let n = Arc::new(Notify::new());
            let started = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..20)
                .map(|_| {
                    let (n, started) = (n.clone(), started.clone());
                    tern_runtime::spawn(async move {
                        let notified = n.notified();
                        started.fetch_add(1, SeqCst);
                        notified.await;
                    })
                })
                .collect();
            while started.load(SeqCst) < 20 {
                sleep(Duration::from_millis(1)).await;
            }
            n.notify_waiters();
            for h in hs {
                timeout(LIMIT, h).await.expect("waiter not woken by notify_waiters").unwrap();
            }
        });
    });
}

// ---------------------------------------------------------------------------
// Event

#[test]
fn event_set_clear_wait() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let ev = Arc::new(Event::new());
            assert!(!ev.is_set());
            assert!(timeout(Duration::from_millis(3), ev.wait()).await.is_err());
            let hs: Vec<_> = (0..5)
                .map(|_| {
                    let ev = ev.clone();
                    tern_runtime::spawn(async move { ev.wait().await })
                })
                .collect();
            sleep(Duration::from_millis(3)).await;
            ev.set();
            ev.clear(); // waiters of that set are released anyway
            for h in hs {
                timeout(LIMIT, h).await.expect("waiter not released by set").unwrap();
            }
            assert!(!ev.is_set());
            assert!(timeout(Duration::from_millis(3), ev.wait()).await.is_err());
            ev.set();
            assert!(ev.is_set());
            timeout(LIMIT, ev.wait()).await.expect("wait on a set event returns at once");
            ev.set();
            timeout(LIMIT, ev.wait()).await.unwrap();
        });
    });
}

// ---------------------------------------------------------------------------
// Barrier

#[test]
fn barrier_one_leader_per_round_and_reuse() {
    each(ALL, |rt, _| {
        let barrier = Arc::new(Barrier::new(4));
        let leaders = Arc::new(AtomicUsize::new(0));
        let passed = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (b, leaders, passed) = (barrier.clone(), leaders.clone(), passed.clone());
                rt.spawn(async move {
                    for round in 0..5 {
                        // Nobody may pass round `round` before all 4 arrived.
                        assert!(passed.load(SeqCst) >= round * 4);
                        passed.fetch_add(1, SeqCst);
                        if b.wait().await.is_leader() {
                            leaders.fetch_add(1, SeqCst);
                        }
                        assert!(passed.load(SeqCst) >= (round + 1) * 4, "passed the barrier early");
                    }
                })
            })
            .collect();
        rt.block_on(async {
            for h in hs {
                timeout(LIMIT, h).await.expect("barrier hangs").unwrap();
            }
        });
        assert_eq!(leaders.load(SeqCst), 5);
    });
    tern_runtime::block_on(async {
        assert!(Barrier::new(0).wait().await.is_leader());
        assert!(Barrier::new(1).wait().await.is_leader());
    });
}

#[test]
fn barrier_waits_for_the_last() {
    let b = Barrier::new(2);
    let (f, w) = Flag::new();
    let mut first = Box::pin(b.wait());
    assert!(poll_with(first.as_mut(), &w).is_pending());
    assert!(poll_with(first.as_mut(), &w).is_pending());
    let mut second = Box::pin(b.wait());
    let Poll::Ready(r2) = noop_poll(second.as_mut()) else { panic!("last arrival must not wait") };
    assert!(r2.is_leader());
    assert!(f.take());
    let Poll::Ready(r1) = poll_with(first.as_mut(), &w) else { panic!("first not released") };
    assert!(!r1.is_leader());
}

// ---------------------------------------------------------------------------
// Condvar

#[test]
fn condvar_producer_consumer() {
    each(ALL, |rt, _| {
        let state = Arc::new((Mutex::new(Vec::<u32>::new()), Condvar::new()));
        let s2 = state.clone();
        let consumer = rt.spawn(async move {
            let (m, cv) = &*s2;
            let mut got = Vec::new();
            while got.len() < 200 {
                let mut g = cv.wait_while(m.lock().await, |q| q.is_empty()).await;
                got.append(&mut g);
            }
            got
        });
        rt.block_on(async {
            let (m, cv) = &*state;
            for i in 0..200 {
                m.lock().await.push(i);
                cv.notify_one();
                if i % 7 == 0 {
                    yield_now().await;
                }
            }
            let got = timeout(LIMIT, consumer).await.expect("consumer missed a notification").unwrap();
            assert_eq!(got, (0..200).collect::<Vec<_>>());
        });
    });
}

#[test]
fn condvar_notify_all_and_lost_notify_one() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let state = Arc::new((Mutex::new(0u32), Condvar::new()));
            let hs: Vec<_> = (0..6)
                .map(|_| {
                    let s = state.clone();
                    tern_runtime::spawn(async move {
                        let (m, cv) = &*s;
                        let g = cv.wait_while(m.lock().await, |go| *go == 0).await;
                        assert_eq!(*g, 1);
                    })
                })
                .collect();
            sleep(Duration::from_millis(5)).await;
            let (m, cv) = &*state;
            *m.lock().await = 1;
            cv.notify_all();
            for h in hs {
                timeout(LIMIT, h).await.expect("notify_all missed a waiter").unwrap();
            }
            // A notify_one with nobody waiting is lost (unlike Notify's permit).
            cv.notify_one();
            let g = m.lock().await;
            assert!(timeout(Duration::from_millis(5), cv.wait(g)).await.is_err());
        });
    });
}

#[test]
fn condvar_wait_cancelled_passes_notification_on() {
    let m = Mutex::new(());
    let cv = Condvar::new();
    let (_fa, wa) = Flag::new();
    let (fb, wb) = Flag::new();
    let mut a = Box::pin(cv.wait(m.try_lock().unwrap()));
    assert!(poll_with(a.as_mut(), &wa).is_pending());
    let mut b = Box::pin(cv.wait(m.try_lock().expect("wait released the lock")));
    assert!(poll_with(b.as_mut(), &wb).is_pending());
    cv.notify_one(); // picks `a`
    drop(a);
    assert!(fb.take(), "notify_one lost with a cancelled wait");
    let Poll::Ready(g) = poll_with(b.as_mut(), &wb) else { panic!("b not woken") };
    drop(g);
    assert!(m.try_lock().is_ok());
}

// ---------------------------------------------------------------------------
// co-operative budget

#[test]
fn always_ready_waits_spend_budget() {
    // On one thread, a task whose awaits on one primitive are always ready must
    // still yield (checked for each primitive on its own).
    let flavors = [Flavor::CurrentThread, Flavor::MultiThread(1)];
    each(&flavors, |rt, _| {
        for kind in 0..5u32 {
            let ok = rt.block_on(rt.spawn(async move {
                let flag = Arc::new(AtomicBool::new(false));
                let f2 = flag.clone();
                let _other = tern_runtime::spawn(async move { f2.store(true, SeqCst) });
                let sem = Semaphore::new(1);
                let m = Mutex::new(0);
                let rw = RwLock::new(0);
                let n = Notify::new();
                let ev = Event::new();
                ev.set();
                for _ in 0..100_000u32 {
                    if flag.load(SeqCst) {
                        return true;
                    }
                    match kind {
                        0 => drop(sem.acquire().await.unwrap()),
                        1 => *m.lock().await += 1,
                        2 => *rw.write().await += 1,
                        3 => {
                            n.notify_one();
                            n.notified().await
                        }
                        _ => ev.wait().await,
                    }
                }
                false
            }));
            assert!(ok.unwrap(), "primitive {kind} never spent the co-operative budget");
        }
    });
}
