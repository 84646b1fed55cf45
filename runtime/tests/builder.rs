//! `Builder` settings seen from real threads: names, start/stop hooks, worker
//! counts and the remaining knobs.

mod common;

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use tern_runtime::{numbered_thread_names, Builder, Runtime};

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn thread_name_is_visible_inside_tasks() {
    with_deadline("thread_name", BODY_DEADLINE, || {
        let rt = Builder::new_multi_thread().worker_threads(3).thread_name("my-pool").build().unwrap();
        let names = rt.block_on(async {
            let hs: Vec<_> = (0..100)
                .map(|_| {
                    tern_runtime::spawn(async {
                        tern_runtime::yield_now().await;
                        thread::current().name().map(str::to_owned)
                    })
                })
                .collect();
            let mut names = HashSet::new();
            for h in hs {
                names.insert(h.await.unwrap());
            }
            names
        });
        assert_eq!(names, HashSet::from([Some("my-pool".to_string())]));

        // The default name.
        let rt = Flavor::MultiThread(1).build();
        let name = rt.block_on(rt.spawn(async { thread::current().name().map(str::to_owned) })).unwrap();
        assert_eq!(name.as_deref(), Some("tern-worker"));
    });
}

#[test]
fn thread_name_fn_names_each_worker() {
    with_deadline("thread_name_fn", BODY_DEADLINE, || {
        let started = Arc::new(Mutex::new(HashSet::new()));
        let s = started.clone();
        let rt = Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name_fn(numbered_thread_names("pool"))
            .on_thread_start(move || {
                s.lock().unwrap().insert(thread::current().name().unwrap().to_string());
            })
            .build()
            .unwrap();
        assert!(wait_until(LIMIT, || started.lock().unwrap().len() == 4));
        let expected: HashSet<String> = (0..4).map(|i| format!("pool-{i}")).collect();
        assert_eq!(*started.lock().unwrap(), expected);

        // Tasks run on threads carrying those names.
        let seen = rt.block_on(async {
            let hs: Vec<_> = (0..200)
                .map(|_| {
                    tern_runtime::spawn(async {
                        spin_for(Duration::from_micros(20));
                        thread::current().name().unwrap().to_string()
                    })
                })
                .collect();
            let mut seen = HashSet::new();
            for h in hs {
                seen.insert(h.await.unwrap());
            }
            seen
        });
        assert!(!seen.is_empty() && seen.is_subset(&expected), "{seen:?}");

        // A custom closure.
        let n = Arc::new(AtomicUsize::new(10));
        let rt2 = Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name_fn(move || format!("custom-{}", n.fetch_add(1, SeqCst)))
            .build()
            .unwrap();
        let name = rt2.block_on(rt2.spawn(async { thread::current().name().unwrap().to_string() })).unwrap();
        assert!(name == "custom-10" || name == "custom-11", "{name}");
    });
}

thread_local! {
    static STARTED_HERE: Cell<bool> = const { Cell::new(false) };
}

#[derive(Clone, Copy, Debug)]
enum Stop {
    Drop,
    Timeout,
}

