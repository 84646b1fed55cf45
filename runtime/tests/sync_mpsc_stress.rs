//! Stress tests of the lock-free mpsc channel (`tern_runtime::sync::mpsc`): many
//! senders (tasks on the multi-thread runtime, and plain threads) on bounded
//! channels of several capacities (below, at and above one queue block of 32
//! slots) and on unbounded ones. Every message must arrive exactly once and in
//! its sender's order; a receiver dropped or closed mid-stream must leak nothing
//! and drop nothing twice. Each body runs under the wall-clock deadline of
//! `common::each`, so a lost wake-up fails instead of hanging.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use common::{each, Flavor};
use tern_runtime::sync::mpsc;

const FLAVORS: &[Flavor] = &[Flavor::MultiThread(2), Flavor::MultiThread(4)];
/// Sender tasks and sender threads per channel, and messages each sends.
const TASKS: usize = 6;
const THREADS: usize = 2;
const PER_SENDER: usize = 1_500;

/// Checks per-sender order and exactly-once delivery of `(sender, seq)` messages.
struct Tally {
    next: Vec<usize>,
    total: usize,
}

impl Tally {
    fn new(senders: usize) -> Tally {
        Tally { next: vec![0; senders], total: 0 }
    }

    fn see(&mut self, (sender, seq): (usize, usize)) {
        assert_eq!(seq, self.next[sender], "sender {sender}: out of order or duplicated");
        self.next[sender] += 1;
        self.total += 1;
    }

    fn assert_complete(&self, per_sender: usize) {
        for (s, &n) in self.next.iter().enumerate() {
            assert_eq!(n, per_sender, "sender {s}: messages lost");
        }
    }
}

#[test]
fn bounded_many_senders_every_message_once_in_order() {
    for cap in [1, 3, 16, 33, 100] {
        each(FLAVORS, move |rt, _| {
            let (tx, mut rx) = mpsc::channel::<(usize, usize)>(cap);
            let threads: Vec<_> = (0..THREADS)
                .map(|t| {
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        for i in 0..PER_SENDER {
                            tx.blocking_send((TASKS + t, i)).unwrap();
                        }
                    })
                })
                .collect();
            rt.block_on(async move {
                for s in 0..TASKS {
                    let tx = tx.clone();
                    tern_runtime::spawn(async move {
                        for i in 0..PER_SENDER {
                            if i % 3 == 0 {
                                // The permit path too.
                                tx.reserve().await.unwrap().send((s, i));
                            } else {
                                tx.send((s, i)).await.unwrap();
                            }
                        }
                    });
                }
                drop(tx);
                let mut tally = Tally::new(TASKS + THREADS);
                let mut buf = Vec::new();
                loop {
                    // Alternate single and batched receives.
                    if tally.total.is_multiple_of(2) {
                        match rx.recv().await {
                            Some(m) => tally.see(m),
                            None => break,
                        }
                    } else {
                        if rx.recv_many(&mut buf, 7).await == 0 {
                            break;
                        }
                        for m in buf.drain(..) {
                            tally.see(m);
                        }
                    }
                    assert!(rx.len() <= cap, "more than capacity buffered");
                }
                tally.assert_complete(PER_SENDER);
                assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected));
            });
            for t in threads {
                t.join().unwrap();
            }
        });
    }
}

#[test]
fn unbounded_many_senders_every_message_once_in_order() {
    each(FLAVORS, |rt, _| {
        let (tx, mut rx) = mpsc::unbounded_channel::<(usize, usize)>();
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..PER_SENDER * 4 {
                        tx.send((TASKS + t, i)).unwrap();
                    }
                })
            })
            .collect();
        rt.block_on(async move {
            for s in 0..TASKS {
                let tx = tx.clone();
                tern_runtime::spawn(async move {
                    for i in 0..PER_SENDER * 4 {
                        tx.send((s, i)).unwrap();
                        if i % 64 == 0 {
                            tern_runtime::yield_now().await;
                        }
                    }
                });
            }
            drop(tx);
            let mut tally = Tally::new(TASKS + THREADS);
            while let Some(m) = rx.recv().await {
                tally.see(m);
            }
            tally.assert_complete(PER_SENDER * 4);
        });
        for t in threads {
            t.join().unwrap();
        }
    });
}

