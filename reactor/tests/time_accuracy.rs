//! Accuracy of `sleep(10 ms)` with a parked driver thread: never early, and the p99 of the
//! lateness. The spec target is [10 ms, 12 ms] at p99 on an idle machine, measured by
//! `benches/src/bin/timer_accuracy.rs` (tern vs tokio); this test only checks "never early"
//! and a gross bound (a timer that waits for an unrelated wake-up is seconds late), since CI
//! machines are shared. The distribution is printed.

mod time_support;

use std::time::Duration;

use tern_reactor::time::{self, Instant};
use time_support::{block_on, DriverThread};

#[test]
fn sleep_10ms_accuracy() {
    let driver = DriverThread::start();
    let _guard = driver.handle.enter();
    let runs = 200;
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            // Start each sleep at a random phase of the driver's millisecond grid (back to back,
            // each would start just after the boundary its predecessor fired on, and always
            // lose nearly a whole millisecond to rounding up).
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            std::thread::sleep(Duration::from_micros(x % 1000));
            let start = Instant::now();
            block_on(time::sleep(Duration::from_millis(10)));
            start.elapsed()
        })
        .collect();
    samples.sort_unstable();
    let pct = |p: usize| samples[(runs * p / 100).min(runs - 1)];
    eprintln!(
        "sleep(10ms) over {runs} runs: min {:?}, p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        samples[0],
        pct(50),
        pct(90),
        pct(99),
        samples[runs - 1]
    );
    assert!(samples[0] >= Duration::from_millis(10), "a sleep completed early: {:?}", samples[0]);
    assert!(pct(99) < Duration::from_millis(1000), "p99 {:?}", pct(99));
}
