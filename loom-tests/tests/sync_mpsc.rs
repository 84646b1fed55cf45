#![cfg(loom)]
//! Loom models of the mpsc channels (`runtime/src/sync/mpsc/`): slots handed to
//! waiting senders, cancellation, closing, and the lock-free queue under them
//! (claims across block boundaries, block reclamation, the receiver's
//! `AtomicWaker`, the receiver's drop).
//!
//! A lost wake-up (or a leaked slot that a sender waits for forever) leaves
//! `block_on` (below) parked, which loom reports as a deadlock.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use tern_runtime::sync::mpsc;

/// Drives `f` on this loom thread: between polls it waits on a loom condvar for
/// the waker's flag. A wake-up that never comes leaves the thread blocked
/// forever: loom reports a deadlock.
///
/// (Not loom's `park`/`unpark`: a waker woken late, after `block_on` returned,
/// would `unpark` a thread that is by then blocked in `join` or on a lock, which
/// loom treats as that blocking call returning. The lock-free channel does wake
/// late: a receiver that registers its waker and then finds a message on its
/// re-check returns, and the sender's wake for that message comes afterwards.)
fn block_on<F: Future>(f: F) -> F::Output {
    struct Signal {
        woken: loom::sync::Mutex<bool>,
        cv: loom::sync::Condvar,
    }
    impl Wake for Signal {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            *self.woken.lock().unwrap() = true;
            self.cv.notify_one();
        }
    }
    let signal =
        std::sync::Arc::new(Signal { woken: loom::sync::Mutex::new(false), cv: loom::sync::Condvar::new() });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        let mut woken = signal.woken.lock().unwrap();
        while !*woken {
            woken = signal.cv.wait(woken).unwrap();
        }
        *woken = false;
    }
}

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: std::sync::Arc<Self>) {}
}

fn noop_waker() -> Waker {
    Waker::from(std::sync::Arc::new(NoopWake))
}

/// A sender waiting for capacity is woken by the `recv` that frees a slot.
#[test]
fn waiting_sender_races_recv() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.try_send(0).unwrap();
        let th = thread::spawn(move || {
            block_on(tx.send(1)).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Some(0));
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(block_on(rx.recv()), None);
        th.join().unwrap();
    });
}

/// A receiver waiting for a message is woken by a send from another thread.
#[test]
fn send_races_pending_recv() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let th = thread::spawn(move || {
            block_on(tx.send(1)).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Some(1));
        th.join().unwrap();
    });
}

/// A send that waited for capacity is cancelled (dropped after one poll) while
/// the receiver frees a slot, possibly handing it to that send: the slot is not
/// leaked and the other waiting sender still gets through.
#[test]
fn cancelled_send_races_recv() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.try_send(0).unwrap();
        let tx2 = tx.clone();
        let sent_by_cancelled = std::sync::Arc::new(AtomicUsize::new(0));
        let th = thread::spawn({
            let sent_by_cancelled = sent_by_cancelled.clone();
            move || {
                let mut fut = Box::pin(tx2.send(1));
                if fut.as_mut().poll(&mut Context::from_waker(&noop_waker())).is_ready() {
                    sent_by_cancelled.store(1, SeqCst);
                }
                drop(fut);
            }
        });
        assert_eq!(block_on(rx.recv()), Some(0));
        th.join().unwrap();
        // The other sender must get a slot whatever the cancelled one did.
        let extra = sent_by_cancelled.load(SeqCst);
        if extra == 1 {
            assert_eq!(block_on(rx.recv()), Some(1));
        }
        assert_eq!(tx.capacity(), 1, "slot leaked");
        tx.try_send(2).unwrap();
        assert_eq!(block_on(rx.recv()), Some(2));
    });
}

/// As above, with the surviving sender already waiting on its own thread while
/// the cancellation and the `recv` happen.
#[test]
fn cancelled_send_passes_slot_to_waiting_sender() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.try_send(0).unwrap();
        // Queue the doomed sender first, so the freed slot goes to it.
        let tx1 = tx.clone();
        let mut doomed = Box::pin(async move { tx1.send(1).await });
        assert!(doomed.as_mut().poll(&mut Context::from_waker(&noop_waker())).is_pending());
        let tx2 = tx.clone();
        let th = thread::spawn(move || {
            block_on(tx2.send(2)).unwrap();
        });
        let canceller = thread::spawn(move || drop(doomed));
        assert_eq!(block_on(rx.recv()), Some(0));
        assert_eq!(block_on(rx.recv()), Some(2));
        th.join().unwrap();
        canceller.join().unwrap();
        drop(tx);
        assert_eq!(block_on(rx.recv()), None);
    });
}

/// The last sender dropping while the receiver waits: `recv` is woken with `None`.
#[test]
fn sender_drop_races_pending_recv() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let th = thread::spawn(move || drop(tx));
        assert_eq!(block_on(rx.recv()), None);
        th.join().unwrap();
    });
}

