//! `Barrier`: wait until `n` tasks have arrived.

use std::fmt;

use super::notify::Notify;
use crate::loom::Mutex;

/// Lets `n` tasks wait until all of them have reached the same point.
///
/// The `n`-th caller of [`wait`](Barrier::wait) releases the other `n - 1` and is
/// the *leader* of that round ([`BarrierWaitResult::is_leader`]); the barrier is
/// then reset and can be used again for the next round.
///
/// ```
/// use std::sync::Arc;
/// use tern_runtime::sync::Barrier;
///
/// tern_runtime::block_on(async {
///     let barrier = Arc::new(Barrier::new(3));
///     let hs: Vec<_> = (0..3)
///         .map(|_| {
///             let b = barrier.clone();
///             tern_runtime::spawn(async move { b.wait().await.is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for h in hs {
///         leaders += h.await.unwrap() as usize;
///     }
///     assert_eq!(leaders, 1);
/// });
/// ```
pub struct Barrier {
    n: usize,
    state: Mutex<State>,
    notify: Notify,
}

struct State {
    arrived: usize,
    generation: u64,
}

/// What [`Barrier::wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// `true` for exactly one waiter of each round: the one whose arrival
    /// completed it.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` tasks. `n == 0` behaves like `n == 1`: every `wait`
    /// returns at once as leader.
    pub fn new(n: usize) -> Barrier {
        Barrier { n: n.max(1), state: Mutex::new(State { arrived: 0, generation: 0 }), notify: Notify::new() }
    }

    /// Arrives at the barrier and waits until `n` tasks have arrived in this round.
    ///
    /// # Cancel safety
    /// Not cancel safe: the arrival is counted when the future is first polled, and
    /// dropping the future afterwards does not take it back (the round then
    /// completes one arrival early, as with tokio's barrier).
    pub async fn wait(&self) -> BarrierWaitResult {
        let waiting = {
            let mut st = self.state.lock();
            st.arrived += 1;
            if st.arrived == self.n {
                st.arrived = 0;
                st.generation = st.generation.wrapping_add(1);
                self.notify.notify_waiters();
                None
            } else {
                // Created under the state lock, before the leader's `notify_waiters`
                // (also called under it): the wake-up cannot be missed.
                Some((self.notify.notified(), st.generation))
            }
        };
        let Some((mut notified, generation)) = waiting else {
            crate::coop::consume_budget().await;
            return BarrierWaitResult(true);
        };
        loop {
            notified.await;
            let st = self.state.lock();
            if st.generation != generation {
                return BarrierWaitResult(false);
            }
            notified = self.notify.notified();
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Barrier").field("n", &self.n).field("arrived", &st.arrived).finish()
    }
}
