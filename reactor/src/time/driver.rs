//! The timer driver: the shared wheel, its clock, the thread-local current handle, and the
//! two calls an executor makes ([`Handle::next_expiration`], [`Handle::process`]).

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::loom::Mutex;

use super::sleep::Sleep;
use super::wheel::{TimerKey, Wheel};

/// The hook a [`Handle`] calls when a timer is armed earlier than the time the driver was
/// last told to wake at; see [`Handle::set_unpark`].
pub type UnparkFn = Arc<dyn Fn() + Send + Sync>;

/// Fired-entry buffers up to this capacity are kept for the next [`Handle::process`]; larger
/// ones (after a burst of many timers) are freed so that one burst does not pin the memory.
const KEEP_BUFFER: usize = 1024;

thread_local! {
    static CURRENT: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// The timer driver: owns the timer state that [`Handle`]s share.
///
/// It does not run by itself. An executor drives it: before parking, it asks
/// [`next_expiration`](Driver::next_expiration) for the park timeout; after waking (for any
/// reason), it calls [`process`](Driver::process), which fires every timer that is due and
/// wakes the tasks waiting on them. [`Handle::set_unpark`] tells the executor when a newly
/// armed timer needs it to wake earlier than it planned.
///
/// Dropping the driver does not cancel anything: the state lives as long as any [`Handle`]
/// (every [`Sleep`] holds one), and any handle can still drive it.
#[derive(Debug, Default)]
pub struct Driver {
    handle: Handle,
}

impl Driver {
    /// Creates a driver whose clock starts now (time 0 ms is this call's `Instant::now()`).
    pub fn new() -> Driver {
        Driver::with_capacity(0)
    }

    /// Creates a driver with room for `capacity` armed timers before its storage
    /// reallocates.
    ///
    /// # Panics
    ///
    /// Panics if the allocation size overflows `isize::MAX` bytes.
    pub fn with_capacity(capacity: usize) -> Driver {
        Driver { handle: Handle::with_capacity(capacity) }
    }

    /// The handle to this driver, for timers ([`Handle::sleep`]), for
    /// [`Handle::enter`], and to drive it from other threads.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Same as [`Handle::next_expiration`].
    pub fn next_expiration(&self) -> Option<Instant> {
        self.handle.next_expiration()
    }

    /// Same as [`Handle::process`].
    pub fn process(&self) -> usize {
        self.handle.process()
    }
}

/// A cheap, cloneable reference to a timer [`Driver`]'s shared state.
///
/// All clones refer to the same wheel. A thread has at most one *current* handle
/// ([`enter`](Handle::enter)), which [`sleep`](super::sleep), [`timeout`](super::timeout)
/// and [`interval`](super::interval) use.
#[derive(Clone)]
pub struct Handle {
    inner: Arc<Inner>,
}

struct Inner {
    /// Time 0 of the wheel's clock.
    start: Instant,
    state: Mutex<State>,
}

struct State {
    /// One `Waker` per armed timer: that of the task which last polled the `Sleep`.
    wheel: Wheel<Waker>,
    /// The wheel time (ms) at which the driver will next process, as far as this handle
    /// knows: set by `next_expiration`, lowered by an earlier insert or reset (which then
    /// calls `unpark`). `u64::MAX`: not known to wake at all (parked without a timeout, or
    /// never asked).
    wake_at: u64,
    unpark: Option<UnparkFn>,
    /// A reusable buffer for `process`, taken out of the lock while it is in use.
    spare: Vec<(TimerKey, Waker)>,
}

impl Default for Handle {
    /// Same as `Driver::new().handle().clone()`: a fresh timer state whose clock starts now.
    fn default() -> Handle {
        Handle::with_capacity(0)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Handle");
        s.field("start", &self.inner.start);
        if let Some(state) = self.inner.state.try_lock() {
            s.field("wheel", &state.wheel);
        }
        s.finish_non_exhaustive()
    }
}

/// Restores the thread's previous current timer handle when dropped; returned by
/// [`Handle::enter`].
///
/// Guards must be dropped in the reverse order of their creation (as scopes do). The guard is
/// tied to its thread (`!Send`).
#[must_use = "the handle is current only until the guard is dropped"]
pub struct EnterGuard {
    previous: Option<Handle>,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // If the thread-local is already gone (thread exit), there is nothing to restore.
        let _ = CURRENT.try_with(|current| *current.borrow_mut() = previous);
    }
}

impl Handle {
    fn with_capacity(capacity: usize) -> Handle {
        Handle {
            inner: Arc::new(Inner {
                start: Instant::now(),
                state: Mutex::new(State {
                    wheel: Wheel::with_capacity(capacity),
                    wake_at: u64::MAX,
                    unpark: None,
                    spare: Vec::new(),
                }),
            }),
        }
    }

