//! Fairness: the co-operative budget, `yield_now`, the LIFO-slot cap and the
//! injector check interval keep one busy task (or pair) from starving others.
//!
//! Every busy loop here is bounded by an iteration count, so a starvation bug
//! fails the test instead of hanging it.

mod common;

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use common::*;
use futures::channel::mpsc;
use futures::StreamExt;
use tern_runtime::coop::{self, BUDGET};
use tern_runtime::{task, yield_now};

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn spent_budget_makes_a_busy_task_yield() {
    // One thread runs tasks: without the budget the busy task never lets the
    // flag-setting task run.
    let flavors = [Flavor::CurrentThread, Flavor::MultiThread(1), Flavor::MultiThread(2)];
    each(&flavors, |rt, flavor| {
        let res = rt.block_on(rt.spawn(async move {
            let flag = Arc::new(AtomicBool::new(false));
            let f2 = flag.clone();
            let other = tern_runtime::spawn(async move { f2.store(true, SeqCst) });
            let mut iters = 0u32;
            while !flag.load(SeqCst) {
                iters += 1;
                if iters > 1_000_000 {
                    return Err(iters);
                }
                coop::consume_budget().await;
            }
            other.await.unwrap();
            Ok(iters)
        }));
        let iters = res.unwrap().expect("the busy task never yielded: the other task starved");
        if !flavor.is_multi() || flavor.workers() == 1 {
            assert!(iters <= u32::from(BUDGET) + 1, "{flavor:?}: yielded only after {iters} units");
        }
    });
}

#[test]
fn budget_is_per_poll_and_spent_by_poll_proceed() {
    each(ALL, |rt, _| {
        let polls = rt.block_on(rt.spawn(async {
            let mut polls = 0;
            poll_fn(|cx| {
                polls += 1;
                if polls == 1 {
                    assert!(coop::has_budget_remaining());
                    for i in 0..BUDGET {
                        match coop::poll_proceed(cx) {
                            Poll::Ready(r) => r.made_progress(),
                            Poll::Pending => panic!("budget ran out after {i} units"),
                        }
                    }
                    assert!(!coop::has_budget_remaining());
                    // Out of budget: Pending, and the task is woken to run again.
                    assert!(coop::poll_proceed(cx).is_pending());
                    Poll::Pending
                } else {
                    // A new poll starts with a full budget.
                    assert!(coop::has_budget_remaining());
                    Poll::Ready(())
                }
            })
            .await;
            polls
        }));
        assert_eq!(polls.unwrap(), 2);

        // Units handed back when no progress is made are not spent.
        rt.block_on(rt.spawn(poll_fn(|cx| {
            for _ in 0..10 * u32::from(BUDGET) {
                match coop::poll_proceed(cx) {
                    Poll::Ready(r) => drop(r), // no progress: the unit is restored
                    Poll::Pending => panic!("units were spent without progress"),
                }
            }
            Poll::Ready(())
        })))
        .unwrap();
    });
}

#[test]
fn block_on_future_has_a_budget_too() {
    each(ALL, |rt, _| {
        let polls = Arc::new(AtomicUsize::new(0));
        let fut = CountPolls {
            inner: Box::pin(async {
                for _ in 0..10 * u32::from(BUDGET) {
                    coop::consume_budget().await;
                }
            }),
            polls: polls.clone(),
        };
        rt.block_on(fut);
        assert!(polls.load(SeqCst) >= 10, "polled {} times", polls.load(SeqCst));
    });
}

#[test]
fn outside_a_runtime_there_is_no_budget() {
    let polls = Arc::new(AtomicUsize::new(0));
    let fut = CountPolls {
        inner: Box::pin(async {
            assert!(coop::has_budget_remaining());
            for _ in 0..10 * u32::from(BUDGET) {
                coop::consume_budget().await;
            }
        }),
        polls: polls.clone(),
    };
    futures::executor::block_on(fut);
    assert_eq!(polls.load(SeqCst), 1);
}

