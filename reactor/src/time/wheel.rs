//! The hierarchical timer wheel; see the [module docs](super) for the design.

use std::fmt;

use slab::Slab;

/// Number of slots per level (and bits in each level's occupancy bitmap).
pub const SLOTS: usize = 64;

/// Number of levels. Level `L` has slots of `64^L` ms.
pub const LEVELS: usize = 6;

/// The span of the wheel in milliseconds: `64^6` ms = 2^36 ms, about 2.18 years. Every
/// deadline less than `elapsed + RANGE_MS` is placed exactly; later ones are clamped into the
/// top level and re-placed each time their slot comes round (see [`Wheel::insert`]).
pub const RANGE_MS: u64 = 1 << (LEVEL_BITS * LEVELS as u32);

/// log2(SLOTS): one base-64 digit.
const LEVEL_BITS: u32 = 6;
/// Mask of one base-64 digit.
const SLOT_MASK: u64 = SLOTS as u64 - 1;
/// The top level, the ring that also holds clamped out-of-range entries.
const TOP: usize = LEVELS - 1;
/// List index of the overdue list (entries armed with `deadline <= elapsed`).
const OVERDUE: usize = LEVELS * SLOTS;
/// Number of lists: one per slot, plus the overdue list.
const LISTS: usize = OVERDUE + 1;
/// The null link.
const NIL: usize = usize::MAX;

/// A handle to an entry of a [`Wheel`], returned by [`Wheel::insert`].
///
/// A key stays valid while its entry is armed, including across [`Wheel::reset`]; once the
/// entry fired or was removed, the key is *stale*: every method that takes it treats it as
/// absent, even after the slab slot was reused by a later entry (the key carries a
/// generation number that is never reused within one wheel).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TimerKey {
    index: usize,
    generation: u64,
}

/// One armed timer: the caller's value plus its place in a slot list.
struct Entry<T> {
    value: T,
    /// Deadline in ms since the wheel's start.
    deadline: u64,
    /// Must match the key's generation.
    generation: u64,
    /// Index of the list holding the entry (`level * SLOTS + slot`, or `OVERDUE`).
    list: usize,
    prev: usize,
    next: usize,
}

/// Head and tail of an intrusive list; entries are appended at the tail.
#[derive(Clone, Copy)]
struct List {
    head: usize,
    tail: usize,
}

const EMPTY: List = List { head: NIL, tail: NIL };

/// A hierarchical timer wheel: 6 levels x 64 slots, 1 ms resolution, holding a `T` per timer.
///
/// Time is whole milliseconds (`u64`) since the wheel's start; the wheel's clock,
/// [`elapsed`](Wheel::elapsed), only moves forward, and only in [`poll`](Wheel::poll).
///
/// Costs, with `n` the number of armed entries:
/// - [`insert`](Wheel::insert), [`remove`](Wheel::remove), [`reset`](Wheel::reset): `O(1)`
///   (amortized, for the slab's growth on insert).
/// - [`next_expiration`](Wheel::next_expiration): `O(LEVELS)` via the occupancy bitmaps.
/// - [`poll`](Wheel::poll): `O(LEVELS)` per occupied slot it reaches plus `O(1)` per entry it
///   fires or cascades; each entry cascades at most `LEVELS - 1` times once its deadline is
///   within [`RANGE_MS`], so over a wheel's life the cost is amortized
///   `O(LEVELS + expired + cascaded)` per poll. Out-of-range entries additionally cost one
///   re-placement per [`RANGE_MS`] of clock advance; see [`poll`](Wheel::poll) for the
///   catch-up path taken when one poll advances the clock by more than that. Entries armed
///   already overdue are sorted by deadline when fired: `O(r log r)` for `r` of them, linear
///   when they were armed in deadline order (the usual case: one, or all "now").
///
/// The async layer keeps the wheel behind a mutex with a `Waker` in `T`.
pub struct Wheel<T> {
    entries: Slab<Entry<T>>,
    /// `LISTS` lists: `level * SLOTS + slot`, then the overdue list.
    lists: Box<[List]>,
    /// Per level, bit `s` is set iff slot `s` of that level is non-empty.
    occupied: [u64; LEVELS],
    /// The wheel's clock, ms since start.
    elapsed: u64,
    /// Generation for the next insert; never reused.
    next_generation: u64,
    /// Reusable buffer for sorting the overdue list in `poll`.
    scratch: Vec<usize>,
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Wheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("elapsed", &self.elapsed)
            .field("len", &self.len())
            .field("next_expiration", &self.next_expiration())
            .finish_non_exhaustive()
    }
}

