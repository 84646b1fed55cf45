//! mpsc and oneshot channels (`tern_runtime::sync::{mpsc, oneshot}`): real
//! concurrency on both schedulers, backpressure, closing, cancellation of every
//! wait, co-operative budget.

mod common;

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use common::{each, DropCounter, ALL, MULTI};
use futures::future::{select, Either};
use tern_runtime::sync::{mpsc, oneshot};

/// A waker that counts its wakes.
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

/// Runs `fut` until it resolves or `ms` of the reactor's timer pass (on the runtime).
async fn within<F: Future>(ms: u64, fut: F) -> Option<F::Output> {
    let sleep = tern_reactor::time::sleep(Duration::from_millis(ms));
    match select(pin!(fut), pin!(sleep)).await {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

// ---------------------------------------------------------------- mpsc

#[test]
fn mpsc_five_senders_thousand_each_keep_per_sender_order() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<(usize, usize)>(16);
            for s in 0..5 {
                let tx = tx.clone();
                tern_runtime::spawn(async move {
                    for i in 0..1000 {
                        tx.send((s, i)).await.unwrap();
                    }
                });
            }
            drop(tx);
            let mut next = [0usize; 5];
            let mut total = 0;
            while let Some((s, i)) = rx.recv().await {
                assert_eq!(i, next[s], "sender {s} out of order");
                next[s] += 1;
                total += 1;
            }
            assert_eq!(total, 5000);
            assert_eq!(next, [1000; 5]);
        });
    });
}

#[test]
fn mpsc_unbounded_many_senders_from_threads() {
    each(MULTI, |rt, _| {
        let (tx, mut rx) = mpsc::unbounded_channel::<(usize, usize)>();
        let threads: Vec<_> = (0..4)
            .map(|s| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        tx.send((s, i)).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let got = rt.block_on(async move {
            let mut next = [0usize; 4];
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = rx.recv_many(&mut buf, 64).await;
                if n == 0 {
                    break;
                }
                assert!(n <= 64);
                for &(s, i) in &buf {
                    assert_eq!(i, next[s]);
                    next[s] += 1;
                }
            }
            next
        });
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(got, [1000; 4]);
    });
}

#[test]
fn mpsc_backpressure_never_more_than_capacity_buffered() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            const CAP: usize = 4;
            let (tx, mut rx) = mpsc::channel::<usize>(CAP);
            let sent = Arc::new(AtomicUsize::new(0));
            let s2 = sent.clone();
            let producer = tern_runtime::spawn(async move {
                for i in 0..200 {
                    tx.send(i).await.unwrap();
                    s2.fetch_add(1, SeqCst);
                }
            });
            // The producer fills the channel and then waits.
            assert!(
                common::signal_when(Duration::from_secs(5), {
                    let sent = sent.clone();
                    move || sent.load(SeqCst) == CAP
                })
                .await
            );
            tern_reactor::time::sleep(Duration::from_millis(30)).await;
            assert_eq!(sent.load(SeqCst), CAP, "sender did not wait at capacity");
            assert_eq!(rx.len(), CAP);
            let mut expected = 0;
            while let Some(v) = rx.recv().await {
                assert_eq!(v, expected);
                expected += 1;
                assert!(rx.len() <= CAP);
                // received + capacity bounds what can have been sent
                assert!(sent.load(SeqCst) <= expected + CAP);
            }
            assert_eq!(expected, 200);
            producer.await.unwrap();
        });
    });
}

#[test]
fn mpsc_try_send_full_and_closed() {
    let (tx, mut rx) = mpsc::channel::<u32>(2);
    assert_eq!(tx.max_capacity(), 2);
    tx.try_send(1).unwrap();
    assert_eq!(tx.capacity(), 1);
    tx.try_send(2).unwrap();
    assert_eq!(tx.try_send(3), Err(mpsc::error::TrySendError::Full(3)));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(tx.capacity(), 1);
    rx.close();
    assert!(tx.is_closed());
    assert_eq!(tx.try_send(4), Err(mpsc::error::TrySendError::Closed(4)));
    assert_eq!(rx.try_recv(), Ok(2), "close keeps buffered messages");
    assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected));
}

