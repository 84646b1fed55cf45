//! Timers: the hierarchical timer wheel.
//!
//! This module holds the synchronous data structure, [`Wheel`]; the async layer (a `Sleep`
//! future that registers itself on first poll, stores a `Waker` per entry, removes its entry
//! on drop, and a driver that calls [`Wheel::poll`] and wakes the collected wakers outside the
//! lock) is built on top of it later.
//!
//! # Design
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

mod wheel;

pub use self::wheel::{TimerKey, Wheel, LEVELS, RANGE_MS, SLOTS};