#[test]
fn unconstrained_never_yields_for_budget() {
    each(ALL, |rt, _| {
        let (constrained, free) = rt
            .block_on(rt.spawn(async {
                let work = || async {
                    for _ in 0..10_000 {
                        coop::consume_budget().await;
                    }
                };
                let p1 = Arc::new(AtomicUsize::new(0));
                CountPolls { inner: Box::pin(work()), polls: p1.clone() }.await;
                let p2 = Arc::new(AtomicUsize::new(0));
                CountPolls { inner: Box::pin(task::unconstrained(work())), polls: p2.clone() }.await;
                (p1.load(SeqCst), p2.load(SeqCst))
            }))
            .unwrap();
        assert!(constrained >= 10_000 / usize::from(BUDGET), "constrained: {constrained} polls");
        assert_eq!(free, 1, "unconstrained: {free} polls");
    });
}

#[test]
fn join_handles_spend_budget() {
    each(ALL, |rt, _| {
        let hs: Vec<_> = (0..4 * usize::from(BUDGET)).map(|i| rt.spawn(async move { i })).collect();
        assert!(drive_until(&rt, LIMIT, || hs.iter().all(|h| h.is_finished())));
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        let sum = rt.block_on(rt.spawn(CountPolls {
            inner: Box::pin(async move {
                let mut s = 0;
                for h in hs {
                    s += h.await.unwrap();
                }
                s
            }),
            polls: p,
        }));
        let n = 4 * usize::from(BUDGET);
        assert_eq!(sum.unwrap(), n * (n - 1) / 2);
        // Every handle was ready, yet the task had to yield for budget.
        assert!(polls.load(SeqCst) >= 4, "polled {} times", polls.load(SeqCst));
    });
}

#[test]
fn yield_now_lets_another_task_run() {
    each(ALL, |rt, flavor| {
        let res = rt.block_on(rt.spawn(async move {
            let flag = Arc::new(AtomicBool::new(false));
            let f2 = flag.clone();
            let other = tern_runtime::spawn(async move { f2.store(true, SeqCst) });
            let mut n = 0u32;
            while !flag.load(SeqCst) {
                n += 1;
                if n > 100_000 {
                    return Err(n);
                }
                yield_now().await;
            }
            other.await.unwrap();
            Ok(n)
        }));
        let n = res.unwrap().expect("yield_now never let the other task run");
        if flavor.workers() == 1 {
            assert_eq!(n, 1, "{flavor:?}: the other task was queued before the yield");
        }
    });
}

#[test]
fn yield_now_in_block_on_lets_spawned_tasks_run() {
    // The block_on future (not a task) loops on yield_now / consume_budget while
    // a spawned task must run to set the flag. Multi-thread flavours first, so a
    // current-thread failure does not hide their result.
    let flavors = [Flavor::MultiThread(1), Flavor::MultiThread(2), Flavor::CurrentThread];
    each(&flavors, |rt, flavor| {
        let mut failures = Vec::new();
        for use_budget in [false, true] {
            let flag = Arc::new(AtomicBool::new(false));
            let f2 = flag.clone();
            let res = rt.block_on(async move {
                let other = tern_runtime::spawn(async move { f2.store(true, SeqCst) });
                let mut n = 0u32;
                while !flag.load(SeqCst) {
                    n += 1;
                    if n > 200_000 {
                        return Err(n);
                    }
                    if use_budget {
                        coop::consume_budget().await;
                    } else {
                        yield_now().await;
                    }
                }
                other.await.unwrap();
                Ok(n)
            });
            if let Err(n) = res {
                let how = if use_budget { "consume_budget" } else { "yield_now" };
                failures.push(format!("block_on looped {n} times on {how}; the spawned task never ran"));
            }
        }
        assert!(failures.is_empty(), "{flavor:?}: {failures:?}");
    });
}

type Step = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Three tasks that each log their name and yield, three times.
fn three_yielders(log: &Arc<Mutex<String>>) -> Vec<Step> {
    ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let log = log.clone();
            Box::pin(async move {
                for _ in 0..3 {
                    log.lock().unwrap().push_str(name);
                    yield_now().await;
                }
            }) as Step
        })
        .collect()
}

/// Each task ran three times and none ran twice in a row while the others
/// were waiting.
fn assert_takes_turns(log: &str, what: &str) {
    assert_eq!(log.len(), 9, "{what}: {log}");
    let b = log.as_bytes();
    assert!(
        b.windows(2).all(|w| w[0] != w[1]),
        "{what}: a yielding task ran again before the waiting ones: {log:?}"
    );
}