impl<T> Wheel<T> {
    /// Creates an empty wheel whose clock reads 0 ms. Does not allocate entry storage.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Creates an empty wheel whose clock reads 0 ms, with room for `capacity` entries
    /// before the entry slab reallocates.
    ///
    /// # Panics
    ///
    /// Panics if the allocation size overflows `isize::MAX` bytes (as `Vec::with_capacity`).
    pub fn with_capacity(capacity: usize) -> Self {
        Wheel {
            entries: Slab::with_capacity(capacity),
            lists: vec![EMPTY; LISTS].into_boxed_slice(),
            occupied: [0; LEVELS],
            elapsed: 0,
            next_generation: 0,
            scratch: Vec::new(),
        }
    }

    /// The wheel's clock: milliseconds since its start, as advanced by the last
    /// [`poll`](Wheel::poll) (0 before the first).
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of armed entries (inserted and neither fired nor removed).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is armed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Arms a timer due at `deadline_ms` (ms since the wheel's start) carrying `value`, and
    /// returns its key. `O(1)`.
    ///
    /// A deadline at or before [`elapsed`](Wheel::elapsed) is overdue: the next
    /// [`poll`](Wheel::poll) returns it, whatever its `now_ms`. A deadline `RANGE_MS` or more
    /// ahead of the clock (up to `u64::MAX`) is accepted: it is clamped into the top level and
    /// re-placed whenever its slot comes round (at most once per [`RANGE_MS`] of clock), until
    /// it is within range; it still fires exactly at its deadline.
    ///
    /// # Panics
    ///
    /// Only if the entry slab cannot grow (capacity overflow).
    pub fn insert(&mut self, deadline_ms: u64, value: T) -> TimerKey {
        let generation = self.next_generation;
        self.next_generation += 1;
        let index = self.entries.insert(Entry {
            value,
            deadline: deadline_ms,
            generation,
            list: NIL,
            prev: NIL,
            next: NIL,
        });
        self.link(index);
        TimerKey { index, generation }
    }

    /// Disarms the timer `key` and returns its value, or `None` if the key is stale (the
    /// entry already fired or was removed). `O(1)`.
    pub fn remove(&mut self, key: TimerKey) -> Option<T> {
        if !self.is_live(key) {
            return None;
        }
        self.unlink(key.index);
        Some(self.entries.remove(key.index).value)
    }

    /// Moves the armed timer `key` to `new_deadline_ms`, keeping its key and value; returns
    /// `false` (and does nothing) if the key is stale. `O(1)`.
    ///
    /// The new deadline is treated exactly as in [`insert`](Wheel::insert) (in the past: due
    /// on the next poll), and for tie-breaking the entry counts as armed now, after every
    /// entry armed before this call.
    pub fn reset(&mut self, key: TimerKey, new_deadline_ms: u64) -> bool {
        if !self.is_live(key) {
            return false;
        }
        self.unlink(key.index);
        self.entries[key.index].deadline = new_deadline_ms;
        self.link(key.index);
        true
    }

    /// The deadline of the armed timer `key` in ms, or `None` if the key is stale.
    pub fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.entries.get(key.index).filter(|e| e.generation == key.generation).map(|e| e.deadline)
    }

