//! Unit and differential tests for the timer wheel.

use std::collections::{BTreeMap, HashMap};

use super::*;

/// xorshift64* — a tiny seeded generator, good enough to drive the tests.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The reference: armed timers ordered by `(deadline, arming sequence)`.
#[derive(Default)]
struct Model {
    armed: BTreeMap<(u64, u64), (TimerKey, u64)>,
    by_key: HashMap<TimerKey, (u64, u64)>,
    seq: u64,
    elapsed: u64,
}

impl Model {
    fn arm(&mut self, key: TimerKey, deadline: u64, value: u64) {
        self.seq += 1;
        self.armed.insert((deadline, self.seq), (key, value));
        self.by_key.insert(key, (deadline, self.seq));
    }

    fn remove(&mut self, key: TimerKey) -> Option<u64> {
        let at = self.by_key.remove(&key)?;
        Some(self.armed.remove(&at).unwrap().1)
    }

    fn reset(&mut self, key: TimerKey, deadline: u64) -> bool {
        match self.remove(key) {
            Some(value) => {
                self.arm(key, deadline, value);
                true
            }
            None => false,
        }
    }

    fn poll(&mut self, now: u64) -> Vec<(TimerKey, u64)> {
        let now = now.max(self.elapsed);
        self.elapsed = now;
        let mut fired = Vec::new();
        while let Some(entry) = self.armed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (key, value) = entry.remove();
            self.by_key.remove(&key);
            fired.push((key, value));
        }
        fired
    }

    fn earliest(&self) -> Option<u64> {
        self.armed.keys().next().map(|&(d, _)| d)
    }
}

/// Checks the structural invariants: every entry is in the list `list_for(elapsed, deadline)`,
/// the lists are well linked, and the bitmaps match the lists.
fn check_structure<T>(wheel: &Wheel<T>) {
    let mut count = 0;
    for (list, head) in wheel.lists.iter().enumerate() {
        if list != OVERDUE {
            let bit = wheel.occupied[list / SLOTS] >> (list % SLOTS) & 1;
            assert_eq!(bit == 1, head.head != NIL, "bitmap of list {list}");
        }
        let mut prev = NIL;
        let mut cur = head.head;
        while cur != NIL {
            let entry = &wheel.entries[cur];
            assert_eq!(entry.prev, prev);
            assert_eq!(entry.list, list);
            if list != OVERDUE {
                assert_eq!(
                    list_for(wheel.elapsed, entry.deadline),
                    list,
                    "entry with deadline {} misplaced at elapsed {}",
                    entry.deadline,
                    wheel.elapsed
                );
            }
            count += 1;
            prev = cur;
            cur = entry.next;
        }
        assert_eq!(head.tail, prev);
    }
    assert_eq!(count, wheel.len());
}

/// Checks the `next_expiration` contract against the model.
fn check_next_expiration(wheel: &Wheel<u64>, model: &Model) {
    match (wheel.next_expiration(), model.earliest()) {
        (None, None) => {}
        (Some(next), Some(earliest)) => {
            let elapsed = wheel.elapsed();
            assert!(next >= elapsed, "next_expiration {next} before elapsed {elapsed}");
            assert!(
                next <= earliest.max(elapsed),
                "next_expiration {next} after earliest deadline {earliest} (elapsed {elapsed})"
            );
            // Exact when the earliest entry sits on level 0 (same 64 ms block, in the future).
            if earliest > elapsed && (earliest ^ elapsed) < SLOTS as u64 {
                assert_eq!(next, earliest, "level-0 expiration must be exact (elapsed {elapsed})");
            }
        }
        (w, m) => panic!("next_expiration {w:?} but model earliest {m:?}"),
    }
}

/// Level-boundary offsets: 64^L - 1, 64^L, 64^L + 1 for every level, plus the range edges.
fn boundary_offsets() -> Vec<u64> {
    let mut v = vec![0, 1];
    for level in 1..=LEVELS as u32 {
        let p = 1u64 << (LEVEL_BITS * level);
        v.extend([p - 1, p, p + 1]);
    }
    v.extend([RANGE_MS + (1 << 30), 2 * RANGE_MS, RANGE_MS << 10]);
    v
}

