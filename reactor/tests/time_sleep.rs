//! `Sleep`: ordering, never early, drop before firing, reset, the unpark hook, the
//! thread-local handle.

mod time_support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use tern_reactor::time::{self, Driver, Handle, Instant, Interval, Sleep, Timeout, Wheel};
use time_support::{block_on, poll_once, CountingWaker, DriverThread};

const MS: Duration = Duration::from_millis(1);

#[test]
fn types_are_send_sync_unpin() {
    fn check<T: Send + Sync + Unpin>() {}
    check::<Sleep>();
    check::<Interval>();
    check::<Timeout<std::future::Ready<()>>>();
    check::<Handle>();
    check::<Driver>();
    fn check_send<T: Send>() {}
    check_send::<Timeout<Pin<Box<dyn Future<Output = ()> + Send>>>>();
}

#[test]
fn sleeps_fire_in_deadline_order() {
    let driver = DriverThread::start();
    let log = Arc::new(Mutex::new(Vec::new()));
    let offsets = [35u32, 5, 25, 15, 40, 10, 30, 20];
    let now = Instant::now();
    let mut sleeps: Vec<(Sleep, Waker)> = offsets
        .iter()
        .map(|&ms| {
            let waker = Waker::from(CountingWaker::logging(ms as usize, log.clone()));
            (driver.handle.sleep_until(now + ms * MS), waker)
        })
        .collect();
    for (sleep, waker) in &mut sleeps {
        assert!(poll_once(sleep, waker).is_pending());
    }
    assert_eq!(driver.handle.armed(), offsets.len());
    let give_up = Instant::now() + Duration::from_secs(5);
    while log.lock().unwrap().len() < offsets.len() && Instant::now() < give_up {
        thread::sleep(5 * MS);
    }
    let mut sorted = offsets.to_vec();
    sorted.sort_unstable();
    assert_eq!(*log.lock().unwrap(), sorted.iter().map(|&ms| ms as usize).collect::<Vec<_>>());
    for (sleep, waker) in &mut sleeps {
        assert!(Instant::now() >= sleep.deadline());
        assert!(sleep.is_elapsed());
        assert_eq!(poll_once(sleep, waker), Poll::Ready(()));
    }
    assert_eq!(driver.handle.armed(), 0);
}

#[test]
fn one_process_fires_a_batch_in_deadline_order() {
    // No driver thread: process by hand after every deadline has passed.
    let driver = Driver::new();
    let handle = driver.handle();
    let log = Arc::new(Mutex::new(Vec::new()));
    let now = Instant::now();
    let mut sleeps: Vec<(Sleep, Waker)> = [9u32, 3, 7, 1, 5]
        .iter()
        .map(|&ms| {
            let waker = Waker::from(CountingWaker::logging(ms as usize, log.clone()));
            (handle.sleep_until(now + ms * MS), waker)
        })
        .collect();
    for (sleep, waker) in &mut sleeps {
        assert!(poll_once(sleep, waker).is_pending());
    }
    assert!(driver.next_expiration().unwrap() <= now + 2 * MS);
    thread::sleep(12 * MS);
    assert_eq!(driver.process(), 5);
    assert_eq!(*log.lock().unwrap(), [1, 3, 5, 7, 9]);
    assert_eq!(driver.process(), 0);
    assert_eq!(driver.next_expiration(), None);
}

#[test]
fn sleep_is_never_early() {
    let driver = DriverThread::start();
    let _guard = driver.handle.enter();
    for ms in [1u32, 2, 3, 5, 7, 10] {
        for _ in 0..5 {
            let start = Instant::now();
            block_on(time::sleep(ms * MS));
            let elapsed = start.elapsed();
            assert!(elapsed >= ms * MS, "sleep({ms} ms) completed after {elapsed:?}");
            assert!(elapsed < ms * MS + Duration::from_millis(200), "sleep({ms} ms) took {elapsed:?}");
        }
    }
}

