//! Many timers: 1,000,000 concurrent sleeps (100,000 in debug builds) registered, fired and
//! dropped; and fire racing drop across threads.

mod time_support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use tern_reactor::time::{Instant, Sleep};
use time_support::{poll_once, CountingWaker, DriverThread};

fn count() -> usize {
    if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    }
}

#[test]
fn many_concurrent_sleeps_register_fire_and_drop() {
    let n = count();
    let driver = DriverThread::start();
    let handle = &driver.handle;
    let counter = CountingWaker::new();
    let waker = Waker::from(counter.clone());

    // Deadlines spread over 50 ms, in no particular order, starting late enough that all are
    // registered before the first one is due.
    let base = Instant::now() + Duration::from_millis(500);
    let t = Instant::now();
    let mut sleeps: Vec<Sleep> = (0..n as u64)
        .map(|i| handle.sleep_until(base + Duration::from_micros((i * 7919) % 50_000)))
        .collect();
    for sleep in &mut sleeps {
        assert!(poll_once(sleep, &waker).is_pending());
    }
    let registered = t.elapsed();
    assert_eq!(handle.armed(), n);
    assert!(Instant::now() < base, "registration took {registered:?}");

    let give_up = Instant::now() + Duration::from_secs(30);
    while counter.count() < n && Instant::now() < give_up {
        thread::sleep(Duration::from_millis(5));
    }
    let fired = t.elapsed();
    assert_eq!(counter.count(), n);
    assert_eq!(driver.fired.load(Ordering::Relaxed), n);
    assert_eq!(handle.armed(), 0);
    for sleep in &mut sleeps {
        assert!(Instant::now() >= sleep.deadline());
        assert_eq!(poll_once(sleep, &waker), Poll::Ready(()));
    }
    drop(sleeps);
    let done = t.elapsed();
    eprintln!("{n} sleeps: registered in {registered:?}, all fired by {fired:?}, dropped by {done:?}");

    // Registered, then dropped before firing: nothing fires, nothing is left.
    let before = counter.count();
    let mut sleeps: Vec<Sleep> =
        (0..n as u64).map(|i| handle.sleep(Duration::from_millis(500 + i % 1000))).collect();
    for sleep in &mut sleeps {
        assert!(poll_once(sleep, &waker).is_pending());
    }
    assert_eq!(handle.armed(), n);
    drop(sleeps);
    assert_eq!(handle.armed(), 0);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(counter.count(), before);
}

#[test]
fn fire_racing_drop() {
    let driver = DriverThread::start();
    let threads: Vec<_> = (0..4u64)
        .map(|seed| {
            let handle = driver.handle.clone();
            thread::spawn(move || {
                let waker = Waker::from(CountingWaker::new());
                let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let iterations = if cfg!(debug_assertions) { 5_000 } else { 20_000 };
                for _ in 0..iterations {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Deadlines within 0..2 ms: the driver fires some just as they are dropped.
                    let mut sleep = handle.sleep(Duration::from_micros(x % 2_000));
                    let _ = poll_once(&mut sleep, &waker);
                    if x % 3 == 0 {
                        thread::yield_now();
                    }
                    if x % 5 == 0 {
                        thread::sleep(Duration::from_micros(x % 1_500));
                        let _ = poll_once(&mut sleep, &waker);
                    }
                    drop(sleep);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(driver.handle.armed(), 0);
    // Wakers of dropped sleeps are released with their entries: only ours holds the counter.
    let counter = CountingWaker::new();
    assert_eq!(Arc::strong_count(&counter), 1);
}