/// A deadline relative to `elapsed`, drawn from a mix exercising every level.
fn pick_deadline(rng: &mut Rng, elapsed: u64, boundaries: &[u64]) -> u64 {
    match rng.below(16) {
        0 => elapsed.saturating_sub(rng.below(2000)), // overdue (or now)
        1 => elapsed,
        2..=4 => elapsed.saturating_add(1 + rng.below(64)),
        5..=6 => elapsed.saturating_add(rng.below(5_000)),
        7..=8 => elapsed.saturating_add(rng.below(1 << 24)),
        9 => elapsed.saturating_add(rng.below(1 << 34)),
        10 => elapsed.saturating_add(rng.below(RANGE_MS << 2)), // in and beyond range
        11 => elapsed.saturating_add(boundaries[rng.below(boundaries.len() as u64) as usize]),
        12 => {
            // An absolute boundary just after the clock: the next multiple of 64^L, +-1.
            let level = 1 + rng.below(LEVELS as u64) as u32;
            let p = 1u64 << (LEVEL_BITS * level);
            let next = (elapsed / p).saturating_add(1).saturating_mul(p);
            next.saturating_add(rng.below(3)).saturating_sub(1)
        }
        13 => u64::MAX - rng.below(3),
        _ => elapsed.saturating_add(rng.below(300)),
    }
}

/// The randomized differential test: `ops` random operations from `start` (the wheel is
/// first polled to `start`), comparing every result with the model.
fn differential(seed: u64, start: u64, ops: usize) {
    let mut rng = Rng::new(seed);
    let boundaries = boundary_offsets();
    let mut wheel = Wheel::new();
    let mut model = Model::default();
    let mut out = Vec::new();
    wheel.poll(start, &mut out);
    model.poll(start);
    assert!(out.is_empty());
    let mut keys: Vec<TimerKey> = Vec::new();
    let mut next_value = 0u64;

    for op in 0..ops {
        match rng.below(20) {
            0..=8 => {
                let deadline = pick_deadline(&mut rng, wheel.elapsed(), &boundaries);
                next_value += 1;
                let key = wheel.insert(deadline, next_value);
                model.arm(key, deadline, next_value);
                keys.push(key);
            }
            9..=11 if !keys.is_empty() => {
                // Any key ever issued: live or stale.
                let key = keys[rng.below(keys.len() as u64) as usize];
                assert_eq!(wheel.remove(key), model.remove(key), "op {op}: remove");
            }
            12..=13 if !keys.is_empty() => {
                let key = keys[rng.below(keys.len() as u64) as usize];
                let deadline = pick_deadline(&mut rng, wheel.elapsed(), &boundaries);
                assert_eq!(wheel.reset(key, deadline), model.reset(key, deadline), "op {op}: reset");
            }
            _ => {
                let elapsed = wheel.elapsed();
                let now = match rng.below(12) {
                    0 => elapsed,
                    1..=3 => elapsed.saturating_add(rng.below(70)),
                    4..=5 => elapsed.saturating_add(rng.below(10_000)),
                    6 => elapsed.saturating_add(rng.below(1 << 28)),
                    7 => elapsed.saturating_add(rng.below(RANGE_MS << 1)),
                    8 => elapsed.saturating_sub(rng.below(100)), // back in time: ignored
                    9 => wheel.next_expiration().unwrap_or(elapsed),
                    10 => wheel.next_expiration().unwrap_or(elapsed).saturating_sub(1),
                    _ => elapsed.saturating_add(boundaries[rng.below(boundaries.len() as u64) as usize]),
                };
                out.clear();
                wheel.poll(now, &mut out);
                let expected = model.poll(now);
                assert_eq!(out, expected, "op {op}: poll({now}) from {elapsed}");
                assert_eq!(wheel.elapsed(), model.elapsed);
                // Stale after firing.
                for &(key, _) in &out {
                    assert_eq!(wheel.deadline(key), None);
                }
            }
        }
        assert_eq!(wheel.len(), model.by_key.len(), "op {op}: len");
        if ops <= 3_000 || op % 64 == 0 {
            check_structure(&wheel);
        }
        check_next_expiration(&wheel, &model);
    }

    // Drain everything, following next_expiration like a driver would, except that a stretch
    // of more than a rotation with nothing due is skipped in one poll (a driver would wake
    // once per rotation there: fine in real time, 2^28 polls to reach u64::MAX here).
    let (mut polls, left) = (0, wheel.len());
    while let Some(next) = wheel.next_expiration() {
        let earliest = model.earliest().unwrap();
        let now = if earliest.saturating_sub(next) >= RANGE_MS { earliest } else { next };
        out.clear();
        wheel.poll(now, &mut out);
        assert_eq!(out, model.poll(now));
        check_next_expiration(&wheel, &model);
        polls += 1;
    }
    check_structure(&wheel);
    assert!(polls <= 2 * LEVELS * (left + 1), "{polls} polls to drain {left} entries");
    assert!(wheel.is_empty());
    assert!(model.armed.is_empty());
    // A final huge poll fires nothing and leaves everything consistent.
    out.clear();
    wheel.poll(u64::MAX, &mut out);
    assert!(out.is_empty());
}

