//! broadcast, watch and the priority queue (`tern_runtime::sync`): real
//! concurrency on both schedulers, lag counts, version coalescing, priority
//! order, closing, cancellation of every wait.

mod common;

use std::cmp::Ordering;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use common::{each, DropCounter, ALL};
use futures::future::{select, Either};
use tern_runtime::sync::priority_queue::{PriorityQueue, TryGetError, TryPutError};
use tern_runtime::sync::{broadcast, watch};

struct CountWaker(AtomicUsize);

impl Wake for CountWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (Waker, Arc<CountWaker>) {
    let c = Arc::new(CountWaker(AtomicUsize::new(0)));
    (Waker::from(c.clone()), c)
}

fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

async fn within<F: Future>(ms: u64, fut: F) -> Option<F::Output> {
    let sleep = tern_reactor::time::sleep(Duration::from_millis(ms));
    match select(pin!(fut), pin!(sleep)).await {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

// ---------------------------------------------------------------- broadcast

#[test]
fn broadcast_every_receiver_sees_every_value_in_order() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, rx) = broadcast::channel::<u32>(2048);
            let mut handles = Vec::new();
            for _ in 0..4 {
                let mut rx = tx.subscribe();
                handles.push(tern_runtime::spawn(async move {
                    let mut n = 0;
                    while let Ok(v) = rx.recv().await {
                        assert_eq!(v, n);
                        n += 1;
                    }
                    n
                }));
            }
            drop(rx);
            assert_eq!(tx.receiver_count(), 4);
            for i in 0..1000 {
                assert_eq!(tx.send(i).unwrap(), 4);
                if i % 100 == 0 {
                    tern_runtime::yield_now().await;
                }
            }
            drop(tx);
            for h in handles {
                assert_eq!(h.await.unwrap(), 1000);
            }
        });
    });
}

#[test]
fn broadcast_lag_reports_exact_counts() {
    let (tx, mut rx) = broadcast::channel::<u32>(4);
    for i in 0..10 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.len(), 10);
    assert_eq!(rx.try_recv(), Err(broadcast::error::TryRecvError::Lagged(6)));
    for i in 6..10 {
        assert_eq!(rx.try_recv(), Ok(i));
    }
    assert_eq!(rx.try_recv(), Err(broadcast::error::TryRecvError::Empty));
    // Lag again after reading part of the buffer.
    tx.send(10).unwrap();
    assert_eq!(rx.try_recv(), Ok(10));
    for i in 11..20 {
        tx.send(i).unwrap();
    }
    futures::executor::block_on(async {
        assert_eq!(rx.recv().await, Err(broadcast::error::RecvError::Lagged(5)));
        for i in 16..20 {
            assert_eq!(rx.recv().await, Ok(i));
        }
    });
}

#[test]
fn broadcast_slow_receiver_lags_on_the_runtime() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, mut slow) = broadcast::channel::<u32>(8);
            let mut fast = tx.subscribe();
            let fast_h = tern_runtime::spawn(async move {
                // On several workers the fast receiver may lag too: values still
                // arrive in order, and seen + skipped adds up to every value.
                let (mut seen, mut skipped, mut last) = (0u64, 0u64, None);
                loop {
                    match fast.recv().await {
                        Ok(v) => {
                            assert!(!matches!(last, Some(l) if v <= l));
                            last = Some(v);
                            seen += 1;
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => skipped += n,
                        Err(broadcast::error::RecvError::Closed) => return seen + skipped,
                    }
                }
            });
            for i in 0..100 {
                tx.send(i).unwrap();
                tern_runtime::yield_now().await; // let the fast one keep up
            }
            drop(tx);
            let mut seen = 0u64;
            let mut lagged = 0u64;
            loop {
                match slow.recv().await {
                    Ok(_) => seen += 1,
                    Err(broadcast::error::RecvError::Lagged(n)) => lagged += n,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
            assert_eq!((seen, lagged), (8, 92));
            assert_eq!(fast_h.await.unwrap(), 100);
        });
    });
}

