//! A worker's bounded local run queue: a `crossbeam-deque` FIFO worker (its stealer
//! shared with the other workers) capped at [`LOCAL_QUEUE_CAPACITY`]. A push onto a
//! full queue moves the older half to the global injector in one go, as tokio's
//! local queue does, so one busy worker cannot hoard work nor grow without bound.

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

/// Tasks a local queue holds before it overflows into the injector.
pub const LOCAL_QUEUE_CAPACITY: usize = 256;

/// One worker's bounded FIFO run queue (see the module docs).
pub struct Local<T> {
    worker: Worker<T>,
}

impl<T> Default for Local<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Local<T> {
    /// An empty queue.
    pub fn new() -> Local<T> {
        Local { worker: Worker::new_fifo() }
    }

    /// The handle other workers steal through.
    pub fn stealer(&self) -> Stealer<T> {
        self.worker.stealer()
    }

    /// Tasks queued now.
    pub fn len(&self) -> usize {
        self.worker.len()
    }

    /// `true` when no task is queued.
    pub fn is_empty(&self) -> bool {
        self.worker.is_empty()
    }

    /// Takes the oldest task (owner only).
    pub fn pop(&self) -> Option<T> {
        self.worker.pop()
    }

    /// Pushes `task`; when the queue is full, first moves half of it to `inject`.
    /// Returns `true` when it overflowed.
    pub fn push_back_or_overflow(&self, task: T, inject: &Injector<T>) -> bool {
        let overflow = self.worker.len() >= LOCAL_QUEUE_CAPACITY;
        if overflow {
            for _ in 0..LOCAL_QUEUE_CAPACITY / 2 {
                match self.worker.pop() {
                    Some(t) => inject.push(t),
                    None => break,
                }
            }
        }
        self.worker.push(task);
        overflow
    }

    /// Steals about half of `victim`'s tasks into this queue and returns one of them.
    pub fn steal_half_from(&self, victim: &Stealer<T>) -> Option<T> {
        let room = LOCAL_QUEUE_CAPACITY.saturating_sub(self.len()).max(1);
        retry(|| victim.steal_batch_with_limit_and_pop(&self.worker, room.min(LOCAL_QUEUE_CAPACITY / 2)))
    }

    /// Takes a batch of up to `limit` tasks from the injector and returns one of them.
    pub fn take_from_injector(&self, inject: &Injector<T>, limit: usize) -> Option<T> {
        let room = LOCAL_QUEUE_CAPACITY.saturating_sub(self.len()).max(1);
        retry(|| inject.steal_batch_with_limit_and_pop(&self.worker, limit.clamp(1, room)))
    }
}

/// Repeats a steal that lost a race (`Steal::Retry`) until it succeeds or finds
/// the source empty. Each retry means another thread made progress.
pub fn retry<T>(mut f: impl FnMut() -> Steal<T>) -> Option<T> {
    loop {
        match f() {
            Steal::Success(t) => return Some(t),
            Steal::Empty => return None,
            Steal::Retry => {}
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn overflow_moves_half_to_injector_and_keeps_order() {
        let q = Local::new();
        let inject = Injector::new();
        for i in 0..LOCAL_QUEUE_CAPACITY {
            assert!(!q.push_back_or_overflow(i, &inject));
        }
        assert!(q.push_back_or_overflow(LOCAL_QUEUE_CAPACITY, &inject));
        assert_eq!(inject.len(), LOCAL_QUEUE_CAPACITY / 2);
        assert_eq!(q.len(), LOCAL_QUEUE_CAPACITY / 2 + 1);
        // The oldest half went to the injector, in order.
        assert_eq!(retry(|| inject.steal()), Some(0));
        assert_eq!(q.pop(), Some(LOCAL_QUEUE_CAPACITY / 2));
    }

    #[test]
    fn steal_takes_about_half() {
        let a = Local::new();
        let b = Local::new();
        let inject = Injector::new();
        for i in 0..100 {
            a.push_back_or_overflow(i, &inject);
        }
        let first = b.steal_half_from(&a.stealer());
        assert_eq!(first, Some(0));
        let stolen = 1 + b.len();
        assert!((40..=60).contains(&stolen), "stole {stolen} of 100");
        assert_eq!(a.len() + stolen, 100);
    }
}