#[test]
fn differential_from_zero() {
    for seed in 1..=8 {
        differential(seed, 0, 20_000);
    }
}

#[test]
fn differential_from_odd_offsets() {
    // Start mid-way through the ring at various levels, near a 2^36 block end, and near the
    // end of u64 time (saturation).
    let starts = [
        12_345,
        RANGE_MS - 1_000,
        RANGE_MS * 7 + (63 << 30) + 17,
        u64::MAX / 2,
        u64::MAX - RANGE_MS - 5,
        u64::MAX - 100_000,
    ];
    for (i, &start) in starts.iter().enumerate() {
        differential(100 + i as u64, start, 10_000);
    }
}

#[test]
fn empty_wheel() {
    let mut wheel: Wheel<()> = Wheel::new();
    assert!(wheel.is_empty());
    assert_eq!(wheel.len(), 0);
    assert_eq!(wheel.next_expiration(), None);
    let mut out = Vec::new();
    wheel.poll(1_000, &mut out);
    assert!(out.is_empty());
    assert_eq!(wheel.elapsed(), 1_000);
    wheel.poll(10, &mut out); // back in time: ignored
    assert_eq!(wheel.elapsed(), 1_000);
    assert!(format!("{wheel:?}").contains("elapsed: 1000"));
}

#[test]
fn deadline_now_and_past_fire_on_next_poll() {
    let mut wheel = Wheel::new();
    let mut out = Vec::new();
    wheel.poll(500, &mut out);
    let now = wheel.insert(500, "now");
    let past = wheel.insert(100, "past");
    let zero = wheel.insert(0, "zero");
    let later = wheel.insert(501, "later");
    assert_eq!(wheel.next_expiration(), Some(500));
    // Polling without advancing the clock (or going back) still returns the overdue ones,
    // sorted by deadline.
    wheel.poll(400, &mut out);
    assert_eq!(out, vec![(zero, "zero"), (past, "past"), (now, "now")]);
    assert_eq!(wheel.elapsed(), 500);
    assert_eq!(wheel.next_expiration(), Some(501));
    out.clear();
    wheel.poll(501, &mut out);
    assert_eq!(out, vec![(later, "later")]);
}

/// Inserting at clock 0, an entry at `deadline` fires in `poll(deadline)`, not before, and a
/// driver following `next_expiration` reaches it in at most `LEVELS` polls.
#[test]
fn level_boundaries() {
    let p = |level: u32| 1u64 << (LEVEL_BITS * level);
    let deadlines = [
        1,
        63,
        64,
        65,
        4095,
        4096,
        4097,
        p(3) - 1,
        p(3),
        p(4) - 1,
        p(4),
        p(5) - 1,
        p(5),
        p(5) + 1,
        RANGE_MS - 1,
        RANGE_MS,
        RANGE_MS + 1,
        RANGE_MS + p(5),
        2 * RANGE_MS,
        u64::MAX - 1,
        u64::MAX,
    ];
    for &deadline in &deadlines {
        // Not before...
        let mut wheel = Wheel::new();
        let key = wheel.insert(deadline, deadline);
        let mut out = Vec::new();
        wheel.poll(deadline - 1, &mut out);
        assert!(out.is_empty(), "{deadline} fired at {}", deadline - 1);
        assert_eq!(wheel.deadline(key), Some(deadline));
        assert!(wheel.next_expiration().unwrap() <= deadline);
        wheel.poll(deadline, &mut out);
        assert_eq!(out, vec![(key, deadline)]);
        assert!(wheel.is_empty());

        // ...and reachable through next_expiration in few steps (plus one per rotation for
        // far deadlines; not followed to u64::MAX, which would take 2^28 polls).
        if deadline > 4 * RANGE_MS {
            continue;
        }
        let mut wheel = Wheel::new();
        let key = wheel.insert(deadline, deadline);
        let mut polls = 0;
        while out.len() < 2 {
            let next = wheel.next_expiration().unwrap();
            assert!(next <= deadline);
            wheel.poll(next, &mut out);
            polls += 1;
        }
        assert_eq!(out[1], (key, deadline));
        assert_eq!(wheel.elapsed(), deadline);
        let bound = LEVELS as u64 + deadline / RANGE_MS;
        assert!(polls <= bound, "deadline {deadline}: {polls} polls > {bound}");
    }
}

