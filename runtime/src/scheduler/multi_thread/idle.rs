//! Which workers sleep and how many are searching for work.
//!
//! One atomic word counts unparked workers (high bits) and searching workers (low
//! 16 bits); the list of sleepers sits behind a mutex. The rules, after tokio's
//! `idle.rs`:
//! - at most half the workers search at once (`transition_worker_to_searching`);
//! - a new task unparks a sleeper only when nobody is searching
//!   (`worker_to_notify`), since a searcher will find it;
//! - the last searcher to park re-checks every queue before sleeping, so a task
//!   pushed while it stopped searching is never stranded.
//!
//! Model-checked in `loom-tests/tests/idle.rs`.

use crate::loom::{AtomicUsize, Mutex, Ordering::SeqCst};

const UNPARK_SHIFT: usize = 16;
const UNPARK_ONE: usize = 1 << UNPARK_SHIFT;
const SEARCH_MASK: usize = UNPARK_ONE - 1;

/// Sleeping and searching workers of one runtime (see the module docs).
pub struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    num_workers: usize,
}

impl Idle {
    /// All `num_workers` start unparked and not searching.
    pub fn new(num_workers: usize) -> Idle {
        assert!(num_workers < SEARCH_MASK, "too many workers");
        Idle {
            state: AtomicUsize::new(num_workers << UNPARK_SHIFT),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        }
    }

    fn num_searching(s: usize) -> usize {
        s & SEARCH_MASK
    }

    fn num_unparked(s: usize) -> usize {
        s >> UNPARK_SHIFT
    }

    fn notify_should_wakeup(&self) -> bool {
        let s = self.state.load(SeqCst);
        Self::num_searching(s) == 0 && Self::num_unparked(s) < self.num_workers
    }

    /// A task was queued: returns the sleeper to unpark, already counted as
    /// unparked and searching, or `None` when a searcher will find the task.
    pub fn worker_to_notify(&self) -> Option<usize> {
        if !self.notify_should_wakeup() {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        if !self.notify_should_wakeup() {
            return None;
        }
        let worker = sleepers.pop()?;
        self.state.fetch_add(UNPARK_ONE | 1, SeqCst);
        Some(worker)
    }

    /// Worker `index` is about to park. Returns `true` when it was the last
    /// searcher, in which case it must re-check the queues before sleeping.
    pub fn transition_worker_to_parked(&self, index: usize, searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        let dec = UNPARK_ONE | usize::from(searching);
        let prev = self.state.fetch_sub(dec, SeqCst);
        sleepers.push(index);
        searching && Self::num_searching(prev) == 1
    }

    /// A worker with no work wants to steal. `false`: enough workers search already.
    pub fn transition_worker_to_searching(&self) -> bool {
        let s = self.state.load(SeqCst);
        if 2 * Self::num_searching(s) >= self.num_workers {
            return false;
        }
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// A searching worker found work. Returns `true` when it was the last searcher
    /// (then it should wake another worker for the rest of the work it saw).
    pub fn transition_worker_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, SeqCst);
        debug_assert!(Self::num_searching(prev) > 0);
        Self::num_searching(prev) == 1
    }

    /// `true` while `index` is still on the sleeper list (a wake-up it got was
    /// not from `worker_to_notify`).
    pub fn is_parked(&self, index: usize) -> bool {
        self.sleepers.lock().contains(&index)
    }

    /// Worker `index` woke by itself with work in hand (tasks its own driver turn
    /// queued locally): takes it off the sleeper list and counts it unparked, not
    /// searching. `false` if `worker_to_notify` already took it off (then it is
    /// counted unparked *and searching*).
    pub fn unpark_worker_by_id(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        let Some(pos) = sleepers.iter().position(|&i| i == index) else {
            return false;
        };
        sleepers.remove(pos);
        self.state.fetch_add(UNPARK_ONE, SeqCst);
        true
    }

    /// (unparked, searching) counts, for the loom models.
    #[cfg(loom)]
    pub fn counts(&self) -> (usize, usize) {
        let s = self.state.load(SeqCst);
        (Self::num_unparked(s), Self::num_searching(s))
    }

    /// A sleeping worker, left on the list (for the driver hand-off).
    pub fn any_sleeper(&self) -> Option<usize> {
        self.sleepers.lock().last().copied()
    }

    /// Takes every sleeper off the list (for shutdown).
    pub fn take_all_sleepers(&self) -> Vec<usize> {
        std::mem::take(&mut *self.sleepers.lock())
    }
}