#[test]
fn start_and_stop_hooks_run_once_per_worker() {
    for stop in [Stop::Drop, Stop::Timeout] {
        for n in [1, 2, 4] {
            with_deadline(&format!("{n} workers, {stop:?}"), BODY_DEADLINE, move || {
                let starts = Arc::new(AtomicUsize::new(0));
                let stops = Arc::new(AtomicUsize::new(0));
                let start_threads = Arc::new(Mutex::new(Vec::new()));
                let stop_threads = Arc::new(Mutex::new(Vec::new()));
                let (s1, s2, t1, t2) =
                    (starts.clone(), stops.clone(), start_threads.clone(), stop_threads.clone());
                let rt = Builder::new_multi_thread()
                    .worker_threads(n)
                    .on_thread_start(move || {
                        STARTED_HERE.with(|c| c.set(true));
                        t1.lock().unwrap().push(thread::current().id());
                        s1.fetch_add(1, SeqCst);
                    })
                    .on_thread_stop(move || {
                        // Runs on the worker thread itself, after its last task.
                        assert!(STARTED_HERE.with(Cell::get));
                        t2.lock().unwrap().push(thread::current().id());
                        s2.fetch_add(1, SeqCst);
                    })
                    .build()
                    .unwrap();
                // Every task runs on a thread whose start hook already ran.
                let all_started = rt.block_on(async {
                    let hs: Vec<_> = (0..200)
                        .map(|_| {
                            tern_runtime::spawn(async {
                                tern_runtime::yield_now().await;
                                STARTED_HERE.with(Cell::get)
                            })
                        })
                        .collect();
                    let mut all = true;
                    for h in hs {
                        all &= h.await.unwrap();
                    }
                    all
                });
                assert!(all_started);
                assert!(wait_until(LIMIT, || starts.load(SeqCst) == n));
                assert_eq!(stops.load(SeqCst), 0, "a worker stopped early");
                match stop {
                    Stop::Drop => drop(rt),
                    Stop::Timeout => rt.shutdown_timeout(Duration::from_secs(5)),
                }
                // By the time shutdown returns, every worker has run its stop hook.
                assert_eq!(starts.load(SeqCst), n);
                assert_eq!(stops.load(SeqCst), n);
                let mut a = start_threads.lock().unwrap().clone();
                let mut b = stop_threads.lock().unwrap().clone();
                a.sort_by_key(|t| format!("{t:?}"));
                b.sort_by_key(|t| format!("{t:?}"));
                assert_eq!(a, b, "stop hooks ran on the same threads as the start hooks");
                assert_eq!(a.iter().collect::<HashSet<_>>().len(), n);
            });
        }
    }
}

#[test]
fn default_worker_count_is_available_parallelism() {
    with_deadline("default workers", BODY_DEADLINE, || {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        let rt = Runtime::new().unwrap();
        assert_eq!(rt.metrics().num_workers(), cores);
        let rt = Builder::new_multi_thread().build().unwrap();
        assert_eq!(rt.metrics().num_workers(), cores);
        assert_eq!(Runtime::new_current_thread().metrics().num_workers(), 1);
    });
}

#[test]
#[should_panic(expected = "worker_threads must be at least 1")]
fn zero_worker_threads_panics() {
    Builder::new_multi_thread().worker_threads(0);
}

#[test]
fn other_settings_build_working_runtimes() {
    with_deadline("settings", BODY_DEADLINE, || {
        let mut b = Builder::new_multi_thread();
        b.worker_threads(2).enable_all();
        assert!(b.io_enabled() && b.time_enabled());
        assert!(format!("{b:?}").contains("Builder"));
        let rt = b.build().unwrap();
        assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);

        let b = Builder::new_current_thread();
        assert!(!b.io_enabled() && !b.time_enabled());

        // Extreme intervals still run everything.
        for flavor in [Flavor::CurrentThread, Flavor::MultiThread(2)] {
            let rt = flavor
                .builder()
                .event_interval(1)
                .global_queue_interval(1)
                .thread_stack_size(4 << 20)
                .build()
                .unwrap();
            let s = rt.block_on(async {
                let hs: Vec<_> = (0..1000u64)
                    .map(|i| {
                        tern_runtime::spawn(async move {
                            tern_runtime::yield_now().await;
                            i
                        })
                    })
                    .collect();
                let mut s = 0;
                for h in hs {
                    s += h.await.unwrap();
                }
                s
            });
            assert_eq!(s, 999 * 1000 / 2, "{flavor:?}");
        }
        // Zero is clamped to one.
        let rt = Builder::new_current_thread().event_interval(0).global_queue_interval(0).build().unwrap();
        assert_eq!(rt.block_on(rt.spawn(async { 2 })).unwrap(), 2);

        // A large stack is really there: a deep recursion that needs ~2 MiB.
        let rt = Builder::new_multi_thread().worker_threads(1).thread_stack_size(16 << 20).build().unwrap();
        fn deep(n: u32) -> u64 {
            let pad = std::hint::black_box([n as u8; 1024]);
            if n == 0 {
                u64::from(pad[0])
            } else {
                deep(n - 1) + u64::from(pad[1])
            }
        }
        assert_eq!(
            rt.block_on(rt.spawn(async { deep(2000) })).unwrap(),
            (1..=2000u64).map(|n| n % 256).sum::<u64>()
        );
    });
}