#[test]
fn mpsc_waiting_senders_are_served_fifo() {
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    tx.try_send(0).unwrap();
    let (w, _) = counting_waker();
    let mut a = Box::pin(tx.send(1));
    let mut b = Box::pin(tx.send(2));
    let mut c = Box::pin(tx.send(3));
    assert!(poll_once(a.as_mut(), &w).is_pending());
    assert!(poll_once(b.as_mut(), &w).is_pending());
    assert!(poll_once(c.as_mut(), &w).is_pending());
    // A newcomer may not overtake the waiters, even when a slot frees up.
    assert_eq!(rx.try_recv(), Ok(0));
    assert!(matches!(tx.try_send(9), Err(mpsc::error::TrySendError::Full(9))));
    // Poll in reverse order: only the oldest waiter got the slot.
    assert!(poll_once(c.as_mut(), &w).is_pending());
    assert!(poll_once(b.as_mut(), &w).is_pending());
    assert!(poll_once(a.as_mut(), &w).is_ready());
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(poll_once(c.as_mut(), &w).is_pending());
    assert!(poll_once(b.as_mut(), &w).is_ready());
    assert_eq!(rx.try_recv(), Ok(2));
    assert!(poll_once(c.as_mut(), &w).is_ready());
    assert_eq!(rx.try_recv(), Ok(3));
}

#[test]
fn mpsc_cancelled_send_that_was_handed_a_slot_passes_it_on() {
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    tx.try_send(0).unwrap();
    let (wa, _) = counting_waker();
    let (wb, cb) = counting_waker();
    let mut a = Box::pin(tx.send(1));
    let mut b = Box::pin(tx.send(2));
    assert!(poll_once(a.as_mut(), &wa).is_pending());
    assert!(poll_once(b.as_mut(), &wb).is_pending());
    assert_eq!(rx.try_recv(), Ok(0)); // the slot goes to `a`
    assert_eq!(cb.0.load(SeqCst), 0);
    drop(a); // ... which gives up
    assert_eq!(cb.0.load(SeqCst), 1, "the next waiting sender must be woken");
    assert!(poll_once(b.as_mut(), &wb).is_ready());
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(tx.capacity(), 1, "no slot leaked");
}

#[test]
fn mpsc_cancelled_waiting_send_loses_no_slot() {
    let (tx, mut rx) = mpsc::channel::<u32>(2);
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    let (w, _) = counting_waker();
    for _ in 0..10 {
        let mut f = Box::pin(tx.send(7));
        assert!(poll_once(f.as_mut(), &w).is_pending());
        drop(f);
    }
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(tx.capacity(), 2);
    tx.try_send(2).unwrap();
    tx.try_send(3).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Empty));
}

#[test]
fn mpsc_cancel_in_the_middle_of_waits_on_the_runtime() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<u32>(1);
            // recv cancelled while waiting: the message sent later is not lost.
            assert!(within(20, rx.recv()).await.is_none());
            tx.send(1).await.unwrap();
            // send cancelled while waiting for capacity: no slot lost.
            assert!(within(20, tx.send(2)).await.is_none());
            assert_eq!(rx.recv().await, Some(1));
            assert_eq!(tx.capacity(), 1);
            // Many senders waiting, half of them cancelled at random points.
            let done = Arc::new(AtomicUsize::new(0));
            for i in 0..20u32 {
                let tx = tx.clone();
                let done = done.clone();
                tern_runtime::spawn(async move {
                    if i % 2 == 0 {
                        let _ = within(1 + u64::from(i % 7), tx.send(1000 + i)).await;
                    } else {
                        tx.send(i).await.unwrap();
                        done.fetch_add(1, SeqCst);
                    }
                });
            }
            drop(tx);
            let mut odd = 0;
            while let Some(v) = rx.recv().await {
                if v < 1000 {
                    assert_eq!(v % 2, 1);
                    odd += 1;
                }
            }
            assert_eq!(odd, 10, "every uncancelled sender delivered");
        });
    });
}

#[test]
fn mpsc_all_senders_dropped_drains_then_none() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<u32>(8);
            let tx2 = tx.clone();
            tx.send(1).await.unwrap();
            tx2.send(2).await.unwrap();
            drop(tx);
            assert!(!rx.is_closed());
            drop(tx2);
            assert_eq!(rx.recv().await, Some(1));
            assert_eq!(rx.recv().await, Some(2));
            assert_eq!(rx.recv().await, None);
            assert_eq!(rx.recv().await, None);
        });
    });
}

#[test]
fn mpsc_pending_recv_sees_last_sender_drop_from_another_thread() {
    each(ALL, |rt, _| {
        let (tx, mut rx) = mpsc::channel::<u32>(8);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(tx);
        });
        assert_eq!(rt.block_on(rx.recv()), None);
        t.join().unwrap();
    });
}

