//! Timers: the hierarchical timer wheel and the async timer layer on top of it.
//!
//! - [`sleep`], [`sleep_until`] ([`Sleep`]), [`timeout`], [`timeout_at`] ([`Timeout`],
//!   [`Elapsed`]), [`interval`], [`interval_at`] ([`Interval`], [`MissedTickBehavior`]): the
//!   futures, on the current thread's timer driver ([`Handle::current`]).
//! - [`Driver`] / [`Handle`]: the timer state shared by those futures, and the two calls an
//!   executor makes to drive it: [`Handle::next_expiration`] (its park timeout) and
//!   [`Handle::process`] (fire what is due), plus [`Handle::set_unpark`] (wake the parked
//!   driver when a timer is armed earlier than it planned to wake).
//! - [`Wheel`]: the synchronous data structure underneath.
//!
//! # Async layer
//!
//! A [`Handle`] shares one `parking_lot::Mutex<Wheel<Waker>>` and a start `Instant`; deadlines
//! become whole milliseconds since the start, rounded up, and [`Handle::process`] polls the
//! wheel up to now rounded down, so a timer never fires early. A [`Sleep`] is registered
//! lazily, on its first poll (a deadline already past completes without touching the wheel),
//! keeps its [`TimerKey`], refreshes its waker on later pending polls (only if the stored one
//! would not wake the same task), re-arms in place on [`Sleep::reset`], and removes its entry
//! on drop. Firing removes entries under the lock and wakes their wakers after releasing it;
//! a `Sleep` learns it fired because its key has gone stale. Wakers replaced or removed are
//! likewise dropped outside the lock, and the unpark hook is called outside it.
//!
//! # Wheel design
//!
//! Time is a `u64` count of whole milliseconds since the wheel was created; the caller
//! converts `Instant`s (rounding deadlines *up*, so a timer never fires early). The wheel has
//! [`LEVELS`] = 6 levels of [`SLOTS`] = 64 slots; a slot of level `L` covers `64^L` ms, so
//! level 0 has 1 ms slots and the whole wheel spans [`RANGE_MS`] = `64^6` ms = 2^36 ms (about
//! 2.18 years).
//!
//! Slots are aligned to absolute time, not to the insertion time. Writing a time in base 64,
//! digit `L` selects the slot at level `L`. An entry with deadline `d`, while the wheel's
//! clock reads `elapsed`, lives at the level of the most significant base-64 digit in which
//! `d` and `elapsed` differ (`63 - leading_zeros(d ^ elapsed)` divided by 6), in the slot given
//! by `d`'s digit at that level. Every entry in a level-0 slot is due exactly at that slot's
//! millisecond; an entry at a higher level is *cascaded* when the clock reaches the start of
//! its slot: it is re-placed relative to the new clock and lands on a strictly lower level
//! (or fires, if its deadline is that very millisecond). An entry is therefore touched at most
//! once per level on its way down, six times in all, which is what makes
//! [`Wheel::poll`] amortized `O(expired + cascaded)`.
//!
//! Each level keeps a 64-bit occupancy bitmap (bit `s` set iff slot `s` is non-empty), so the
//! next occupied slot after the clock is `rotate_right` plus `trailing_zeros`, never a scan,
//! and [`Wheel::next_expiration`] costs `O(LEVELS)`. Entries live in a [`slab::Slab`]; each
//! slot is an intrusive doubly-linked list threaded through the entries (`prev`/`next` slab
//! indices), so insertion, removal and re-arming are `O(1)` and allocation-free once the slab
//! has grown. Keys carry a generation number, so a key whose entry fired or was removed can
//! never touch a later entry that reuses the same slab index.
//!
//! The top level is a ring: at the top level, a slot whose digit is at or before the clock's
//! digit stands for the *next* 2^36 ms block. Deadlines more than [`RANGE_MS`] ahead do not
//! fit; they are clamped into the top level (the slot given by their top digit, which comes
//! round within [`RANGE_MS`]), and each time that slot comes due they are re-placed, until
//! their deadline is within range and they cascade normally. Every deadline less than
//! `elapsed + RANGE_MS` is placed exactly.
//!
//! Deadlines at or before the clock (`deadline <= elapsed`) go to a separate "overdue" list
//! that the next [`Wheel::poll`] drains first.
//!
//! # Sources
//!
//! - G. Varghese and T. Lauck, "Hashed and Hierarchical Timing Wheels: Data Structures for the
//!   Efficient Implementation of a Timer Facility", SOSP 1987 (journal version: IEEE/ACM
//!   Transactions on Networking 5(6), 1997). Scheme 7 there is the hierarchical wheel used
//!   here: one wheel per time unit, with timers migrating to finer wheels as time advances.
//! - The classic Linux kernel timer wheel (`kernel/timer.c` before Linux 4.8: a 256-slot
//!   `tv1` plus four 64-slot vectors `tv2`..`tv5`, with `cascade()` moving a coarse bucket
//!   down whenever the finer wheel wraps). Linux 4.8 replaced it with a non-cascading wheel
//!   (`kernel/time/timer.c`) that instead lets long timers lose precision; tern keeps
//!   cascading because it must fire at millisecond precision at any range.
//! - tokio's timer wheel (`tokio/src/runtime/time/wheel/{mod,level}.rs`), which uses the same
//!   6 x 64 geometry, the "highest differing digit" level computation, per-level occupancy
//!   bitmaps and the top-level ring. This module follows those ideas but is its own code; it
//!   differs in keeping entries in a slab with generational keys rather than in intrusive
//!   pinned nodes, in accepting past deadlines (overdue list), and in its catch-up path for a
//!   single poll that jumps over a whole top-level rotation.

mod driver;
mod interval;
mod sleep;
mod timeout;
mod wheel;

pub use self::driver::{Driver, EnterGuard, Handle, UnparkFn};
pub use self::interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use self::sleep::{sleep, sleep_until, Sleep};
pub use self::timeout::{timeout, timeout_at, Elapsed, Timeout};
pub use self::wheel::{TimerKey, Wheel, LEVELS, RANGE_MS, SLOTS};

/// The instant type of every timer API here: a re-export of [`std::time::Instant`], not a
/// wrapper. The driver's clock is `std::time::Instant` (monotonic), so deadlines from any
/// source (`Instant::now() + d`, hyper, other crates) can be passed without conversion, and
/// there is no mocked or paused clock to abstract over (tern has no test-time control).
pub use std::time::Instant;

/// Internals exposed for the loom models in `loom-tests/` (only with `--cfg loom`).
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    /// Fires every timer due at or before `now_ms` (ms since the handle's start).
    pub fn process_at(handle: &super::Handle, now_ms: u64) -> usize {
        handle.process_at(now_ms)
    }
}