#[test]
fn broadcast_subscribe_sees_only_later_values_and_closing() {
    let (tx, mut rx) = broadcast::channel::<u32>(4);
    tx.send(1).unwrap();
    let mut late = tx.subscribe();
    let mut re = rx.resubscribe();
    tx.send(2).unwrap();
    assert_eq!(late.try_recv(), Ok(2));
    assert_eq!(re.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(1));
    drop((late, re));
    let tx2 = tx.clone();
    drop(tx);
    assert!(!rx.is_closed());
    drop(tx2);
    assert!(rx.is_closed());
    assert_eq!(rx.try_recv(), Ok(2), "retained values are received after close");
    assert_eq!(rx.try_recv(), Err(broadcast::error::TryRecvError::Closed));

    let (tx, rx) = broadcast::channel::<u32>(4);
    drop(rx);
    assert_eq!(tx.send(3), Err(broadcast::error::SendError(3)));
    assert_eq!(tx.receiver_count(), 0);
}

#[test]
fn broadcast_cancelled_recv_loses_nothing() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, mut rx) = broadcast::channel::<u32>(4);
            assert!(within(10, rx.recv()).await.is_none());
            let (w, c) = counting_waker();
            {
                let mut r = Box::pin(rx.recv());
                assert!(poll_once(r.as_mut(), &w).is_pending());
            } // dropped while waiting: its waiter is removed
            tx.send(7).unwrap();
            assert_eq!(c.0.load(SeqCst), 0, "a dropped recv is not woken");
            assert_eq!(rx.recv().await, Ok(7));
            // A pending recv woken from another thread.
            let h = tern_runtime::spawn(async move { rx.recv().await });
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(10));
                tx.send(8).unwrap();
                tx
            });
            assert_eq!(h.await.unwrap(), Ok(8));
            drop(t.join().unwrap());
        });
    });
}

#[test]
fn broadcast_values_dropped_when_overwritten_or_with_channel() {
    let drops = Arc::new(AtomicUsize::new(0));
    #[derive(Clone)]
    struct D(#[allow(dead_code)] Arc<DropCounter>);
    let (tx, rx) = broadcast::channel::<D>(2);
    for _ in 0..3 {
        tx.send(D(Arc::new(DropCounter(drops.clone())))).unwrap();
    }
    assert_eq!(drops.load(SeqCst), 1, "overwritten value dropped");
    drop(tx);
    drop(rx);
    assert_eq!(drops.load(SeqCst), 3);
}

// ---------------------------------------------------------------- watch

#[test]
fn watch_changed_coalesces_versions() {
    let (tx, mut rx) = watch::channel(0u32);
    let (w, _) = counting_waker();
    assert!(!rx.has_changed().unwrap());
    {
        let mut c = Box::pin(rx.changed());
        assert!(poll_once(c.as_mut(), &w).is_pending(), "the initial value counts as seen");
    }
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    tx.send_modify(|v| *v += 1);
    assert!(rx.has_changed().unwrap());
    assert!(rx.borrow().has_changed());
    assert_eq!(*rx.borrow(), 3);
    {
        let mut c = Box::pin(rx.changed());
        assert!(poll_once(c.as_mut(), &w).is_ready(), "one notification for three sends");
    }
    {
        let mut c = Box::pin(rx.changed());
        assert!(poll_once(c.as_mut(), &w).is_pending(), "no second notification");
    }
    assert_eq!(*rx.borrow_and_update(), 3);
    assert_eq!(tx.send_replace(4), 3);
    let r = rx.borrow_and_update();
    assert!(r.has_changed());
    assert_eq!(*r, 4);
    drop(r);
    tx.send(5).unwrap();
    rx.mark_unchanged();
    assert!(!rx.has_changed().unwrap());
    rx.mark_changed();
    assert!(rx.has_changed().unwrap());
    assert!(!tx.send_if_modified(|_| false));
    assert_eq!(*tx.borrow(), 5);
}

#[test]
fn watch_new_subscriber_and_clone() {
    let (tx, rx) = watch::channel("a");
    tx.send("b").unwrap();
    let sub = tx.subscribe();
    assert!(!sub.has_changed().unwrap(), "subscribe counts the current value as seen");
    let cl = rx.clone();
    assert!(cl.has_changed().unwrap(), "a clone keeps the receiver's version");
    assert_eq!(tx.receiver_count(), 3);
    drop((rx, sub, cl));
    assert!(tx.is_closed());
    assert_eq!(tx.send("c"), Err(watch::error::SendError("c")));
    assert_eq!(tx.send_replace("d"), "b", "send_replace works without receivers");
}

#[test]
fn watch_sender_drop_closes_after_unseen_value() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, mut rx) = watch::channel(0u32);
            let h = tern_runtime::spawn(async move {
                let mut n = 0;
                while rx.changed().await.is_ok() {
                    n += 1;
                }
                (n, *rx.borrow())
            });
            tern_reactor::time::sleep(Duration::from_millis(10)).await;
            tx.send(1).unwrap();
            drop(tx);
            let (n, last) = h.await.unwrap();
            assert!(n >= 1);
            assert_eq!(last, 1, "the last value is seen before the close is reported");
        });
    });
}