#[test]
fn mpsc_receiver_drop_fails_sends_and_drops_buffered_messages() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let drops = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = mpsc::channel::<DropCounter>(4);
            tx.send(DropCounter(drops.clone())).await.unwrap();
            tx.send(DropCounter(drops.clone())).await.unwrap();
            assert_eq!(drops.load(SeqCst), 0);
            drop(rx);
            assert_eq!(drops.load(SeqCst), 2, "buffered messages dropped with the receiver");
            let err = tx.send(DropCounter(drops.clone())).await.unwrap_err();
            assert_eq!(drops.load(SeqCst), 2, "the failed value comes back");
            drop(err);
            assert_eq!(drops.load(SeqCst), 3);
            assert!(tx.is_closed());
            tx.closed().await;
        });
    });
}

#[test]
fn mpsc_close_wakes_waiting_senders_with_their_values() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<u32>(1);
            tx.send(0).await.unwrap();
            let waiting: Vec<_> = (1..4)
                .map(|i| {
                    let tx = tx.clone();
                    tern_runtime::spawn(async move { tx.send(i).await })
                })
                .collect();
            let closer = {
                let tx = tx.clone();
                tern_runtime::spawn(async move { tx.closed().await })
            };
            tern_reactor::time::sleep(Duration::from_millis(20)).await;
            rx.close();
            let mut back: Vec<u32> = Vec::new();
            for h in waiting {
                back.push(h.await.unwrap().unwrap_err().0);
            }
            back.sort();
            assert_eq!(back, [1, 2, 3]);
            closer.await.unwrap();
            assert_eq!(rx.recv().await, Some(0));
            assert_eq!(rx.recv().await, None);
        });
    });
}

#[test]
fn mpsc_permits() {
    let (tx, mut rx) = mpsc::channel::<u32>(2);
    let p1 = tx.try_reserve().unwrap();
    let p2 = tx.try_reserve().unwrap();
    assert_eq!(tx.capacity(), 0);
    assert!(matches!(tx.try_reserve(), Err(mpsc::error::TrySendError::Full(()))));
    drop(p1);
    assert_eq!(tx.capacity(), 1, "a dropped permit frees its slot");
    rx.close();
    assert!(tx.try_reserve().is_err());
    // An outstanding permit still delivers after close, and recv waits for it.
    let (w, c) = counting_waker();
    {
        let mut r = Box::pin(rx.recv());
        assert!(poll_once(r.as_mut(), &w).is_pending());
    }
    p2.send(5);
    assert!(c.0.load(SeqCst) >= 1);
    assert_eq!(rx.try_recv(), Ok(5));
    assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected));

    let (tx, mut rx) = mpsc::channel::<u32>(1);
    futures::executor::block_on(async {
        let p = tx.reserve().await.unwrap();
        p.send(1);
        let owned = tx.clone().reserve_owned();
        let mut owned = pin!(owned);
        assert!(poll_once(owned.as_mut(), &w).is_pending());
        assert_eq!(rx.recv().await, Some(1));
        let p = owned.await.unwrap();
        let tx2 = p.send(2);
        assert!(tx2.same_channel(&tx));
        assert_eq!(rx.recv().await, Some(2));
    });
}

#[test]
fn mpsc_weak_sender_does_not_keep_channel_open() {
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    let weak = tx.downgrade();
    let tx2 = weak.upgrade().unwrap();
    assert_eq!(tx.strong_count(), 2);
    drop(tx);
    drop(tx2);
    assert!(weak.upgrade().is_none());
    assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected));
}

#[test]
fn mpsc_send_timeout() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<u32>(1);
            tx.send_timeout(1, Duration::from_millis(10)).await.unwrap();
            let e = tx.send_timeout(2, Duration::from_millis(10)).await.unwrap_err();
            assert_eq!(e, mpsc::error::SendTimeoutError::Timeout(2));
            assert_eq!(tx.capacity(), 0);
            assert_eq!(rx.recv().await, Some(1));
            assert_eq!(tx.capacity(), 1, "the timed-out send left no waiter holding the slot");
            drop(rx);
            let e = tx.send_timeout(3, Duration::from_millis(10)).await.unwrap_err();
            assert_eq!(e, mpsc::error::SendTimeoutError::Closed(3));
        });
    });
}

#[test]
fn mpsc_unbounded_semantics() {
    let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
    for i in 0..1000 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.len(), 1000);
    let mut buf = Vec::new();
    futures::executor::block_on(async {
        assert_eq!(rx.recv_many(&mut buf, 0).await, 0);
        assert_eq!(rx.recv_many(&mut buf, 600).await, 600);
        assert_eq!(rx.recv_many(&mut buf, 600).await, 400);
    });
    assert_eq!(buf, (0..1000).collect::<Vec<_>>());
    rx.close();
    assert_eq!(tx.send(5).unwrap_err().0, 5);
    assert!(rx.is_empty());
    futures::executor::block_on(async {
        tx.closed().await;
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.recv_many(&mut buf, 10).await, 0);
    });
}