/// The receiver closing while a sender waits for capacity: the sender is woken
/// and gets its value back; the buffered message is still received.
#[test]
fn close_races_waiting_sender() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.try_send(0).unwrap();
        let th = thread::spawn(move || block_on(tx.send(1)));
        rx.close();
        assert_eq!(block_on(rx.recv()), Some(0));
        let r = th.join().unwrap();
        match r {
            Ok(()) => unreachable!("the channel stayed full until it closed"),
            Err(e) => assert_eq!(e.0, 1),
        }
        assert_eq!(block_on(rx.recv()), None);
    });
}

// ---------------------------------------------------------------- lock-free queue
//
// Under loom a queue block has 2 slots, so a few messages cross block
// boundaries: blocks are appended by racing senders, `block_tail` moves, and the
// receiver frees (reuses) the blocks it passed. Each block carries a loom cell
// that every sender access reads and freeing writes, so a sender touching a block
// after (or unordered with) its reclamation is a loom causality error.

/// A message that counts its drops.
struct Counted(std::sync::Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Two senders race for the next block: messages 0 and 1 fill block 0, the
/// senders' messages both land in block 1, so both may try to append it (the
/// loser appends its block after it) and to move `block_tail` past block 0, while
/// the receiver receives, passes block 0 and reclaims it. Every message arrives
/// once, in order after the first two, then `None`.
#[test]
fn two_senders_race_across_a_block_boundary() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        tx.send(0).unwrap();
        tx.send(1).unwrap();
        let ths: Vec<_> = [10u32, 20]
            .into_iter()
            .map(|v| {
                let tx = tx.clone();
                thread::spawn(move || tx.send(v).unwrap())
            })
            .collect();
        drop(tx);
        let mut got = Vec::new();
        while let Some(v) = block_on(rx.recv()) {
            got.push(v);
        }
        for th in ths {
            th.join().unwrap();
        }
        assert_eq!(got[..2], [0, 1]);
        got[2..].sort();
        assert_eq!(got[2..], [10, 20]);
    });
}

/// Block reclamation against a sender still walking the list: messages 0 and 1
/// fill block 0; three senders claim 2, 3 and 4 (blocks 1 and 2), all starting
/// their walk at block 0. The receiver takes what it can (`try_recv`, five
/// times) and frees block 0 as soon as it enters block 2, possibly while the
/// sender of 4 is still on its way through block 0: that must wait until that
/// sender is done with it (its claim is below the index recorded when
/// `block_tail` moved). Then everything arrives once, in order.
#[test]
fn reclaim_races_a_walking_sender() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        tx.send(0).unwrap();
        tx.send(1).unwrap();
        let ths: Vec<_> = [2u32, 3, 4]
            .into_iter()
            .map(|v| {
                let tx = tx.clone();
                thread::spawn(move || tx.send(v).unwrap())
            })
            .collect();
        drop(tx);
        let mut got = Vec::new();
        for _ in 0..5 {
            if let Ok(v) = rx.try_recv() {
                got.push(v);
            }
        }
        for th in ths {
            th.join().unwrap();
        }
        while let Ok(v) = rx.try_recv() {
            got.push(v);
        }
        got.sort();
        assert_eq!(got, [0, 1, 2, 3, 4]);
    });
}

/// Bounded, capacity 1: a sender waits for the slot the receiver frees, over
/// three block boundaries (the receiver reclaims and reuses blocks meanwhile).
#[test]
fn bounded_send_waits_for_the_slot_recv_releases() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let th = thread::spawn(move || {
            for i in 0..4 {
                block_on(tx.send(i)).unwrap();
            }
        });
        for i in 0..4 {
            assert_eq!(block_on(rx.recv()), Some(i));
        }
        assert_eq!(block_on(rx.recv()), None);
        th.join().unwrap();
    });
}

/// Sends race the receiver's drop: every message is dropped exactly once, by the
/// receiver's drop, by the channel when it is freed, or by the failed send that
/// got it back. (Unbounded and bounded.)
#[test]
fn send_races_receiver_drop() {
    // Unbounded: the thread's sends may fail (value back, dropped there).
    loom::model(|| {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::unbounded_channel::<Counted>();
        tx.send(Counted(drops.clone())).unwrap();
        let th = thread::spawn({
            let drops = drops.clone();
            move || {
                for _ in 1..3 {
                    drop(tx.send(Counted(drops.clone())));
                }
            }
        });
        drop(rx);
        th.join().unwrap();
        // Both handles are gone, so the channel was freed with what it held.
        assert_eq!(drops.load(SeqCst), 3, "every message dropped exactly once");
    });
    // Bounded, on a permit reserved before the drop (it still "sends").
    loom::model(|| {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel::<Counted>(2);
        tx.try_send(Counted(drops.clone())).unwrap();
        let th = thread::spawn({
            let drops = drops.clone();
            move || {
                let v = Counted(drops.clone());
                match tx.try_reserve() {
                    Ok(permit) => permit.send(v),
                    Err(_) => drop(v),
                }
                drop(tx.try_send(Counted(drops.clone())));
            }
        });
        drop(rx);
        th.join().unwrap();
        assert_eq!(drops.load(SeqCst), 3, "every message dropped exactly once");
    });
}

