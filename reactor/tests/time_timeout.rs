//! `timeout` / `timeout_at`.

mod time_support;

use std::error::Error;
use std::future::{pending, ready};
use std::time::Duration;

use tern_reactor::time::{self, Elapsed, Instant};
use time_support::{block_on, DriverThread};

const MS: Duration = Duration::from_millis(1);

#[test]
fn ok_when_the_future_completes_first() {
    let driver = DriverThread::start();
    let _guard = driver.handle.enter();
    let start = Instant::now();
    let result = block_on(time::timeout(Duration::from_secs(2), async {
        time::sleep(10 * MS).await;
        7
    }));
    assert_eq!(result, Ok(7));
    assert!(start.elapsed() >= 10 * MS && start.elapsed() < Duration::from_secs(1));
    assert_eq!(driver.handle.armed(), 0, "the timeout's timer is removed with it");
}

#[test]
fn err_when_the_deadline_passes_first() {
    let driver = DriverThread::start();
    let _guard = driver.handle.enter();
    let start = Instant::now();
    let result = block_on(time::timeout(10 * MS, time::sleep(Duration::from_secs(5))));
    let elapsed = start.elapsed();
    assert_eq!(result.unwrap_err().to_string(), "deadline has elapsed");
    assert!(elapsed >= 10 * MS && elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(driver.handle.armed(), 0, "the inner sleep is dropped with the timeout");

    let start = Instant::now();
    let result = block_on(time::timeout_at(start + 15 * MS, pending::<()>()));
    assert!(result.is_err());
    assert!(start.elapsed() >= 15 * MS);
}

#[test]
fn the_inner_future_is_polled_first() {
    let driver = DriverThread::start();
    let _guard = driver.handle.enter();
    assert_eq!(block_on(time::timeout(Duration::ZERO, ready(1))), Ok(1));
    assert_eq!(block_on(time::timeout_at(Instant::now() - MS, async { 2 })), Ok(2));
    assert_eq!(driver.handle.armed(), 0);
}

#[test]
fn elapsed_is_an_error() {
    let driver = DriverThread::start();
    let _guard = driver.handle.enter();
    let err: Elapsed = block_on(time::timeout(MS, pending::<()>())).unwrap_err();
    assert_eq!(err.to_string(), "deadline has elapsed");
    let boxed: Box<dyn Error + Send + Sync> = Box::new(err);
    assert!(boxed.source().is_none());
}

#[test]
fn accessors() {
    let driver = DriverThread::start();
    let _guard = driver.handle.enter();
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut t = time::timeout_at(deadline, ready(3));
    assert_eq!(t.deadline(), deadline);
    let _inner: &std::future::Ready<i32> = t.get_ref();
    let inner: &mut std::future::Ready<i32> = t.get_mut();
    assert_eq!(block_on(inner), 3);
    let t = time::timeout_at(deadline, ready(4));
    assert_eq!(block_on(t.into_inner()), 4);
    assert_eq!(driver.handle.armed(), 0);
}