#[test]
fn mpsc_recv_spends_coop_budget() {
    // Messages are always ready: without a budget the consumer would never
    // give the single thread to the other task.
    each(&[common::Flavor::CurrentThread, common::Flavor::MultiThread(1)], |rt, _| {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
            for i in 0..2000 {
                tx.send(i).unwrap();
            }
            let flag = Arc::new(AtomicBool::new(false));
            let consumer = tern_runtime::spawn({
                let flag = flag.clone();
                async move {
                    // Spawned from the only thread that runs tasks: it can run
                    // only when this task gives the thread back.
                    let other = tern_runtime::spawn(async move { flag.store(true, SeqCst) });
                    let mut seen_flag_at = None;
                    for i in 0..2000 {
                        rx.recv().await.unwrap();
                        if seen_flag_at.is_none() && other.is_finished() {
                            seen_flag_at = Some(i);
                        }
                    }
                    other.await.unwrap();
                    seen_flag_at
                }
            });
            let at = consumer.await.unwrap();
            assert!(flag.load(SeqCst));
            let at = at.expect("the other task ran only after the consumer finished");
            assert!(at <= 300, "consumer yielded late: {at}");
        });
    });
}

// ---------------------------------------------------------------- oneshot

#[test]
fn oneshot_send_and_receive() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, rx) = oneshot::channel();
            let h = tern_runtime::spawn(rx);
            tx.send(5u32).unwrap();
            assert_eq!(h.await.unwrap(), Ok(5));

            let (tx, rx) = oneshot::channel::<u32>();
            drop(tx);
            assert!(rx.await.is_err());
        });
    });
}

#[test]
fn oneshot_receiver_drop_and_close() {
    let (tx, rx) = oneshot::channel::<u32>();
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(3), Err(3));

    let (tx, mut rx) = oneshot::channel::<u32>();
    assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty));
    rx.close();
    assert_eq!(tx.send(4), Err(4));
    assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));

    // A value sent before close is still received.
    let (tx, mut rx) = oneshot::channel::<u32>();
    tx.send(6).unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Ok(6));
    assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));

    // An unreceived value is dropped with the channel, exactly once.
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = oneshot::channel();
    tx.send(DropCounter(drops.clone())).unwrap();
    assert_eq!(drops.load(SeqCst), 0);
    drop(rx);
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
fn oneshot_sender_closed_wakes_on_receiver_drop() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (mut tx, rx) = oneshot::channel::<u32>();
            let h = tern_runtime::spawn(async move {
                tx.closed().await;
                tx.send(1)
            });
            tern_reactor::time::sleep(Duration::from_millis(10)).await;
            drop(rx);
            assert_eq!(h.await.unwrap(), Err(1));
        });
    });
}

#[test]
fn oneshot_receiver_cancelled_then_awaited_again() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let (tx, mut rx) = oneshot::channel::<u32>();
            assert!(within(10, &mut rx).await.is_none());
            let (w, c) = counting_waker();
            assert!(poll_once(Pin::new(&mut rx), &w).is_pending());
            let t = std::thread::spawn(move || tx.send(9).unwrap());
            t.join().unwrap();
            assert_eq!(c.0.load(SeqCst), 1, "the last registered waker is woken");
            assert_eq!(rx.await, Ok(9));
        });
    });
}

#[test]
fn oneshot_send_from_another_thread_races_receiver_drop() {
    let drops = Arc::new(AtomicUsize::new(0));
    let returned = Arc::new(AtomicUsize::new(0));
    const N: usize = 2000;
    for _ in 0..N {
        let (tx, rx) = oneshot::channel::<DropCounter>();
        let value = DropCounter(drops.clone());
        let returned = returned.clone();
        let t = std::thread::spawn(move || {
            if tx.send(value).is_err() {
                returned.fetch_add(1, SeqCst);
            }
        });
        drop(rx);
        t.join().unwrap();
    }
    assert_eq!(drops.load(SeqCst), N, "every value dropped exactly once");
}

#[test]
fn oneshot_send_from_another_thread_races_await() {
    each(MULTI, |rt, _| {
        rt.block_on(async {
            for i in 0..500u32 {
                let (tx, rx) = oneshot::channel();
                let t = std::thread::spawn(move || tx.send(i).unwrap());
                let h = tern_runtime::spawn(rx);
                assert_eq!(h.await.unwrap(), Ok(i));
                t.join().unwrap();
            }
        });
    });
}