#[test]
fn watch_receiver_sees_the_latest_value_from_a_fast_sender() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, mut rx) = watch::channel(0u32);
            let h = tern_runtime::spawn(async move {
                let mut last = 0;
                let mut wakeups = 0;
                while rx.changed().await.is_ok() {
                    let v = *rx.borrow_and_update();
                    assert!(v > last, "versions only go forward: {v} after {last}");
                    last = v;
                    wakeups += 1;
                }
                (last, wakeups)
            });
            let t = std::thread::spawn(move || {
                for i in 1..=2000 {
                    tx.send(i).unwrap();
                }
            });
            t.join().unwrap();
            let (last, wakeups) = h.await.unwrap();
            assert_eq!(last, 2000);
            assert!(wakeups <= 2000);
        });
    });
}

#[test]
fn watch_cancelled_changed_loses_nothing_and_closed() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, mut rx) = watch::channel(0u32);
            assert!(within(10, rx.changed()).await.is_none());
            tx.send(1).unwrap();
            assert!(within(1000, rx.changed()).await.unwrap().is_ok());
            assert!(within(10, rx.changed()).await.is_none());
            let closed = {
                let tx = tx.clone();
                tern_runtime::spawn(async move {
                    tx.closed().await;
                    tx.is_closed()
                })
            };
            assert!(within(10, tx.closed()).await.is_none());
            drop(rx);
            assert!(closed.await.unwrap());
            tx.closed().await;
        });
    });
}

// ---------------------------------------------------------------- priority queue

/// Ordered by `prio` only, so items of equal priority are distinguishable.
#[derive(Debug)]
struct Job {
    prio: u8,
    id: usize,
}

impl PartialEq for Job {
    fn eq(&self, o: &Self) -> bool {
        self.prio == o.prio
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Job {
    fn cmp(&self, o: &Self) -> Ordering {
        self.prio.cmp(&o.prio)
    }
}

#[test]
fn pq_priority_order_and_fifo_among_equals() {
    let q = PriorityQueue::new(64);
    let prios = [3u8, 1, 3, 2, 1, 3, 2, 2, 1, 3];
    for (id, &prio) in prios.iter().enumerate() {
        q.try_put(Job { prio, id }).unwrap();
    }
    assert_eq!(q.len(), 10);
    let mut out = Vec::new();
    while let Ok(j) = q.try_get() {
        out.push((j.prio, j.id));
    }
    assert_eq!(
        out,
        [(3, 0), (3, 2), (3, 5), (3, 9), (2, 3), (2, 6), (2, 7), (1, 1), (1, 4), (1, 8)],
        "max first, FIFO among equals"
    );
    assert_eq!(q.try_get().unwrap_err(), TryGetError::Empty);
}

#[test]
fn pq_put_waits_while_full_and_close() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let q = Arc::new(PriorityQueue::new(2));
            q.put(1).await.unwrap();
            q.put(2).await.unwrap();
            assert!(matches!(q.try_put(3), Err(TryPutError::Full(3))));
            let put = {
                let q = q.clone();
                tern_runtime::spawn(async move { q.put(5).await })
            };
            tern_reactor::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(q.len(), 2, "put waits while full");
            assert_eq!(q.get().await, Some(2));
            put.await.unwrap().unwrap();
            assert_eq!(q.len(), 2);
            // A put waiting when the queue closes fails with its item.
            let put = {
                let q = q.clone();
                tern_runtime::spawn(async move { q.put(6).await })
            };
            tern_reactor::time::sleep(Duration::from_millis(20)).await;
            q.close();
            assert_eq!(put.await.unwrap().unwrap_err().0, 6);
            assert!(matches!(q.try_put(7), Err(TryPutError::Closed(7))));
            assert_eq!(q.get().await, Some(5));
            assert_eq!(q.get().await, Some(1));
            assert_eq!(q.get().await, None);
            assert_eq!(q.try_get().unwrap_err(), TryGetError::Closed);
        });
    });
}