#[test]
fn a_past_deadline_completes_without_registering() {
    let driver = Driver::new();
    let handle = driver.handle();
    let waker = Waker::from(CountingWaker::new());
    let mut sleep = handle.sleep_until(Instant::now() - MS);
    assert!(!sleep.is_elapsed());
    assert_eq!(poll_once(&mut sleep, &waker), Poll::Ready(()));
    assert!(sleep.is_elapsed());
    assert_eq!(handle.armed(), 0);
    let mut zero = handle.sleep(Duration::ZERO);
    assert_eq!(poll_once(&mut zero, &waker), Poll::Ready(()));
    assert_eq!(handle.armed(), 0);
}

#[test]
fn registration_is_lazy_and_drop_removes() {
    let driver = DriverThread::start();
    let counter = CountingWaker::new();
    let waker = Waker::from(counter.clone());
    let mut sleep = driver.handle.sleep(30 * MS);
    assert_eq!(driver.handle.armed(), 0, "not registered before its first poll");
    assert!(poll_once(&mut sleep, &waker).is_pending());
    assert!(poll_once(&mut sleep, &waker).is_pending(), "a second poll does not register twice");
    assert_eq!(driver.handle.armed(), 1);
    drop(sleep);
    assert_eq!(driver.handle.armed(), 0);
    thread::sleep(80 * MS);
    assert_eq!(counter.count(), 0, "a dropped sleep's waker is never called");
    assert_eq!(driver.fired.load(Ordering::Relaxed), 0);
}

#[test]
fn a_new_waker_replaces_the_old_one() {
    let driver = DriverThread::start();
    let (first, second) = (CountingWaker::new(), CountingWaker::new());
    let mut sleep = driver.handle.sleep(20 * MS);
    assert!(poll_once(&mut sleep, &Waker::from(first.clone())).is_pending());
    assert!(poll_once(&mut sleep, &Waker::from(second.clone())).is_pending());
    thread::sleep(80 * MS);
    assert_eq!((first.count(), second.count()), (0, 1));
    assert_eq!(poll_once(&mut sleep, &Waker::from(second)), Poll::Ready(()));
}

#[test]
fn reset_rearms_earlier_and_later() {
    let driver = DriverThread::start();
    let handle = &driver.handle;

    // Earlier, in place: the waker stored by the first poll is woken without a new poll.
    let counter = CountingWaker::new();
    let mut sleep = handle.sleep(Duration::from_secs(5));
    assert!(poll_once(&mut sleep, &Waker::from(counter.clone())).is_pending());
    let start = Instant::now();
    Pin::new(&mut sleep).reset(start + 20 * MS);
    assert_eq!(sleep.deadline(), start + 20 * MS);
    let give_up = Instant::now() + Duration::from_secs(5);
    while counter.count() == 0 && Instant::now() < give_up {
        thread::sleep(MS);
    }
    let elapsed = start.elapsed();
    assert_eq!(counter.count(), 1);
    assert!(elapsed >= 20 * MS && elapsed < Duration::from_secs(1), "{elapsed:?}");
    block_on(&mut sleep);

    // Later.
    let mut sleep = handle.sleep(10 * MS);
    assert!(poll_once(&mut sleep, &Waker::from(CountingWaker::new())).is_pending());
    let start = Instant::now();
    Pin::new(&mut sleep).reset(start + 60 * MS);
    block_on(&mut sleep);
    assert!(start.elapsed() >= 60 * MS, "{:?}", start.elapsed());
    assert_eq!(handle.armed(), 0);

    // After completing: re-registers on the next poll.
    let start = Instant::now();
    Pin::new(&mut sleep).reset(start + 20 * MS);
    assert!(!sleep.is_elapsed());
    block_on(&mut sleep);
    assert!(start.elapsed() >= 20 * MS);

    // Before the first poll: just moves the deadline.
    let mut sleep = handle.sleep(Duration::from_secs(5));
    let start = Instant::now();
    Pin::new(&mut sleep).reset(start + 15 * MS);
    block_on(&mut sleep);
    assert!(start.elapsed() >= 15 * MS && start.elapsed() < Duration::from_secs(1));

    // Fired but not yet polled: the stale key is dropped and the sleep re-registers.
    let counter = CountingWaker::new();
    let mut sleep = handle.sleep(5 * MS);
    assert!(poll_once(&mut sleep, &Waker::from(counter.clone())).is_pending());
    thread::sleep(40 * MS);
    assert_eq!(counter.count(), 1);
    assert!(sleep.is_elapsed());
    let start = Instant::now();
    Pin::new(&mut sleep).reset(start + 20 * MS);
    assert!(!sleep.is_elapsed());
    block_on(&mut sleep);
    assert!(start.elapsed() >= 20 * MS);
    assert_eq!(handle.armed(), 0);
}