#[test]
fn yield_now_round_robin_local() {
    // Spawned together from inside the runtime; each yields after every step,
    // so they take turns ("requeued behind the tasks already waiting").
    let flavors = [Flavor::CurrentThread, Flavor::MultiThread(1)];
    each(&flavors, |rt, flavor| {
        for lifo in [true, false] {
            let mut b = flavor.builder();
            if !lifo {
                b.disable_lifo_slot();
            }
            let rt2 = if flavor.is_multi() { b.build().unwrap() } else { Flavor::CurrentThread.build() };
            let log = Arc::new(Mutex::new(String::new()));
            let tasks = three_yielders(&log);
            let hs = rt2
                .block_on(
                    rt2.spawn(async move { tasks.into_iter().map(tern_runtime::spawn).collect::<Vec<_>>() }),
                )
                .unwrap();
            rt2.block_on(async {
                for h in hs {
                    h.await.unwrap();
                }
            });
            let log = log.lock().unwrap().clone();
            let what = format!("{flavor:?} lifo={lifo}");
            assert_takes_turns(&log, &what);
            if !flavor.is_multi() || !lifo {
                assert_eq!(log, "abcabcabc", "{what}");
            } else {
                // The last task spawned from a worker sits in the LIFO slot and runs first.
                assert_eq!(log, "cabcabcab", "{what}");
            }
        }
        drop(rt);
    });
}

#[test]
fn yield_now_round_robin_remote() {
    // The same, spawned from outside the runtime (remote queue / injector).
    each(&[Flavor::MultiThread(1), Flavor::CurrentThread], |rt, flavor| {
        let log = Arc::new(Mutex::new(String::new()));
        // Multi-thread: keep the single worker busy until all three are queued,
        // so they are waiting together.
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let blocker = flavor.is_multi().then(|| {
            let (in_tx, in_rx) = std::sync::mpsc::channel::<()>();
            let b = rt.spawn(async move {
                in_tx.send(()).unwrap();
                release_rx.recv_timeout(LIMIT).unwrap();
            });
            in_rx.recv_timeout(LIMIT).unwrap();
            b
        });
        let hs: Vec<_> = three_yielders(&log).into_iter().map(|t| rt.spawn(t)).collect();
        let _ = release_tx.send(());
        rt.block_on(async {
            for h in hs {
                h.await.unwrap();
            }
            if let Some(b) = blocker {
                b.await.unwrap();
            }
        });
        let log = log.lock().unwrap().clone();
        assert_takes_turns(&log, &format!("{flavor:?}"));
        assert_eq!(log, "abcabcabc", "{flavor:?}");
    });
}

#[test]
fn remote_task_waits_at_most_a_global_queue_interval_behind_yielders() {
    // The weaker, bounded form of the test above: tasks yielding in a loop on
    // the local queue let a task waiting in the remote queue / injector run
    // within about `global_queue_interval` ticks.
    const INTERVAL: u32 = 31;
    each(&[Flavor::MultiThread(1), Flavor::CurrentThread], |_, flavor| {
        let rt = flavor.builder().global_queue_interval(INTERVAL).build().unwrap();
        let flag = Arc::new(AtomicBool::new(false));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let blocker = flavor.is_multi().then(|| {
            let (in_tx, in_rx) = std::sync::mpsc::channel::<()>();
            let b = rt.spawn(async move {
                in_tx.send(()).unwrap();
                release_rx.recv_timeout(LIMIT).unwrap();
            });
            in_rx.recv_timeout(LIMIT).unwrap();
            b
        });
        let yielders: Vec<_> = (0..2)
            .map(|_| {
                let flag = flag.clone();
                rt.spawn(async move {
                    let mut n = 0u32;
                    while !flag.load(SeqCst) && n < 100_000 {
                        n += 1;
                        yield_now().await;
                    }
                    n
                })
            })
            .collect();
        let f = flag.clone();
        let waiting = rt.spawn(async move { f.store(true, SeqCst) });
        let _ = release_tx.send(());
        let counts = rt.block_on(async {
            waiting.await.unwrap();
            if let Some(b) = blocker {
                b.await.unwrap();
            }
            let mut counts = Vec::new();
            for y in yielders {
                counts.push(y.await.unwrap());
            }
            counts
        });
        for n in counts {
            assert!(n <= 2 * INTERVAL + 2, "{flavor:?}: a yielder ran {n} times before the waiting task");
        }
    });
}

