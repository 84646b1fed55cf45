//! The blocking bridges: `mpsc::Sender::blocking_send`, `mpsc::Receiver::blocking_recv`,
//! `mpsc::UnboundedReceiver::blocking_recv`, `oneshot::Receiver::blocking_recv` and
//! `Mutex::blocking_lock` between plain threads and tasks; closed-channel errors;
//! the panic on a runtime thread; and that a blocked thread parks.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use tern_runtime::sync::{mpsc, oneshot, Mutex};
use tern_runtime::yield_now;

const LIMIT: Duration = Duration::from_secs(10);
const IN_RUNTIME: &str = "Cannot block the current thread from within a runtime";

#[test]
fn blocking_send_from_a_thread_to_a_task() {
    each(ALL, |rt, _| {
        // Capacity 1: the thread waits for a slot on almost every send.
        let (tx, mut rx) = mpsc::channel::<usize>(1);
        let producer = thread::spawn(move || {
            for i in 0..200 {
                tx.blocking_send(i).unwrap();
            }
        });
        let got = rt.block_on(async move {
            let mut got = Vec::new();
            while let Some(v) = timeout(LIMIT, rx.recv()).await.expect("a message or the close") {
                got.push(v);
                if got.len() % 7 == 0 {
                    yield_now().await; // let the buffer fill up now and then
                }
            }
            got
        });
        producer.join().unwrap();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    });
}

#[test]
fn blocking_recv_on_a_thread_from_tasks() {
    each(ALL, |rt, _| {
        let (tx, mut rx) = mpsc::channel::<usize>(2);
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(v) = rx.blocking_recv() {
                got.push(v);
            }
            got
        });
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let tx = tx.clone();
                rt.spawn(async move {
                    for i in 0..50 {
                        tx.send(t * 100 + i).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        rt.block_on(async {
            for s in senders {
                s.await.unwrap();
            }
        });
        let mut got = consumer.join().unwrap();
        got.sort_unstable();
        let mut want: Vec<_> = (0..4).flat_map(|t| (0..50).map(move |i| t * 100 + i)).collect();
        want.sort_unstable();
        assert_eq!(got, want);
    });
}

#[test]
fn unbounded_blocking_recv_on_a_thread() {
    each(ALL, |rt, _| {
        let (tx, mut rx) = mpsc::unbounded_channel::<usize>();
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(v) = rx.blocking_recv() {
                got.push(v);
            }
            got
        });
        let sender = rt.spawn(async move {
            for i in 0..100 {
                tx.send(i).unwrap();
                if i % 10 == 0 {
                    // Let the consumer drain and park again.
                    sleep(Duration::from_millis(1)).await;
                }
            }
        });
        rt.block_on(sender).unwrap();
        assert_eq!(consumer.join().unwrap(), (0..100).collect::<Vec<_>>());
    });
}

#[test]
fn oneshot_blocking_recv_gets_the_value_or_the_error() {
    each(ALL, |rt, _| {
        let (tx, rx) = oneshot::channel::<&str>();
        let waiter = thread::spawn(move || rx.blocking_recv());
        rt.block_on(async move {
            sleep(Duration::from_millis(5)).await;
            tern_runtime::spawn(async move { tx.send("done").unwrap() }).await.unwrap();
        });
        assert_eq!(waiter.join().unwrap(), Ok("done"));

        // The sender is dropped unsent, by a task, while the thread waits.
        let (tx, rx) = oneshot::channel::<u8>();
        let waiter = thread::spawn(move || rx.blocking_recv());
        rt.block_on(async move {
            sleep(Duration::from_millis(5)).await;
            tern_runtime::spawn(async move { drop(tx) }).await.unwrap();
        });
        assert!(waiter.join().unwrap().is_err());
    });
}