#[test]
fn every_deadline_in_a_window_fires_exactly() {
    // Step 1 ms at a time across level-1 and level-2 boundaries; each entry must fire in the
    // poll whose `now` equals its deadline.
    let mut wheel = Wheel::new();
    let mut out = Vec::new();
    wheel.poll(4_000, &mut out);
    for d in 4_000..4_300u64 {
        wheel.insert(d, d);
        wheel.insert(d + 1_000_000, d + 1_000_000);
    }
    for now in 4_000..4_300u64 {
        out.clear();
        wheel.poll(now, &mut out);
        assert_eq!(out.iter().map(|&(_, v)| v).collect::<Vec<_>>(), vec![now]);
    }
    for now in (1_004_000..1_004_300u64).step_by(7) {
        out.clear();
        wheel.poll(now, &mut out);
        let values: Vec<u64> = out.iter().map(|&(_, v)| v).collect();
        let lo = if now == 1_004_000 { 1_004_000 } else { now - 6 };
        assert_eq!(values, (lo..=now).collect::<Vec<_>>());
    }
}

#[test]
fn ties_fire_in_arming_order() {
    let mut wheel = Wheel::new();
    let a = wheel.insert(5_000, 'a');
    let b = wheel.insert(5_000, 'b');
    let c = wheel.insert(9_000, 'c');
    let mut out = Vec::new();
    wheel.poll(3_000, &mut out); // cascades 5_000 down a level
    let d = wheel.insert(5_000, 'd');
    assert!(wheel.reset(a, 5_000)); // re-armed: now after d
    assert!(wheel.reset(c, 5_000));
    wheel.poll(5_000, &mut out);
    assert_eq!(out, vec![(b, 'b'), (d, 'd'), (a, 'a'), (c, 'c')]);
}

#[test]
fn remove_and_reset() {
    let mut wheel = Wheel::new();
    let a = wheel.insert(100, 1);
    let b = wheel.insert(200, 2);
    assert_eq!(wheel.len(), 2);
    assert_eq!(wheel.remove(a), Some(1));
    assert_eq!(wheel.remove(a), None);
    assert!(!wheel.reset(a, 50));
    assert_eq!(wheel.next_expiration().unwrap(), 192); // level 1 slot start of 200
    assert!(wheel.reset(b, 10));
    assert_eq!(wheel.next_expiration(), Some(10));
    assert_eq!(wheel.deadline(b), Some(10));
    let mut out = Vec::new();
    wheel.poll(9, &mut out);
    assert!(out.is_empty());
    // Reset into the past: due on the next poll.
    assert!(wheel.reset(b, 3));
    assert_eq!(wheel.next_expiration(), Some(9));
    wheel.poll(9, &mut out);
    assert_eq!(out, vec![(b, 2)]);
    // Removing or resetting after fire.
    assert_eq!(wheel.remove(b), None);
    assert!(!wheel.reset(b, 1_000));
    assert!(wheel.is_empty());
    assert_eq!(wheel.next_expiration(), None);
}

#[test]
fn stale_key_after_slot_reuse() {
    let mut wheel = Wheel::new();
    let old = wheel.insert(10, "old");
    assert_eq!(wheel.remove(old), Some("old"));
    let new = wheel.insert(20, "new");
    assert_eq!(old.index, new.index, "slab slot reused");
    assert_ne!(old, new);
    assert_eq!(wheel.remove(old), None);
    assert!(!wheel.reset(old, 5));
    assert_eq!(wheel.deadline(old), None);
    assert_eq!(wheel.deadline(new), Some(20));

    // Same after firing.
    let mut out = Vec::new();
    wheel.poll(20, &mut out);
    assert_eq!(out, vec![(new, "new")]);
    let newer = wheel.insert(30, "newer");
    assert_eq!(newer.index, new.index);
    assert_eq!(wheel.remove(new), None);
    assert_eq!(wheel.remove(old), None);
    assert_eq!(wheel.remove(newer), Some("newer"));
}

#[test]
fn far_future_entries_are_clamped_and_recascaded() {
    let mut wheel = Wheel::new();
    let far = 5 * RANGE_MS + 12_345;
    let key = wheel.insert(far, ());
    let near = wheel.insert(RANGE_MS - 1, ());
    let mut out = Vec::new();
    // Step the clock in sub-range jumps; the far entry must survive every rotation.
    let mut now = 0;
    while now < far - 1 {
        now = (now + RANGE_MS / 3).min(far - 1);
        wheel.poll(now, &mut out);
        let next = wheel.next_expiration().unwrap();
        assert!(next > wheel.elapsed() && next <= far);
    }
    assert_eq!(out, vec![(near, ())]);
    assert_eq!(wheel.deadline(key), Some(far));
    wheel.poll(far, &mut out);
    assert_eq!(out[1], (key, ()));
}