    /// The current thread's timer handle, as set by [`enter`](Handle::enter).
    ///
    /// # Panics
    ///
    /// Panics if there is none (the thread is not a runtime thread and no
    /// [`EnterGuard`] is alive), with a message naming the missing timer driver. Use
    /// [`try_current`](Handle::try_current) to get `None` instead.
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Some(handle) => handle,
            None => panic!(
                "there is no timer driver in this thread's context: tern_reactor::time::{{sleep, \
                 sleep_until, timeout, timeout_at, interval, interval_at}} must be called from a \
                 runtime thread, or inside `time::Handle::enter` (or use `Handle::sleep` directly)"
            ),
        }
    }

    /// The current thread's timer handle, or `None` if there is none (see
    /// [`current`](Handle::current)). Also `None` while the thread's locals are being
    /// destroyed.
    pub fn try_current() -> Option<Handle> {
        CURRENT.try_with(|current| current.borrow().clone()).ok().flatten()
    }

    /// Makes this handle the current thread's timer handle until the returned guard is
    /// dropped, which restores the previous one (or none).
    ///
    /// # Panics
    ///
    /// Panics if called while the thread's locals are being destroyed.
    pub fn enter(&self) -> EnterGuard {
        let previous = CURRENT.with(|current| current.borrow_mut().replace(self.clone()));
        EnterGuard { previous, _not_send: PhantomData }
    }

    /// A [`Sleep`] that completes `duration` from now on this handle's driver (no thread-local
    /// lookup). `Duration::MAX` and other overflowing durations mean "about 30 years".
    pub fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(self.clone(), deadline_after(duration))
    }

    /// A [`Sleep`] that completes at `deadline` on this handle's driver (no thread-local
    /// lookup). A deadline in the past completes on first poll.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep::new(self.clone(), deadline)
    }

    /// The instant the clock's time 0 stands for: the driver's creation.
    pub fn start(&self) -> Instant {
        self.inner.start
    }

    /// Number of armed timers: sleeps registered (first polled) that have neither fired nor
    /// been dropped or completed.
    pub fn armed(&self) -> usize {
        self.inner.state.lock().wheel.len()
    }

    /// Whether the two handles refer to the same driver.
    pub fn ptr_eq(&self, other: &Handle) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Sets the hook called when a timer is armed (first poll of a [`Sleep`], or
    /// [`Sleep::reset`]) with a deadline earlier than the time the driver was last told to
    /// wake at by [`next_expiration`](Handle::next_expiration) (or at all, if it returned
    /// `None` or was never called). The executor uses it to unpark the thread parked on the
    /// timer driver, which then calls [`process`](Handle::process) and
    /// [`next_expiration`](Handle::next_expiration) again. Replaces any previous hook.
    ///
    /// The hook is called without the timer lock held, from whichever thread armed the
    /// timer, possibly *before* the driver has parked: the executor's unpark must be sticky
    /// (like [`std::thread::Thread::unpark`]: a park that follows returns at once), or a
    /// wake-up is lost. After a call, further timers armed no earlier than the one that caused
    /// it do not call it again until the next `next_expiration`.
    pub fn set_unpark(&self, unpark: UnparkFn) {
        self.inner.state.lock().unpark = Some(unpark);
    }

    /// Removes the hook set by [`set_unpark`](Handle::set_unpark), if any.
    pub fn clear_unpark(&self) {
        self.inner.state.lock().unpark = None;
    }

    /// The instant by which the driver must next call [`process`](Handle::process), for use
    /// as the park timeout; `None` if no timer is armed (park without timeout). The instant
    /// may be in the past (a timer is overdue: process at once). `O(1)` (six bitmap lookups).
    ///
    /// It is never later than the earliest armed deadline (rounded up to the next whole
    /// millisecond since [`start`](Handle::start)), but may be earlier: when the next timer
    /// is more than 64 ms ahead, this is the time at which the wheel must move it to a finer
    /// level, and `process` then fires nothing. Records the returned time as the one the
    /// driver will wake at (see [`set_unpark`](Handle::set_unpark)).
    pub fn next_expiration(&self) -> Option<Instant> {
        let mut state = self.inner.state.lock();
        let next = state.wheel.next_expiration();
        state.wake_at = next.unwrap_or(u64::MAX);
        drop(state);
        next.and_then(|ms| self.inner.start.checked_add(Duration::from_millis(ms)))
    }

    /// Fires every timer due at or before now: advances the wheel's clock to now (whole ms
    /// since [`start`](Handle::start), rounded down, so no timer fires early), collects the
    /// wakers of the fired timers under the lock, releases it, then wakes them. Returns how
    /// many timers fired. Cost: amortized `O(1)` per timer fired or moved down a level, plus
    /// `O(6)` per occupied wheel slot passed.
    ///
    /// Safe to call at any time and from any thread (calling it early or often only costs
    /// time). Concurrent calls serialize on the lock; each fired timer is woken exactly once.
    pub fn process(&self) -> usize {
        self.process_at(self.now_ms())
    }

    /// [`process`](Handle::process) with the clock read as `now` (whole ms since
    /// [`start`](Handle::start)); the loom models use it, having no clock.
    pub(crate) fn process_at(&self, now: u64) -> usize {
        let mut state = self.inner.state.lock();
        let mut fired = std::mem::take(&mut state.spare);
        state.wheel.poll(now, &mut fired);
        drop(state);
        let count = fired.len();
        for (_, waker) in fired.drain(..) {
            waker.wake();
        }
        if fired.capacity() <= KEEP_BUFFER {
            if let Some(mut state) = self.inner.state.try_lock() {
                if state.spare.capacity() < fired.capacity() {
                    state.spare = fired;
                }
            }
        }
        count
    }

    /// Milliseconds since `start`, rounded down.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// `deadline` as whole milliseconds since `start`, rounded up (so that the timer never
    /// fires before `deadline`); 0 for a deadline before `start`, `u64::MAX` if it overflows.
    pub(crate) fn deadline_ms(&self, deadline: Instant) -> u64 {
        let since = deadline.saturating_duration_since(self.inner.start);
        let ms = since.saturating_add(Duration::from_nanos(999_999)).as_millis();
        u64::try_from(ms).unwrap_or(u64::MAX)
    }

    /// Arms a timer at `deadline_ms` carrying `waker`; calls the unpark hook (outside the
    /// lock) if it is earlier than the driver's planned wake-up.
    pub(crate) fn insert(&self, deadline_ms: u64, waker: Waker) -> TimerKey {
        let mut state = self.inner.state.lock();
        let key = state.wheel.insert(deadline_ms, waker);
        let unpark = state.earlier(deadline_ms);
        drop(state);
        if let Some(unpark) = unpark {
            unpark();
        }
        key
    }

    /// Re-arms the live timer `key` at `deadline_ms`, keeping its waker (and calling the
    /// unpark hook like [`insert`](Handle::insert)); returns `false` if the key is stale (the
    /// timer fired).
    pub(crate) fn reset(&self, key: TimerKey, deadline_ms: u64) -> bool {
        let mut state = self.inner.state.lock();
        if !state.wheel.reset(key, deadline_ms) {
            return false;
        }
        let unpark = state.earlier(deadline_ms);
        drop(state);
        if let Some(unpark) = unpark {
            unpark();
        }
        true
    }

    /// For a pending poll of the timer `key`: stores `waker` unless the stored one would
    /// wake the same task. Returns `false` if the key is stale (the timer fired). The
    /// replaced waker is dropped after the lock is released.
    pub(crate) fn update_waker(&self, key: TimerKey, waker: &Waker) -> bool {
        let mut state = self.inner.state.lock();
        let old = match state.wheel.get_mut(key) {
            None => return false,
            Some(stored) if stored.will_wake(waker) => None,
            Some(stored) => Some(std::mem::replace(stored, waker.clone())),
        };
        drop(state);
        drop(old);
        true
    }

    /// Whether the timer `key` is still armed (neither fired nor removed).
    pub(crate) fn is_armed(&self, key: TimerKey) -> bool {
        self.inner.state.lock().wheel.deadline(key).is_some()
    }

    /// Disarms the timer `key`, if it is still armed. The removed waker is dropped after the
    /// lock is released (dropping a waker may drop a task, whose own timers take the lock).
    pub(crate) fn remove(&self, key: TimerKey) {
        let removed = self.inner.state.lock().wheel.remove(key);
        drop(removed);
    }
}

impl State {
    /// Notes a timer armed at `deadline_ms`; returns the unpark hook to call if that is
    /// earlier than the driver's planned wake-up.
    fn earlier(&mut self, deadline_ms: u64) -> Option<UnparkFn> {
        if deadline_ms < self.wake_at {
            self.wake_at = deadline_ms;
            self.unpark.clone()
        } else {
            None
        }
    }
}

/// About 30 years from now: the deadline used when `now + duration` overflows `Instant`.
pub(crate) fn far_future() -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_secs(86_400 * 365 * 30)).unwrap_or(now)
}

/// `now + duration`, or [`far_future`] if that overflows.
pub(crate) fn deadline_after(duration: Duration) -> Instant {
    Instant::now().checked_add(duration).unwrap_or_else(far_future)
}