#[test]
fn closed_channels_end_the_blocking_calls() {
    each(ALL, |rt, _| {
        // The receiver is already gone: the value comes back at once.
        let (tx, rx) = mpsc::channel::<String>(1);
        drop(rx);
        let err = tx.blocking_send("back".to_string()).unwrap_err();
        assert_eq!(err.0, "back");

        // The receiver is dropped by a task while the thread waits for a slot.
        let (tx, rx) = mpsc::channel::<u32>(1);
        tx.try_send(1).unwrap();
        let waiting = Arc::new(AtomicBool::new(false));
        let w = waiting.clone();
        let sender = thread::spawn(move || {
            w.store(true, SeqCst);
            tx.blocking_send(2)
        });
        assert!(wait_until(LIMIT, || waiting.load(SeqCst)));
        rt.block_on(async move {
            sleep(Duration::from_millis(5)).await;
            tern_runtime::spawn(async move { drop(rx) }).await.unwrap();
        });
        assert_eq!(sender.join().unwrap().unwrap_err().0, 2);

        // Every sender is dropped while the thread waits in `blocking_recv`,
        // after it received what was buffered.
        let (tx, mut rx) = mpsc::channel::<u32>(4);
        tx.try_send(7).unwrap();
        let consumer = thread::spawn(move || (rx.blocking_recv(), rx.blocking_recv()));
        rt.block_on(async move {
            sleep(Duration::from_millis(5)).await;
            tern_runtime::spawn(async move { drop(tx) }).await.unwrap();
        });
        assert_eq!(consumer.join().unwrap(), (Some(7), None));

        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        drop(tx);
        assert_eq!(rx.blocking_recv(), None);
    });
}

#[test]
fn blocking_lock_excludes_tasks_and_waits_for_them() {
    each(ALL, |rt, _| {
        let m = Arc::new(Mutex::new(0usize));
        // A task holds the lock: the thread must wait until it lets go.
        let released = Arc::new(AtomicBool::new(false));
        let (locked_tx, locked_rx) = oneshot::channel::<()>();
        let holder = rt.spawn({
            let (m, released) = (m.clone(), released.clone());
            async move {
                let mut g = m.lock().await;
                locked_tx.send(()).unwrap();
                sleep(Duration::from_millis(20)).await;
                *g += 1;
                released.store(true, SeqCst);
            }
        });
        let locker = thread::spawn({
            let (m, released) = (m.clone(), released.clone());
            move || {
                locked_rx.blocking_recv().unwrap();
                let mut g = m.blocking_lock();
                assert!(released.load(SeqCst), "blocking_lock returned while a task held the lock");
                *g += 1;
            }
        });
        rt.block_on(holder).unwrap();
        locker.join().unwrap();
        assert_eq!(*m.blocking_lock(), 2);

        // Threads and tasks increment under the lock, interleaved.
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (m, inside) = (m.clone(), inside.clone());
                thread::spawn(move || {
                    for _ in 0..200 {
                        let mut g = m.blocking_lock();
                        assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
                        *g += 1;
                        inside.fetch_sub(1, SeqCst);
                    }
                })
            })
            .collect();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (m, inside) = (m.clone(), inside.clone());
                rt.spawn(async move {
                    for _ in 0..200 {
                        let mut g = m.lock().await;
                        assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
                        *g += 1;
                        yield_now().await;
                        inside.fetch_sub(1, SeqCst);
                    }
                })
            })
            .collect();
        rt.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.blocking_lock(), 2 + 800);
    });
}

#[test]
fn bridges_work_in_spawn_blocking() {
    each(ALL, |rt, _| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let (otx, orx) = oneshot::channel::<u32>();
        let m = Arc::new(Mutex::new(0u32));
        let m2 = m.clone();
        let job = rt.spawn_blocking(move || {
            *m2.blocking_lock() += 1;
            let a = rx.blocking_recv().unwrap();
            let b = orx.blocking_recv().unwrap();
            a + b
        });
        let sum = rt.block_on(async move {
            tx.send(1).await.unwrap();
            otx.send(2).unwrap();
            timeout(LIMIT, job).await.expect("the blocking job finished").unwrap()
        });
        assert_eq!(sum, 3);
        assert_eq!(*m.blocking_lock(), 1);
    });
}