#[test]
fn pq_get_waits_and_close_wakes_getters() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let q = Arc::new(PriorityQueue::<u32>::new(4));
            let getters: Vec<_> = (0..3)
                .map(|_| {
                    let q = q.clone();
                    tern_runtime::spawn(async move { q.get().await })
                })
                .collect();
            tern_reactor::time::sleep(Duration::from_millis(20)).await;
            q.put(9).await.unwrap();
            q.close();
            let mut got: Vec<_> = Vec::new();
            for g in getters {
                got.push(g.await.unwrap());
            }
            got.sort();
            assert_eq!(got, [None, None, Some(9)]);
        });
    });
}

#[test]
fn pq_cancelled_put_and_get_lose_nothing() {
    let q = PriorityQueue::new(1);
    let (wa, _) = counting_waker();
    let (wb, cb) = counting_waker();
    q.try_put(1).unwrap();
    // A put handed the freed slot gives up: the next put gets the slot.
    let mut a = Box::pin(q.put(2));
    let mut b = Box::pin(q.put(3));
    assert!(poll_once(a.as_mut(), &wa).is_pending());
    assert!(poll_once(b.as_mut(), &wb).is_pending());
    assert_eq!(q.try_get(), Ok(1));
    drop(a);
    assert_eq!(cb.0.load(SeqCst), 1);
    assert!(poll_once(b.as_mut(), &wb).is_ready());
    assert_eq!(q.try_get(), Ok(3));
    // A get promised an item gives up: the next get gets the item.
    let mut g1 = Box::pin(q.get());
    let mut g2 = Box::pin(q.get());
    let (w1, _) = counting_waker();
    let (w2, c2) = counting_waker();
    assert!(poll_once(g1.as_mut(), &w1).is_pending());
    assert!(poll_once(g2.as_mut(), &w2).is_pending());
    q.try_put(4).unwrap();
    assert_eq!(q.try_get().unwrap_err(), TryGetError::Empty, "the item is promised to g1");
    drop(g1);
    assert_eq!(c2.0.load(SeqCst), 1);
    assert_eq!(poll_once(g2.as_mut(), &w2), Poll::Ready(Some(4)));
    // Waiting (not yet promised) puts and gets dropped: nothing changes.
    for _ in 0..5 {
        let mut g = Box::pin(q.get());
        assert!(poll_once(g.as_mut(), &w1).is_pending());
    }
    q.try_put(5).unwrap();
    assert_eq!(q.try_get(), Ok(5));
    assert_eq!(q.len(), 0);
}

#[test]
fn pq_producers_and_consumers_on_the_runtime() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let q = Arc::new(PriorityQueue::<u64>::new(8));
            let producers: Vec<_> = (0..4u64)
                .map(|p| {
                    let q = q.clone();
                    tern_runtime::spawn(async move {
                        for i in 0..500u64 {
                            // Half of the producers also cancel puts mid-wait.
                            if p % 2 == 0 && i % 50 == 0 {
                                let _ = within(1, q.put(u64::MAX)).await;
                                continue;
                            }
                            q.put(p * 1000 + i).await.unwrap();
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..3)
                .map(|_| {
                    let q = q.clone();
                    tern_runtime::spawn(async move {
                        let mut got = Vec::new();
                        while let Some(v) = q.get().await {
                            got.push(v);
                        }
                        got
                    })
                })
                .collect();
            for p in producers {
                p.await.unwrap();
            }
            q.close();
            let mut all: Vec<u64> = Vec::new();
            for c in consumers {
                all.extend(c.await.unwrap());
            }
            all.retain(|&v| v != u64::MAX);
            all.sort();
            let mut expected: Vec<u64> = (0..4u64)
                .flat_map(|p| {
                    (0..500u64).filter(move |i| !(p % 2 == 0 && i % 50 == 0)).map(move |i| p * 1000 + i)
                })
                .collect();
            expected.sort();
            assert_eq!(all, expected);
        });
    });
}

#[test]
fn pq_items_left_are_dropped_with_the_queue() {
    #[derive(Debug)]
    struct D(u32, #[allow(dead_code)] DropCounter);
    impl PartialEq for D {
        fn eq(&self, o: &Self) -> bool {
            self.0 == o.0
        }
    }
    impl Eq for D {}
    impl PartialOrd for D {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for D {
        fn cmp(&self, o: &Self) -> Ordering {
            self.0.cmp(&o.0)
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let q = PriorityQueue::new(4);
    for i in 0..3 {
        q.try_put(D(i, DropCounter(drops.clone()))).unwrap();
    }
    drop(q);
    assert_eq!(drops.load(SeqCst), 3);
}