/// A message that records its drop in a per-id flag: a second drop of the same
/// message sets `twice`.
struct Tracked {
    id: usize,
    dropped: Arc<Vec<AtomicBool>>,
    twice: Arc<AtomicBool>,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.dropped[self.id].swap(true, SeqCst) {
            self.twice.store(true, SeqCst);
        }
        self.drops.fetch_add(1, SeqCst);
    }
}

struct Ledger {
    dropped: Arc<Vec<AtomicBool>>,
    twice: Arc<AtomicBool>,
    drops: Arc<AtomicUsize>,
    made: AtomicUsize,
}

impl Ledger {
    fn new(capacity: usize) -> Arc<Ledger> {
        Arc::new(Ledger {
            dropped: Arc::new((0..capacity).map(|_| AtomicBool::new(false)).collect()),
            twice: Arc::new(AtomicBool::new(false)),
            drops: Arc::new(AtomicUsize::new(0)),
            made: AtomicUsize::new(0),
        })
    }

    fn make(&self) -> Tracked {
        let id = self.made.fetch_add(1, SeqCst);
        Tracked { id, dropped: self.dropped.clone(), twice: self.twice.clone(), drops: self.drops.clone() }
    }

    fn assert_all_dropped_once(&self) {
        assert!(!self.twice.load(SeqCst), "a message was dropped twice");
        let made = self.made.load(SeqCst);
        assert_eq!(self.drops.load(SeqCst), made, "messages leaked");
        assert!(self.dropped.iter().take(made).all(|d| d.load(SeqCst)));
    }
}

/// The two channel flavours, for the tests below.
trait Flavour: Send + 'static {
    type Tx: Clone + Send + Sync + 'static;
    type Rx: Send + 'static;
    fn make(capacity: usize) -> (Self::Tx, Self::Rx);
    fn send(tx: &Self::Tx, m: Tracked) -> impl Future<Output = Result<(), Tracked>> + Send + '_;
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<Tracked>> + Send + '_;
    fn close(rx: &mut Self::Rx);
}

struct Bounded;
struct Unbounded;

impl Flavour for Bounded {
    type Tx = mpsc::Sender<Tracked>;
    type Rx = mpsc::Receiver<Tracked>;
    fn make(capacity: usize) -> (Self::Tx, Self::Rx) {
        mpsc::channel(capacity)
    }
    async fn send(tx: &Self::Tx, m: Tracked) -> Result<(), Tracked> {
        tx.send(m).await.map_err(|e| e.0)
    }
    async fn recv(rx: &mut Self::Rx) -> Option<Tracked> {
        rx.recv().await
    }
    fn close(rx: &mut Self::Rx) {
        rx.close();
    }
}

impl Flavour for Unbounded {
    type Tx = mpsc::UnboundedSender<Tracked>;
    type Rx = mpsc::UnboundedReceiver<Tracked>;
    fn make(_: usize) -> (Self::Tx, Self::Rx) {
        mpsc::unbounded_channel()
    }
    async fn send(tx: &Self::Tx, m: Tracked) -> Result<(), Tracked> {
        tx.send(m).map_err(|e| e.0)
    }
    async fn recv(rx: &mut Self::Rx) -> Option<Tracked> {
        rx.recv().await
    }
    fn close(rx: &mut Self::Rx) {
        rx.close();
    }
}