#[test]
fn lifo_ping_pong_cannot_starve_the_queue() {
    each(&[Flavor::CurrentThread, Flavor::MultiThread(1), Flavor::MultiThread(2)], |rt, flavor| {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicUsize::new(0));
        let side_done = Arc::new(AtomicBool::new(false));
        let (tx_p, mut rx_p) = mpsc::unbounded::<()>();
        let (tx_q, mut rx_q) = mpsc::unbounded::<()>();
        let (s1, r1, d1) = (stop.clone(), rounds.clone(), side_done.clone());
        let s2 = stop.clone();
        // Start the pair from inside a task, so their wakes use the LIFO slot.
        let (p, q) = rt
            .block_on(rt.spawn(async move {
                let p = tern_runtime::spawn(async move {
                    for _ in 0..50_000_000u64 {
                        if s1.load(SeqCst) {
                            break;
                        }
                        tx_q.unbounded_send(()).unwrap();
                        if rx_p.next().await.is_none() {
                            break;
                        }
                        let r = r1.fetch_add(1, SeqCst);
                        if r == 2000 {
                            // Spawned from inside the pair: lands in the LIFO slot.
                            let d1 = d1.clone();
                            tern_runtime::spawn(async move { d1.store(true, SeqCst) });
                        }
                    }
                });
                let q = tern_runtime::spawn(async move {
                    while rx_q.next().await.is_some() {
                        if s2.load(SeqCst) {
                            break;
                        }
                        if tx_p.unbounded_send(()).is_err() {
                            break;
                        }
                    }
                });
                (p, q)
            }))
            .unwrap();

        let r = rounds.clone();
        let started = rt.block_on(timeout(LIMIT, signal_when(LIMIT, move || r.load(SeqCst) >= 1000)));
        assert_eq!(started, Ok(true), "{flavor:?}: the ping-pong pair never got going");

        // A task spawned from outside must complete while the pair keeps going.
        let before = rounds.load(SeqCst);
        let start = Instant::now();
        let outside = rt.block_on(timeout(Duration::from_secs(5), rt.spawn(async { 7 })));
        let took = start.elapsed();
        assert_eq!(outside.map(|r| r.unwrap()), Ok(7), "{flavor:?}: starved by the ping-pong pair");
        assert!(took < Duration::from_secs(2), "{flavor:?}: outside task took {took:?}");

        let d = side_done.clone();
        let side = rt.block_on(timeout(Duration::from_secs(5), signal_when(LIMIT, move || d.load(SeqCst))));
        assert_eq!(side, Ok(true), "{flavor:?}: the task spawned from inside the pair starved");
        // The pair is still going (it was not the pair that stalled).
        let r = rounds.clone();
        let going = rt.block_on(timeout(LIMIT, signal_when(LIMIT, move || r.load(SeqCst) > before + 100)));
        assert_eq!(going, Ok(true), "{flavor:?}: the ping-pong pair stalled");

        stop.store(true, SeqCst);
        let joined = rt.block_on(timeout(LIMIT, async {
            p.await.unwrap();
            q.await.unwrap();
        }));
        assert_eq!(joined, Ok(()));
    });
}

#[test]
fn local_spawn_chain_cannot_starve_remote_tasks() {
    // A task that keeps spawning its successor on the local queue (LIFO slot)
    // must not keep tasks from the injector/remote queue waiting.
    each(&[Flavor::CurrentThread, Flavor::MultiThread(1)], |rt, flavor| {
        let stop = Arc::new(AtomicBool::new(false));
        let links = Arc::new(AtomicUsize::new(0));

        fn link(stop: Arc<AtomicBool>, links: Arc<AtomicUsize>) {
            if stop.load(SeqCst) || links.fetch_add(1, SeqCst) > 50_000_000 {
                return;
            }
            tern_runtime::spawn(async move { link(stop, links) });
        }

        let (s, l) = (stop.clone(), links.clone());
        rt.spawn(async move { link(s, l) });
        let l = links.clone();
        let started = rt.block_on(timeout(LIMIT, signal_when(LIMIT, move || l.load(SeqCst) >= 1000)));
        assert_eq!(started, Ok(true));

        // From another thread (remote queue / injector), while the chain runs.
        let h = rt.handle().clone();
        let jh = std::thread::spawn(move || h.spawn(async { 9 })).join().unwrap();
        let r = rt.block_on(timeout(Duration::from_secs(5), jh));
        assert_eq!(r.map(|r| r.unwrap()), Ok(9), "{flavor:?}: the remote task starved");
        stop.store(true, SeqCst);
    });
}