/// Runs `f` and returns its panic message (failing when it does not panic).
fn panic_of(f: impl FnOnce()) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => panic!("expected a panic"),
        Err(p) => panic_message(&*p),
    }
}

#[test]
fn every_bridge_panics_inside_block_on() {
    each(ALL, |rt, _| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let (_utx, mut urx) = mpsc::unbounded_channel::<u32>();
        let m = Mutex::new(());
        let msgs = [
            panic_of(|| {
                rt.block_on(async {
                    let _ = tx.blocking_send(1);
                })
            }),
            panic_of(|| {
                rt.block_on(async {
                    let _ = rx.blocking_recv();
                })
            }),
            panic_of(|| {
                rt.block_on(async {
                    let _ = urx.blocking_recv();
                })
            }),
            panic_of(|| {
                let (_otx, orx) = oneshot::channel::<u32>();
                rt.block_on(async {
                    let _ = orx.blocking_recv();
                })
            }),
            panic_of(|| rt.block_on(async { drop(m.blocking_lock()) })),
        ];
        for (msg, name) in msgs.iter().zip([
            "mpsc::Sender::blocking_send",
            "mpsc::Receiver::blocking_recv",
            "mpsc::UnboundedReceiver::blocking_recv",
            "oneshot::Receiver::blocking_recv",
            "Mutex::blocking_lock",
        ]) {
            assert!(msg.contains(IN_RUNTIME) && msg.contains(name), "unexpected message: {msg}");
        }
        // Nothing was sent or locked by the refused calls.
        assert!(rx.try_recv().is_err(), "the refused blocking_send sent its value");
        assert!(m.try_lock().is_ok(), "the refused blocking_lock left the mutex locked");
    });
}

#[test]
fn bridges_panic_inside_a_task() {
    each(ALL, |rt, _| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let jh = rt.spawn(async move { rx.blocking_recv() });
        let err = rt.block_on(async move { timeout(LIMIT, jh).await }).expect("no hang").unwrap_err();
        assert!(err.is_panic());
        let msg = panic_message(&*err.into_panic());
        assert!(msg.contains(IN_RUNTIME), "unexpected message: {msg}");
        drop(tx);

        let m = Arc::new(Mutex::new(()));
        let m2 = m.clone();
        let jh = rt.spawn(async move { drop(m2.blocking_lock()) });
        let err = rt.block_on(async move { timeout(LIMIT, jh).await }).expect("no hang").unwrap_err();
        assert!(panic_message(&*err.into_panic()).contains(IN_RUNTIME));
    });
}

#[test]
#[should_panic(expected = "Cannot block the current thread from within a runtime")]
fn blocking_recv_in_block_on_panics() {
    with_deadline("block_on", BODY_DEADLINE, || {
        let (_tx, rx) = oneshot::channel::<()>();
        tern_runtime::block_on(async move {
            let _ = rx.blocking_recv();
        });
    });
}

/// CPU time used by the calling thread so far.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn a_blocked_thread_parks_instead_of_spinning() {
    with_deadline("parks", BODY_DEADLINE, || {
        const WAIT: Duration = Duration::from_millis(300);
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let waiter = thread::spawn(move || {
            let before = thread_cpu_time();
            let v = rx.blocking_recv();
            (v, thread_cpu_time() - before)
        });
        thread::sleep(WAIT);
        tx.try_send(5).unwrap();
        let (v, cpu) = waiter.join().unwrap();
        assert_eq!(v, Some(5));
        assert!(cpu < WAIT / 4, "the thread burnt {cpu:?} of CPU while waiting {WAIT:?}");
    });
}