    /// A mutable reference to the value of the armed timer `key`, or `None` if the key is
    /// stale. `O(1)`; does not change the entry's deadline or its place in the wheel (the
    /// async layer uses it to refresh a timer's `Waker` in place).
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        self.entries.get_mut(key.index).filter(|e| e.generation == key.generation).map(|e| &mut e.value)
    }

    /// The earliest time, in ms since the wheel's start, at which [`poll`](Wheel::poll) may
    /// have work to do, or `None` if the wheel is empty. `O(LEVELS)`.
    ///
    /// When an entry is overdue this is [`elapsed`](Wheel::elapsed). Otherwise it is the start
    /// of the next occupied slot: exact (the earliest deadline) when that slot is on level 0,
    /// a lower bound (a poll at that time may only cascade) on higher levels. It is never
    /// earlier than `elapsed` and never later than the earliest armed deadline (or `elapsed`,
    /// if that deadline is overdue), so a driver can park until it and then poll.
    pub fn next_expiration(&self) -> Option<u64> {
        if self.lists[OVERDUE].head != NIL {
            return Some(self.elapsed);
        }
        self.next_slot().map(|(_, time)| time)
    }

    /// Advances the clock to `now_ms` and appends to `out` every entry whose deadline is at or
    /// before `now_ms`, as `(key, value)`; those entries are disarmed (their keys go stale).
    /// Existing contents of `out` are kept.
    ///
    /// The clock never goes back: a `now_ms` before [`elapsed`](Wheel::elapsed) is treated as
    /// `elapsed` (only overdue entries are returned).
    ///
    /// Order: the appended entries are sorted by deadline, and entries with equal deadlines
    /// come out in the order they were armed (by [`insert`](Wheel::insert), or by their
    /// latest [`reset`](Wheel::reset)).
    ///
    /// Cost: see [`Wheel`]. One case is slower: if the clock has to cross a whole top-level
    /// rotation ([`RANGE_MS`]) with only top-level entries left (a driver that slept for more
    /// than two years, or a jump to a far-future `now_ms`), the wheel jumps straight to
    /// `min(now_ms, earliest deadline)` by rescanning every armed entry instead of stepping
    /// the ring round and round: `O(n)` per distinct deadline fired that way.
    pub fn poll(&mut self, now_ms: u64, out: &mut Vec<(TimerKey, T)>) {
        let now = now_ms.max(self.elapsed);
        self.drain_overdue(out);
        while let Some((list, time)) = self.next_slot() {
            if time > now {
                break;
            }
            if list / SLOTS == TOP && time.checked_add(RANGE_MS).is_some_and(|t| t <= now) {
                self.catch_up(now, out);
                continue;
            }
            // `time` is the start of slot `list`: every entry there is due at or after it,
            // and nothing anywhere is due before it (it is the earliest occupied slot).
            self.elapsed = time;
            let mut cur = self.take(list);
            while cur != NIL {
                let next = self.entries[cur].next;
                if self.entries[cur].deadline <= time {
                    debug_assert_eq!(self.entries[cur].deadline, time);
                    self.fire(cur, out);
                } else {
                    self.link(cur);
                }
                cur = next;
            }
        }
        // No occupied slot starts in (elapsed, now]: every entry's placement relative to
        // `now` is the same as relative to `elapsed`.
        self.elapsed = now;
    }

    /// Whether `key` names an armed entry.
    fn is_live(&self, key: TimerKey) -> bool {
        self.entries.get(key.index).is_some_and(|e| e.generation == key.generation)
    }

    /// Fires the overdue list, stably sorted by deadline (so ties stay in arming order).
    fn drain_overdue(&mut self, out: &mut Vec<(TimerKey, T)>) {
        if self.lists[OVERDUE].head == NIL {
            return;
        }
        let mut order = std::mem::take(&mut self.scratch);
        let mut cur = self.take(OVERDUE);
        while cur != NIL {
            order.push(cur);
            cur = self.entries[cur].next;
        }
        // Already sorted in the common case (one overdue entry, or armed in order): then
        // the (stable, run-detecting) sort is linear.
        order.sort_by_key(|&i| self.entries[i].deadline);
        for &index in &order {
            self.fire(index, out);
        }
        order.clear();
        self.scratch = order;
    }

    /// The catch-up path of `poll`: only top-level entries are left and stepping through the
    /// ring would go round at least once more before `now`. Jumps the clock to
    /// `min(now, earliest deadline)`, fires what is due then, and re-places the rest.
    fn catch_up(&mut self, now: u64, out: &mut Vec<(TimerKey, T)>) {
        debug_assert!(self.occupied[..TOP].iter().all(|&o| o == 0));
        debug_assert_eq!(self.lists[OVERDUE].head, NIL);
        let mut heads = [NIL; SLOTS];
        let mut earliest = u64::MAX;
        let mut occupied = self.occupied[TOP];
        while occupied != 0 {
            let slot = occupied.trailing_zeros() as usize;
            occupied &= occupied - 1;
            heads[slot] = self.take(TOP * SLOTS + slot);
            let mut cur = heads[slot];
            while cur != NIL {
                earliest = earliest.min(self.entries[cur].deadline);
                cur = self.entries[cur].next;
            }
        }
        let target = earliest.min(now);
        debug_assert!(target > self.elapsed);
        self.elapsed = target;
        // All entries due at `target` share one list (placement depends only on the clock
        // and the deadline, and lists keep arming order), so firing list by list keeps ties
        // in arming order.
        for head in heads {
            let mut cur = head;
            while cur != NIL {
                let next = self.entries[cur].next;
                if self.entries[cur].deadline <= target {
                    self.fire(cur, out);
                } else {
                    self.link(cur);
                }
                cur = next;
            }
        }
    }

    /// The earliest occupied slot and the time it starts (its expiration): `O(LEVELS)`.
    fn next_slot(&self) -> Option<(usize, u64)> {
        let mut best: Option<(usize, u64)> = None;
        for level in 0..LEVELS {
            let occupied = self.occupied[level];
            if occupied == 0 {
                continue;
            }
            let shift = LEVEL_BITS * level as u32;
            let now_slot = ((self.elapsed >> shift) & SLOT_MASK) as u32;
            // First occupied slot after the clock's own, wrapping round. The clock's own slot
            // comes last: on the top level it stands for the next 2^36 ms block (the same
            // digit one rotation later), and on lower levels it is never occupied.
            let from = (now_slot + 1) % SLOTS as u32;
            let slot = (occupied.rotate_right(from).trailing_zeros() + from) % SLOTS as u32;
            let level_range = 1u64 << (shift + LEVEL_BITS);
            let level_start = self.elapsed & !(level_range - 1);
            let mut time = level_start + (u64::from(slot) << shift);
            if time <= self.elapsed {
                // Only on the top level: the slot stands for the next 2^36 ms block. Cannot
                // overflow for a reachable placement, but saturate rather than wrap.
                debug_assert_eq!(level, TOP);
                time = time.saturating_add(level_range);
            }
            match best {
                Some((_, t)) if t <= time => {}
                _ => best = Some((level * SLOTS + slot as usize, time)),
            }
            // Occupied slots on lower levels always start before those on higher ones, so
            // the first non-empty level decides (kept general for robustness: 6 iterations).
        }
        best
    }

    /// Appends entry `index` to the tail of the list for its deadline relative to the clock.
    fn link(&mut self, index: usize) {
        let list = list_for(self.elapsed, self.entries[index].deadline);
        let tail = self.lists[list].tail;
        {
            let entry = &mut self.entries[index];
            entry.list = list;
            entry.prev = tail;
            entry.next = NIL;
        }
        if tail == NIL {
            self.lists[list].head = index;
            if list != OVERDUE {
                self.occupied[list / SLOTS] |= 1 << (list % SLOTS);
            }
        } else {
            self.entries[tail].next = index;
        }
        self.lists[list].tail = index;
    }

    /// Removes entry `index` from its list (the entry itself stays in the slab).
    fn unlink(&mut self, index: usize) {
        let Entry { list, prev, next, .. } = self.entries[index];
        if prev == NIL {
            self.lists[list].head = next;
        } else {
            self.entries[prev].next = next;
        }
        if next == NIL {
            self.lists[list].tail = prev;
        } else {
            self.entries[next].prev = prev;
        }
        if self.lists[list].head == NIL && list != OVERDUE {
            self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
        }
    }

    /// Detaches the whole list `list` and returns its head; the caller walks the chain via
    /// `next` (reading it before re-linking or firing each entry).
    fn take(&mut self, list: usize) -> usize {
        let head = self.lists[list].head;
        self.lists[list] = EMPTY;
        if list != OVERDUE {
            self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
        }
        head
    }

    /// Removes entry `index` (already detached from its list) and appends it to `out`.
    fn fire(&mut self, index: usize, out: &mut Vec<(TimerKey, T)>) {
        let entry = self.entries.remove(index);
        out.push((TimerKey { index, generation: entry.generation }, entry.value));
    }
}

/// The list for `deadline` while the clock reads `elapsed`: the overdue list if
/// `deadline <= elapsed`, else the slot of the highest base-64 digit in which the two differ
/// (clamped to the top level), indexed by `deadline`'s digit there.
fn list_for(elapsed: u64, deadline: u64) -> usize {
    if deadline <= elapsed {
        return OVERDUE;
    }
    // `| SLOT_MASK` keeps `significant >= 5`, i.e. level 0 for a difference in the last
    // digit only; the clamp maps a difference beyond the wheel's range to the top level.
    let masked = ((elapsed ^ deadline) | SLOT_MASK).min(RANGE_MS - 1);
    let significant = 63 - masked.leading_zeros();
    let level = (significant / LEVEL_BITS) as usize;
    let slot = ((deadline >> (LEVEL_BITS * level as u32)) & SLOT_MASK) as usize;
    level * SLOTS + slot
}

#[cfg(test)]
mod tests;