/// Senders send until the channel fails; the receiver takes some messages and
/// is dropped (or closes and drains) while they are still sending.
fn receiver_gone_mid_stream<F: Flavour>(capacity: usize, close_first: bool) {
    const SENDERS: usize = 6;
    const MAX_PER_SENDER: usize = 2_000;
    each(FLAVORS, move |rt, _| {
        for round in 0..4 {
            let ledger = Ledger::new(SENDERS * MAX_PER_SENDER);
            let keep = 50 + round * 200;
            rt.block_on({
                let ledger = ledger.clone();
                async move {
                    let (tx, mut rx) = F::make(capacity);
                    let mut handles = Vec::new();
                    for _ in 0..SENDERS {
                        let tx = tx.clone();
                        let ledger = ledger.clone();
                        handles.push(tern_runtime::spawn(async move {
                            for i in 0..MAX_PER_SENDER {
                                if F::send(&tx, ledger.make()).await.is_err() {
                                    return; // the value came back and was dropped here
                                }
                                if i % 50 == 0 {
                                    tern_runtime::yield_now().await;
                                }
                            }
                        }));
                    }
                    for _ in 0..keep {
                        if F::recv(&mut rx).await.is_none() {
                            break;
                        }
                    }
                    if close_first {
                        // Drain what was sent before the close (and what sends
                        // that already had a slot still deliver).
                        F::close(&mut rx);
                        while F::recv(&mut rx).await.is_some() {}
                    }
                    drop(rx);
                    for h in handles {
                        h.await.unwrap();
                    }
                    // The last sender goes here: the channel is freed, with
                    // anything still in it.
                    drop(tx);
                }
            });
            ledger.assert_all_dropped_once();
        }
    });
}

#[test]
fn bounded_receiver_dropped_mid_stream_drops_every_message_once() {
    receiver_gone_mid_stream::<Bounded>(16, false);
    receiver_gone_mid_stream::<Bounded>(100, false);
}

#[test]
fn unbounded_receiver_dropped_mid_stream_drops_every_message_once() {
    receiver_gone_mid_stream::<Unbounded>(0, false);
}

#[test]
fn bounded_receiver_closed_mid_stream_drains_and_drops_every_message_once() {
    receiver_gone_mid_stream::<Bounded>(16, true);
}

#[test]
fn unbounded_receiver_closed_mid_stream_drains_and_drops_every_message_once() {
    receiver_gone_mid_stream::<Unbounded>(0, true);
}

/// Sends racing `close` from other threads: every send that returned `Ok` is
/// received, every failed one got its value back, and after the close nothing
/// more arrives.
#[test]
fn close_racing_sends_loses_nothing() {
    each(FLAVORS, |rt, _| {
        for bounded in [false, true] {
            for _ in 0..20 {
                let ok = Arc::new(AtomicUsize::new(0));
                let (utx, urx) = mpsc::unbounded_channel::<usize>();
                let (btx, brx) = mpsc::channel::<usize>(8);
                let received = rt.block_on({
                    let ok = ok.clone();
                    async move {
                        let mut handles = Vec::new();
                        for s in 0..4 {
                            let (utx, btx, ok) = (utx.clone(), btx.clone(), ok.clone());
                            handles.push(tern_runtime::spawn(async move {
                                for i in 0..500 {
                                    let r = if bounded {
                                        btx.send(s * 1000 + i).await.is_ok()
                                    } else {
                                        utx.send(s * 1000 + i).is_ok()
                                    };
                                    if !r {
                                        return;
                                    }
                                    ok.fetch_add(1, SeqCst);
                                    if i % 16 == 0 {
                                        tern_runtime::yield_now().await;
                                    }
                                }
                            }));
                        }
                        drop((utx, btx));
                        let (mut urx, mut brx) = (urx, brx);
                        let mut n = 0;
                        for _ in 0..100 {
                            let got = if bounded { brx.recv().await } else { urx.recv().await };
                            if got.is_some() {
                                n += 1;
                            }
                        }
                        if bounded {
                            brx.close();
                        } else {
                            urx.close();
                        }
                        loop {
                            let got = if bounded { brx.recv().await } else { urx.recv().await };
                            match got {
                                Some(_) => n += 1,
                                None => break,
                            }
                        }
                        for h in handles {
                            h.await.unwrap();
                        }
                        n
                    }
                });
                assert_eq!(received, ok.load(SeqCst), "an accepted send was lost (bounded: {bounded})");
            }
        }
    });
}