#[test]
fn catch_up_over_many_rotations() {
    // One poll jumping across many rotations with far entries must be fast and exact.
    let mut wheel = Wheel::new();
    let mut rng = Rng::new(7);
    let mut model = Model::default();
    for i in 0..2_000u64 {
        let deadline = match i % 4 {
            0 => rng.next(),
            1 => rng.below(1 << 44),
            2 => u64::MAX - rng.below(3),
            _ => rng.below(1 << 20),
        };
        let key = wheel.insert(deadline, i);
        model.arm(key, deadline, i);
    }
    let mut out = Vec::new();
    for now in [1 << 40, 1 << 50, u64::MAX / 3, u64::MAX - 1, u64::MAX] {
        out.clear();
        wheel.poll(now, &mut out);
        assert_eq!(out, model.poll(now));
    }
    assert!(wheel.is_empty());
}

#[test]
fn one_million_entries() {
    const N: u64 = 1_000_000;
    let mut wheel = Wheel::with_capacity(N as usize);
    let mut rng = Rng::new(42);
    let mut keys = Vec::with_capacity(N as usize);
    let mut deadlines = Vec::with_capacity(N as usize);
    for i in 0..N {
        let deadline = rng.below(1 << 20);
        deadlines.push(deadline);
        keys.push(wheel.insert(deadline, i));
    }
    assert_eq!(wheel.len(), N as usize);
    let mut out = Vec::with_capacity(N as usize);
    // Half-way, then the rest.
    wheel.poll(1 << 19, &mut out);
    let first = out.len();
    wheel.poll(1 << 20, &mut out);
    assert_eq!(out.len(), N as usize);
    assert!(wheel.is_empty());
    // Sorted by deadline, ties in insertion (value) order, every value exactly once.
    let mut seen = vec![false; N as usize];
    let mut last = (0u64, 0u64);
    for (i, &(key, value)) in out.iter().enumerate() {
        assert_eq!(keys[value as usize], key);
        assert!(!std::mem::replace(&mut seen[value as usize], true));
        let deadline = deadlines[value as usize];
        assert!(deadline <= if i < first { 1 << 19 } else { 1 << 20 });
        if i > 0 {
            assert!((deadline, value) > last, "out of order at {i}");
        }
        last = (deadline, value);
    }
}

#[test]
fn driver_loop_is_amortized() {
    // Following next_expiration, each in-range entry costs at most LEVELS polls.
    let mut wheel = Wheel::new();
    let mut rng = Rng::new(3);
    let n = 3_000;
    for i in 0..n {
        wheel.insert(1 + rng.below(RANGE_MS - 1), i);
    }
    let mut out = Vec::new();
    let mut polls = 0;
    let mut last = 0;
    while let Some(next) = wheel.next_expiration() {
        assert!(next >= last);
        last = next;
        let before = out.len();
        wheel.poll(next, &mut out);
        // Exact expirations: whatever fired is due exactly at `next`.
        assert!(out.len() == before || wheel.elapsed() == next);
        polls += 1;
    }
    assert_eq!(out.len(), n as usize);
    assert!(polls <= LEVELS * n as usize, "{polls} polls for {n} entries");
}

#[test]
fn list_for_levels() {
    assert_eq!(list_for(10, 10), OVERDUE);
    assert_eq!(list_for(10, 3), OVERDUE);
    assert_eq!(list_for(0, 1), 1);
    assert_eq!(list_for(0, 63), 63);
    assert_eq!(list_for(0, 64), SLOTS + 1);
    assert_eq!(list_for(0, 4095), SLOTS + 63);
    assert_eq!(list_for(0, 4096), 2 * SLOTS + 1);
    assert_eq!(list_for(0, RANGE_MS - 1), TOP * SLOTS + 63);
    // Out of range: clamped into the top level at the deadline's top digit.
    assert_eq!(list_for(0, RANGE_MS), TOP * SLOTS);
    assert_eq!(list_for(0, u64::MAX), TOP * SLOTS + 63);
    // Same 64 ms block as the clock: level 0 even across the clock's own digit.
    assert_eq!(list_for(100, 127), 63);
    assert_eq!(list_for(127, 128), SLOTS + 2);
}

#[test]
fn differential_many_short_runs() {
    // Many seeds, with the full structural check after every operation.
    for seed in 1..=200 {
        differential(seed, 0, 300);
    }
}
