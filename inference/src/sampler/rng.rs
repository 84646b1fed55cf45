//! The sampler's random numbers: xoshiro256++ (Blackman & Vigna, 2019) with its state
//! filled by SplitMix64 from a `u64` seed — the same construction as `rand`'s
//! `Xoshiro256PlusPlus::seed_from_u64`, written out here so that a seed gives the same
//! tokens on every platform and every version of tern, whatever `rand` does next.
//! Uniform `f64`s take the top 53 bits.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// SplitMix64's golden-ratio increment.
const PHI: u64 = 0x9e37_79b9_7f4a_7c15;

/// One SplitMix64 step: advances `state` and returns the mixed output.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(PHI);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xoshiro256++: 256 bits of state, period 2^256 - 1.
#[derive(Debug, Clone)]
pub(crate) struct Xoshiro256pp {
    s: [u64; 4],
}

impl Xoshiro256pp {
    /// The generator for `seed` (four SplitMix64 outputs; never the all-zero state,
    /// SplitMix64 being a bijection of distinct counter values).
    pub(crate) fn seed_from_u64(mut seed: u64) -> Self {
        let s = [(); 4].map(|()| splitmix64(&mut seed));
        Xoshiro256pp { s }
    }

    /// A seed that differs between processes and calls: the process's random hasher keys
    /// (from the OS) mixed with the clock.
    pub(crate) fn entropy_seed() -> u64 {
        let mut h = RandomState::new().build_hasher();
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        h.write_u128(nanos);
        h.finish()
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in `[0, 1)`, a multiple of 2^-53.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference() {
        // The first outputs of SplitMix64 from state 0 (Vigna's splitmix64.c).
        let mut s = 0;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut s), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(splitmix64(&mut s), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn matches_rand_xoshiro256plusplus() {
        use rand::{RngCore, SeedableRng};
        // `rand`'s SmallRng is xoshiro256++ with the same SplitMix64 seeding on 64-bit
        // targets; an independent implementation to compare with (not a dependency).
        if cfg!(target_pointer_width = "64") {
            for seed in [0, 1, 42, u64::MAX] {
                let mut ours = Xoshiro256pp::seed_from_u64(seed);
                let mut theirs = rand::rngs::SmallRng::seed_from_u64(seed);
                for _ in 0..1000 {
                    assert_eq!(ours.next_u64(), theirs.next_u64(), "seed {seed}");
                }
            }
        }
    }

    #[test]
    fn pinned_outputs() {
        // Pinned so that a change to the generator (which would change every seeded
        // generation) cannot go unnoticed.
        let mut r = Xoshiro256pp::seed_from_u64(42);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(got, PINNED_42);
    }

    const PINNED_42: [u64; 3] = [15021278609987233951, 5881210131331364753, 18149643915985481100];

    #[test]
    fn f64_in_unit_interval() {
        let mut r = Xoshiro256pp::seed_from_u64(7);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        assert!((sum / 10_000.0 - 0.5).abs() < 0.02);
    }
}
