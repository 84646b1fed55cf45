//! `interval` / `interval_at` and the missed-tick behaviours, compared with tokio's
//! documented semantics (see `MissedTickBehavior`'s docs).
//!
//! The tests are timing-based, so they run one at a time (a shared lock) to keep the 2-core
//! CI machine from delaying ticks by more than the 5 ms "missed" threshold.

mod time_support;

use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use tern_reactor::time::{self, Instant, MissedTickBehavior};
use time_support::{block_on, DriverThread};

const MS: Duration = Duration::from_millis(1);
const PERIOD: Duration = Duration::from_millis(40);

static SERIAL: Mutex<()> = Mutex::new(());

/// Ticks at 0 (immediate), then blocks the thread for 140 ms (a slow consumer), then takes
/// four more ticks. Returns, for those four, (scheduled instant returned, completion time),
/// both as offsets from the interval's start.
fn slow_consumer(behavior: MissedTickBehavior) -> Vec<(Duration, Duration)> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let driver = DriverThread::start();
    let _guard = driver.handle.enter();
    let start = Instant::now();
    let mut interval = time::interval_at(start, PERIOD);
    interval.set_missed_tick_behavior(behavior);
    assert_eq!(interval.missed_tick_behavior(), behavior);
    block_on(async {
        assert_eq!(interval.tick().await, start);
        thread::sleep(140 * MS);
        let mut ticks = Vec::new();
        for _ in 0..4 {
            let tick = interval.tick().await;
            ticks.push((tick - start, start.elapsed()));
        }
        ticks
    })
}

fn near(actual: Duration, expected_ms: u32, slack_ms: u32) -> bool {
    actual >= expected_ms * MS && actual <= (expected_ms + slack_ms) * MS
}

#[test]
fn burst_catches_up_on_the_original_schedule() {
    let ticks = slow_consumer(MissedTickBehavior::Burst);
    let returned: Vec<_> = ticks.iter().map(|t| t.0).collect();
    assert_eq!(returned, [40 * MS, 80 * MS, 120 * MS, 160 * MS], "{ticks:?}");
    // The three missed ticks complete at once (at ~140 ms), the next on schedule.
    for &(_, done) in &ticks[..3] {
        assert!(near(done, 140, 30), "{ticks:?}");
    }
    assert!(near(ticks[3].1, 160, 30), "{ticks:?}");
}

#[test]
fn delay_restarts_the_schedule_from_the_late_tick() {
    let ticks = slow_consumer(MissedTickBehavior::Delay);
    assert_eq!(ticks[0].0, 40 * MS, "{ticks:?}");
    assert!(near(ticks[0].1, 140, 30), "{ticks:?}");
    // Next tick one period after the late one completed (~140 ms): ~180, then every 40 ms.
    assert!(ticks[1].0 <= ticks[0].1 + PERIOD, "{ticks:?}");
    assert!(near(ticks[1].0, 180, 30), "{ticks:?}");
    for pair in ticks[1..].windows(2) {
        assert!(pair[1].0 >= pair[0].0 + PERIOD, "{ticks:?}");
        assert!(pair[1].0 <= pair[0].0 + PERIOD + 30 * MS, "{ticks:?}");
    }
    for &(at, done) in &ticks {
        assert!(done >= at, "{ticks:?}");
    }
}

#[test]
fn skip_drops_the_missed_ticks() {
    let ticks = slow_consumer(MissedTickBehavior::Skip);
    let returned: Vec<_> = ticks.iter().map(|t| t.0).collect();
    // 80 and 120 are skipped: the next tick is the first on the original grid after ~140 ms.
    assert_eq!(returned, [40 * MS, 160 * MS, 200 * MS, 240 * MS], "{ticks:?}");
    assert!(near(ticks[0].1, 140, 30), "{ticks:?}");
    for &(at, done) in &ticks[1..] {
        assert!(done >= at && done <= at + 30 * MS, "{ticks:?}");
    }
}

#[test]
fn first_tick_is_immediate_then_every_period() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let driver = DriverThread::start();
    let _guard = driver.handle.enter();
    let start = Instant::now();
    let mut interval = time::interval(PERIOD);
    assert_eq!(interval.period(), PERIOD);
    assert_eq!(interval.missed_tick_behavior(), MissedTickBehavior::Burst, "the default");
    block_on(async {
        let first = interval.tick().await;
        assert!(start.elapsed() < 5 * MS);
        for k in 1..4u32 {
            let tick = interval.tick().await;
            assert_eq!(tick, first + k * PERIOD);
            assert!(Instant::now() >= tick);
            assert!(Instant::now() < tick + 30 * MS);
        }
    });
}

#[test]
fn reset_restarts_the_schedule() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let driver = DriverThread::start();
    let _guard = driver.handle.enter();
    let mut interval = time::interval(PERIOD);
    block_on(async {
        interval.tick().await;
        thread::sleep(10 * MS);
        let reset_at = Instant::now();
        interval.reset();
        let tick = interval.tick().await;
        assert!(tick >= reset_at + PERIOD && Instant::now() >= reset_at + PERIOD);

        let before = Instant::now();
        interval.reset_immediately();
        let tick = interval.tick().await;
        assert!(tick >= before && before.elapsed() < 5 * MS);

        let at = Instant::now() + 15 * MS;
        interval.reset_at(at);
        assert_eq!(interval.tick().await, at);
        assert!(Instant::now() >= at);
        assert_eq!(interval.tick().await, at + PERIOD);
    });
    assert_eq!(driver.handle.armed(), 0);
}

#[test]
#[should_panic(expected = "`period` must be non-zero.")]
fn a_zero_period_panics() {
    let driver = DriverThread::start();
    let _guard = driver.handle.enter();
    let _ = time::interval(Duration::ZERO);
}