#[test]
fn an_earlier_deadline_unparks_the_driver() {
    let driver = DriverThread::start();
    let _guard = driver.handle.enter();
    // The driver parks on this one (or on the start of its coarse wheel slot, >= 64 ms away).
    let mut long = time::sleep(Duration::from_millis(500));
    assert!(poll_once(&mut long, &Waker::from(CountingWaker::new())).is_pending());
    thread::sleep(30 * MS);
    let before = driver.unparks.load(Ordering::SeqCst);
    let start = Instant::now();
    block_on(time::sleep(10 * MS));
    let elapsed = start.elapsed();
    assert!(driver.unparks.load(Ordering::SeqCst) > before, "the unpark hook was not called");
    assert!(elapsed >= 10 * MS && elapsed < 30 * MS, "the earlier sleep took {elapsed:?}");
    // A later deadline than the one the driver is parked on does not unpark it.
    thread::sleep(5 * MS);
    let before = driver.unparks.load(Ordering::SeqCst);
    let mut later = time::sleep(Duration::from_secs(10));
    assert!(poll_once(&mut later, &Waker::from(CountingWaker::new())).is_pending());
    assert_eq!(driver.unparks.load(Ordering::SeqCst), before);
}

#[test]
fn next_expiration_tracks_the_earliest_deadline() {
    let driver = Driver::new();
    let handle = driver.handle();
    assert_eq!(handle.next_expiration(), None);
    let waker = Waker::from(CountingWaker::new());
    let deadline = Instant::now() + 30 * MS;
    let mut sleep = handle.sleep_until(deadline);
    assert!(poll_once(&mut sleep, &waker).is_pending());
    let next = handle.next_expiration().unwrap();
    assert!(next <= deadline + MS, "{next:?} vs {deadline:?}");
    assert!(next > Instant::now() - MS);
    drop(sleep);
    assert_eq!(handle.next_expiration(), None);
}

#[test]
fn enter_sets_and_restores_the_current_handle() {
    assert!(Handle::try_current().is_none());
    let (a, b) = (Driver::new(), Driver::new());
    {
        let _ga = a.handle().enter();
        assert!(Handle::current().ptr_eq(a.handle()));
        {
            let _gb = b.handle().enter();
            assert!(Handle::current().ptr_eq(b.handle()));
            assert!(time::sleep(MS).handle().ptr_eq(b.handle()));
        }
        assert!(Handle::current().ptr_eq(a.handle()));
        // Other threads do not see it.
        thread::spawn(|| assert!(Handle::try_current().is_none())).join().unwrap();
    }
    assert!(Handle::try_current().is_none());
}

#[test]
#[should_panic(expected = "no timer driver")]
fn sleep_outside_a_driver_panics() {
    drop(time::sleep(MS));
}

#[test]
fn wheel_get_mut_reaches_live_entries_only() {
    let mut wheel = Wheel::new();
    let key = wheel.insert(5, 1u32);
    *wheel.get_mut(key).unwrap() += 1;
    assert_eq!(wheel.remove(key), Some(2));
    assert!(wheel.get_mut(key).is_none());
}
