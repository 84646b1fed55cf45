//! The per-worker poll-time histogram: log-scale buckets from about 1 µs.
//!
//! Bucket 0 holds polls shorter than 1,024 ns; bucket `b` (1 ≤ b < last) holds
//! polls in `[2^(b-1), 2^b) × 1,024 ns`; the last bucket holds everything longer.
//! Powers of two of 1,024 ns keep the bucket index a shift and a
//! `leading_zeros`, with no division on the worker.

use std::ops::Range;
use std::time::Duration;

use crate::loom::{AtomicU64, Ordering::Relaxed};

/// Number of buckets: the last one starts at 2^14 × 1,024 ns ≈ 16.8 ms.
pub(crate) const NUM_BUCKETS: usize = 16;

/// log2 of the first bucket's width in nanoseconds (1,024 ns ≈ 1 µs).
const FIRST_BUCKET_SHIFT: u32 = 10;

/// One worker's counters; written by that worker alone.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    buckets: [AtomicU64; NUM_BUCKETS],
}

impl Histogram {
    /// Counts one poll that took `nanos` nanoseconds.
    #[inline]
    pub(crate) fn record(&self, nanos: u64) {
        super::bump(&self.buckets[bucket_of(nanos)]);
    }

    pub(crate) fn count(&self, bucket: usize) -> u64 {
        self.buckets[bucket].load(Relaxed)
    }
}

/// The bucket a poll of `nanos` nanoseconds falls in.
#[inline]
pub(crate) fn bucket_of(nanos: u64) -> usize {
    let units = nanos >> FIRST_BUCKET_SHIFT;
    let bucket = (u64::BITS - units.leading_zeros()) as usize;
    bucket.min(NUM_BUCKETS - 1)
}

/// The durations bucket `bucket` covers (the last one ends at `Duration::MAX`).
///
/// # Panics
/// If `bucket >= NUM_BUCKETS`.
pub(crate) fn bucket_range(bucket: usize) -> Range<Duration> {
    assert!(bucket < NUM_BUCKETS, "poll-time histogram bucket {bucket} out of range");
    let edge =
        |b: usize| Duration::from_nanos(if b == 0 { 0 } else { 1 << (FIRST_BUCKET_SHIFT as usize + b - 1) });
    let end = if bucket == NUM_BUCKETS - 1 { Duration::MAX } else { edge(bucket + 1) };
    edge(bucket)..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_their_ranges() {
        for nanos in [0, 1, 1023, 1024, 2047, 2048, 5_000_000, 16_777_215, 16_777_216, u64::MAX] {
            let b = bucket_of(nanos);
            assert!(bucket_range(b).contains(&Duration::from_nanos(nanos)), "{nanos} ns in bucket {b}");
        }
        assert_eq!(bucket_of(1023), 0);
        assert_eq!(bucket_of(1024), 1);
        assert_eq!(bucket_of(u64::MAX), NUM_BUCKETS - 1);
    }
}