/// The last sender leaves (after sending) while the receiver waits: `None` only
/// after both messages.
#[test]
fn last_sender_drop_races_recv() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        let tx2 = tx.clone();
        let a = thread::spawn(move || tx.send(1).unwrap());
        let b = thread::spawn(move || tx2.send(2).unwrap());
        let mut got = vec![block_on(rx.recv()), block_on(rx.recv())];
        got.sort();
        assert_eq!(got, [Some(1), Some(2)]);
        assert_eq!(block_on(rx.recv()), None);
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// A permit reserved on another thread races `close`: if the reserve won, its
/// message is still received before `None`; otherwise the reserve fails. `recv`
/// waits for the outstanding permit (it is woken by the send or the permit's drop).
#[test]
fn permit_reserve_races_close() {
    for use_it in [true, false] {
        loom::model(move || {
            let (tx, mut rx) = mpsc::channel::<u32>(1);
            let th = thread::spawn(move || match tx.try_reserve() {
                Ok(permit) => {
                    if use_it {
                        permit.send(7);
                        true
                    } else {
                        drop(permit);
                        false
                    }
                }
                Err(e) => {
                    assert!(matches!(e, mpsc::error::TrySendError::Closed(())));
                    false
                }
            });
            rx.close();
            let got = block_on(rx.recv());
            let sent = th.join().unwrap();
            assert_eq!(got, sent.then_some(7));
            assert_eq!(block_on(rx.recv()), None);
        });
    }
}

/// `try_recv` racing a send and the sender's drop: it sees the message or
/// `Empty`, never `Disconnected` before the message was received.
#[test]
fn try_recv_races_send() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        let th = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        let mut got = Vec::new();
        for _ in 0..2 {
            match rx.try_recv() {
                Ok(v) => got.push(v),
                Err(mpsc::error::TryRecvError::Empty) => {}
                Err(e) => panic!("{e:?} before both messages were received"),
            }
        }
        th.join().unwrap();
        while got.len() < 2 {
            got.push(rx.try_recv().unwrap());
        }
        assert_eq!(got, [1, 2]);
        assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected));
    });
}

/// A flag waker, to see which waker a wake reached.
struct Flag(AtomicUsize);

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// The receiver's `AtomicWaker`: `recv` is polled with one waker, then polled
/// again with another while two senders send (their wakes racing the
/// re-registration and each other). If the second poll is `Pending`, the second
/// waker is woken.
#[test]
fn waker_swap_races_two_sends() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        let tx2 = tx.clone();
        let first = std::sync::Arc::new(Flag(AtomicUsize::new(0)));
        let second = std::sync::Arc::new(Flag(AtomicUsize::new(0)));
        let mut fut = Box::pin(rx.recv());
        let w1 = Waker::from(first.clone());
        assert!(fut.as_mut().poll(&mut Context::from_waker(&w1)).is_pending());
        let a = thread::spawn(move || tx.send(1).unwrap());
        let b = thread::spawn(move || tx2.send(2).unwrap());
        let w2 = Waker::from(second.clone());
        let r = fut.as_mut().poll(&mut Context::from_waker(&w2));
        a.join().unwrap();
        b.join().unwrap();
        if r.is_pending() {
            assert!(second.0.load(SeqCst) >= 1, "the re-registered waker was not woken");
        }
    });
}

/// `close` racing an unbounded send: a send that claimed its slot before the
/// close is received; one that claimed after it fails and leaves a tombstone the
/// receiver may be waiting for (it is woken by the tombstone's publication and
/// skips it). Either way `recv` ends with `None`.
#[test]
fn close_races_unbounded_send() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        let th = thread::spawn(move || tx.send(1).is_ok());
        rx.close();
        let got = block_on(rx.recv());
        let sent = th.join().unwrap();
        assert_eq!(got, sent.then_some(1));
        assert_eq!(block_on(rx.recv()), None);
    });
}

/// The `AtomicWaker` alone: the registrar registers three wakers in turn while two
/// threads take (and wake): every taken waker comes out whole (the inline slots
/// are reused only after their taker gave them back; a heap slot covers the case
/// where both are still held), and no clone leaks.
#[test]
fn atomic_waker_slots_recycle_under_concurrent_takes() {
    use tern_runtime::__loom::AtomicWaker;
    loom::model(|| {
        let aw = std::sync::Arc::new(AtomicWaker::new());
        let flags: Vec<_> = (0..3).map(|_| std::sync::Arc::new(Flag(AtomicUsize::new(0)))).collect();
        let takers: Vec<_> = (0..2)
            .map(|_| {
                let aw = aw.clone();
                thread::spawn(move || aw.wake())
            })
            .collect();
        for f in &flags {
            // SAFETY: this thread is the only registrar.
            unsafe { aw.register(&Waker::from(f.clone())) };
        }
        for t in takers {
            t.join().unwrap();
        }
        // The last registration is either woken or still stored.
        let last_stored = aw.take().is_some();
        assert!(last_stored || flags[2].0.load(SeqCst) == 1);
        drop(aw);
        for f in &flags {
            assert_eq!(std::sync::Arc::strong_count(f), 1, "a waker clone leaked");
            assert!(f.0.load(SeqCst) <= 1);
        }
    });
}
