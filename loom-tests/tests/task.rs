#![cfg(loom)]
//! Loom models of the task state machine (`runtime/src/task/`): wakes, aborts,
//! join-handle reads and drops racing the poller, driven by a mock scheduler.
//!
//! The mock scheduler queues `Notified`s in a loom `Mutex<VecDeque>` and holds the
//! task registry. It counts its own live clones: each task cell holds exactly one,
//! so "live clones back to 1" at the end of a model means every task was freed
//! exactly once (a leak leaves it higher and also trips loom's `Arc` leak check; a
//! double free drives it to zero and trips the underflow assertion). The futures
//! and outputs carry drop counters; the task's stage is a loom `UnsafeCell`, so
//! loom itself reports two threads touching a future or an output without a
//! happens-before edge between them.
//!
//! Counters are plain `std` atomics: loom runs its threads one at a time, and they
//! are only read after the threads that write them were joined, so they add no
//! interleavings of their own.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::{Arc, Mutex};
use loom::thread;
use tern_runtime::__loom::{spawn_task, Notified, OwnedTasks, Schedule};
use tern_runtime::{JoinError, JoinHandle};

// ---------------------------------------------------------------------------
// Mock scheduler
// ---------------------------------------------------------------------------

struct SchedInner {
    queue: Mutex<VecDeque<Notified<Sched>>>,
    owned: OwnedTasks<Sched>,
    /// Live `Sched` values (ours plus one per task cell).
    live: AtomicUsize,
}

struct Sched(Arc<SchedInner>);

impl Sched {
    fn new() -> Sched {
        Sched(Arc::new(SchedInner {
            queue: Mutex::new(VecDeque::new()),
            owned: OwnedTasks::new(1),
            live: AtomicUsize::new(1),
        }))
    }

    fn pop(&self) -> Option<Notified<Sched>> {
        self.0.queue.lock().unwrap().pop_front()
    }

    /// Runs queued tasks until the queue is empty.
    fn run_until_idle(&self) {
        while let Some(task) = self.pop() {
            task.run();
        }
    }

    fn queued(&self) -> usize {
        self.0.queue.lock().unwrap().len()
    }

    /// Nothing queued, nothing registered, every task cell freed exactly once.
    fn assert_quiescent(&self) {
        assert_eq!(self.queued(), 0, "a task was left in the run queue");
        assert_eq!(self.0.owned.len(), 0, "a task was left in the registry");
        assert_eq!(self.0.live.load(SeqCst), 1, "a task cell was leaked (or freed twice)");
    }
}

impl Clone for Sched {
    fn clone(&self) -> Sched {
        self.0.live.fetch_add(1, SeqCst);
        Sched(self.0.clone())
    }
}

impl Drop for Sched {
    fn drop(&mut self) {
        let prev = self.0.live.fetch_sub(1, SeqCst);
        assert!(prev > 0, "a task cell was freed twice");
    }
}

impl Schedule for Sched {
    fn schedule(&self, task: Notified<Self>) {
        self.0.queue.lock().unwrap().push_back(task);
    }

    fn owned(&self) -> &OwnedTasks<Self> {
        &self.0.owned
    }
}

// ---------------------------------------------------------------------------
// Instrumented future and output
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Counters {
    polls: AtomicUsize,
    /// Times the future returned `Ready`.
    completed: AtomicUsize,
    future_drops: AtomicUsize,
    output_drops: AtomicUsize,
}

impl Counters {
    fn new() -> std::sync::Arc<Counters> {
        std::sync::Arc::new(Counters::default())
    }
    fn polls(&self) -> usize {
        self.polls.load(SeqCst)
    }
    fn completed(&self) -> usize {
        self.completed.load(SeqCst)
    }
    fn future_drops(&self) -> usize {
        self.future_drops.load(SeqCst)
    }
    fn output_drops(&self) -> usize {
        self.output_drops.load(SeqCst)
    }
}

const OUTPUT: usize = 42;

struct Output {
    value: usize,
    counters: std::sync::Arc<Counters>,
}

impl Drop for Output {
    fn drop(&mut self) {
        let prev = self.counters.output_drops.fetch_add(1, SeqCst);
        assert_eq!(prev, 0, "task output dropped twice");
    }
}

/// A future whose `n`-th poll (from 0) runs `step(cx, n)`; `true` means `Ready`.
struct Tracked<F> {
    counters: std::sync::Arc<Counters>,
    step: F,
}

impl<F> Tracked<F>
where
    F: FnMut(&mut Context<'_>, usize) -> bool + Send + Unpin + 'static,
{
    fn new(counters: &std::sync::Arc<Counters>, step: F) -> Self {
        Tracked { counters: counters.clone(), step }
    }
}

impl<F> Future for Tracked<F>
where
    F: FnMut(&mut Context<'_>, usize) -> bool + Send + Unpin + 'static,
{
    type Output = Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Output> {
        assert_eq!(self.counters.completed(), 0, "future polled after it completed");
        let n = self.counters.polls.fetch_add(1, SeqCst);
        if (self.step)(cx, n) {
            self.counters.completed.fetch_add(1, SeqCst);
            Poll::Ready(Output { value: OUTPUT, counters: self.counters.clone() })
        } else {
            Poll::Pending
        }
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        let prev = self.counters.future_drops.fetch_add(1, SeqCst);
        assert_eq!(prev, 0, "future dropped twice");
    }
}

// ---------------------------------------------------------------------------
// Polling JoinHandles without an executor
// ---------------------------------------------------------------------------

/// A waker that only records that it was woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, SeqCst);
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

fn flag_waker() -> (std::sync::Arc<Flag>, Waker) {
    let flag = std::sync::Arc::new(Flag::default());
    let waker = Waker::from(flag.clone());
    (flag, waker)
}

fn poll_join<T>(jh: &mut JoinHandle<T>, waker: &Waker) -> Poll<Result<T, JoinError>> {
    Pin::new(jh).poll(&mut Context::from_waker(waker))
}

/// Polls a handle whose task must have finished by now.
fn expect_ready<T>(jh: &mut JoinHandle<T>) -> Result<T, JoinError> {
    let (_flag, waker) = flag_waker();
    match poll_join(jh, &waker) {
        Poll::Ready(res) => res,
        Poll::Pending => panic!("task never completed (lost wake-up?)"),
    }
}

/// Spawns `fut` on `sched`; the registry is open, so a `Notified` comes back.
fn spawn<F>(fut: F, sched: &Sched) -> (JoinHandle<F::Output>, Notified<Sched>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (jh, notified) = spawn_task(fut, sched, None);
    (jh, notified.expect("registry is open"))
}

/// Where a loom thread started from inside a poll leaves its handle.
type Spawned = std::sync::Arc<std::sync::Mutex<Option<thread::JoinHandle<()>>>>;

fn join_spawned(spawned: &Spawned) {
    let th = spawned.lock().unwrap().take().expect("the first poll starts the waking thread");
    th.join().unwrap();
}

#[derive(Clone, Copy, Debug)]
enum WakeKind {
    ByVal,
    ByRef,
    /// Only drop the waker (releases its reference).
    Drop,
}

fn fire(waker: Waker, kind: WakeKind) {
    match kind {
        WakeKind::ByVal => waker.wake(),
        WakeKind::ByRef => {
            waker.wake_by_ref();
            drop(waker);
        }
        WakeKind::Drop => drop(waker),
    }
}

// ---------------------------------------------------------------------------
// (a) wake while running
// ---------------------------------------------------------------------------

/// The first poll hands a clone of its waker to a new thread, which wakes it while
/// the poll is still returning `Pending` (or later) and then also runs queued
/// tasks; the task must be polled again exactly once (never on two threads at
/// once: the stage is a loom cell) and complete exactly once.
fn wake_while_running(kind: WakeKind) {
    loom::model(move || {
        let sched = Sched::new();
        let counters = Counters::new();
        let spawned: Spawned = Default::default();
        let fut = Tracked::new(&counters, {
            let spawned = spawned.clone();
            let sched = sched.clone();
            move |cx, n| {
                if n == 0 {
                    let waker = cx.waker().clone();
                    let sched = sched.clone();
                    let th = thread::spawn(move || {
                        fire(waker, kind);
                        sched.run_until_idle();
                    });
                    *spawned.lock().unwrap() = Some(th);
                    false
                } else {
                    true
                }
            }
        });
        let (mut jh, notified) = spawn(fut, &sched);

        notified.run();
        sched.run_until_idle();
        join_spawned(&spawned);
        sched.run_until_idle();

        let out = expect_ready(&mut jh).expect("task was not cancelled");
        assert_eq!(out.value, OUTPUT);
        assert_eq!(counters.polls(), 2);
        assert_eq!(counters.completed(), 1);
        assert_eq!(counters.future_drops(), 1);
        drop(out);
        assert_eq!(counters.output_drops(), 1);
        drop(jh);
        sched.assert_quiescent();
    });
}

#[test]
fn wake_by_val_while_running() {
    wake_while_running(WakeKind::ByVal);
}

#[test]
fn wake_by_ref_while_running() {
    wake_while_running(WakeKind::ByRef);
}

/// Two threads wake the same idle-or-running task at once (one by value, one by
/// reference) and both run queued tasks: at most one `Notified` may exist at a
/// time, so the future is never polled concurrently nor after it completed, and
/// every wake reference is released.
#[test]
fn concurrent_wakes() {
    loom::model(|| {
        let sched = Sched::new();
        let counters = Counters::new();
        let spawned: std::sync::Arc<std::sync::Mutex<Vec<thread::JoinHandle<()>>>> = Default::default();
        let fut = Tracked::new(&counters, {
            let spawned = spawned.clone();
            let sched = sched.clone();
            move |cx, n| {
                if n == 0 {
                    for kind in [WakeKind::ByVal, WakeKind::ByRef] {
                        let waker = cx.waker().clone();
                        let sched = sched.clone();
                        spawned.lock().unwrap().push(thread::spawn(move || {
                            fire(waker, kind);
                            sched.run_until_idle();
                        }));
                    }
                    false
                } else {
                    true
                }
            }
        });
        let (mut jh, notified) = spawn(fut, &sched);

        notified.run();
        let threads = std::mem::take(&mut *spawned.lock().unwrap());
        assert_eq!(threads.len(), 2);
        for th in threads {
            th.join().unwrap();
        }
        sched.run_until_idle();

        assert_eq!(expect_ready(&mut jh).expect("not cancelled").value, OUTPUT);
        assert!((2..=3).contains(&counters.polls()));
        assert_eq!(counters.completed(), 1);
        assert_eq!(counters.future_drops(), 1);
        assert_eq!(counters.output_drops(), 1);
        drop(jh);
        sched.assert_quiescent();
    });
}

/// (a) with the JoinHandle polled from a third thread: registering the join waker
/// races the task's completion, and the join waker must never be lost.
#[test]
fn join_waker_races_completion() {
    loom::model(|| {
        let sched = Sched::new();
        let counters = Counters::new();
        let spawned: Spawned = Default::default();
        let fut = Tracked::new(&counters, {
            let spawned = spawned.clone();
            move |cx, n| {
                if n == 0 {
                    let waker = cx.waker().clone();
                    *spawned.lock().unwrap() = Some(thread::spawn(move || waker.wake()));
                    false
                } else {
                    true
                }
            }
        });
        let (mut jh, notified) = spawn(fut, &sched);

        let joiner = thread::spawn(move || {
            let (flag, waker) = flag_waker();
            let first = poll_join(&mut jh, &waker).map(|r| r.expect("not cancelled").value);
            (jh, flag, first)
        });

        notified.run();
        sched.run_until_idle();
        join_spawned(&spawned);
        sched.run_until_idle();

        let (mut jh, flag, first) = joiner.join().unwrap();
        match first {
            Poll::Ready(v) => assert_eq!(v, OUTPUT),
            Poll::Pending => {
                assert!(flag.0.load(SeqCst), "the JoinHandle's waker was never woken");
                assert_eq!(expect_ready(&mut jh).expect("not cancelled").value, OUTPUT);
            }
        }
        assert_eq!(counters.completed(), 1);
        assert_eq!(counters.future_drops(), 1);
        assert_eq!(counters.output_drops(), 1);
        drop(jh);
        sched.assert_quiescent();
    });
}

// ---------------------------------------------------------------------------
// (b) wake after completion: the waker outlives the task
// ---------------------------------------------------------------------------

/// The only poll clones its waker, hands it to a new thread and completes at once.
/// That thread's wake (or drop) races completion and the JoinHandle's read and
/// drop; it may hold the last reference. It must never reschedule the task, and
/// the cell must be freed exactly once.
fn wake_after_completion(kind: WakeKind) {
    loom::model(move || {
        let sched = Sched::new();
        let counters = Counters::new();
        let spawned: Spawned = Default::default();
        let fut = Tracked::new(&counters, {
            let spawned = spawned.clone();
            move |cx, _| {
                let waker = cx.waker().clone();
                *spawned.lock().unwrap() = Some(thread::spawn(move || fire(waker, kind)));
                true
            }
        });
        let (mut jh, notified) = spawn(fut, &sched);

        notified.run();
        assert_eq!(sched.queued(), 0, "a wake rescheduled a completed task");
        let out = expect_ready(&mut jh).expect("not cancelled");
        assert_eq!(out.value, OUTPUT);
        drop(jh);
        join_spawned(&spawned);

        assert_eq!(sched.queued(), 0, "a wake rescheduled a completed task");
        assert_eq!(counters.polls(), 1);
        assert_eq!(counters.future_drops(), 1);
        drop(out);
        assert_eq!(counters.output_drops(), 1);
        sched.assert_quiescent();
    });
}

#[test]
fn wake_by_val_after_completion() {
    wake_after_completion(WakeKind::ByVal);
}

#[test]
fn wake_by_ref_after_completion() {
    wake_after_completion(WakeKind::ByRef);
}

#[test]
fn drop_waker_after_completion() {
    wake_after_completion(WakeKind::Drop);
}

// ---------------------------------------------------------------------------
// (c) abort racing completion
// ---------------------------------------------------------------------------

/// `abort()` from one thread while another polls the task: the first poll wakes
/// itself and returns `Pending` (so it is requeued), the second completes. The
/// handle must yield `Ok(output)` or a cancellation, never both, and the future is
/// dropped exactly once either way. With `drop_handle`, the aborting thread then
/// detaches the task, and the output (if any) is dropped exactly once anyway.
fn abort_races_completion(drop_handle: bool) {
    loom::model(move || {
        let sched = Sched::new();
        let counters = Counters::new();
        let fut = Tracked::new(&counters, |cx, n| {
            if n == 0 {
                cx.waker().wake_by_ref();
                false
            } else {
                true
            }
        });
        let (jh, notified) = spawn(fut, &sched);

        let aborter = thread::spawn(move || {
            jh.abort();
            if drop_handle {
                drop(jh);
                None
            } else {
                Some(jh)
            }
        });

        notified.run();
        sched.run_until_idle();
        let jh = aborter.join().unwrap();
        sched.run_until_idle();

        if let Some(mut jh) = jh {
            match expect_ready(&mut jh) {
                Ok(out) => {
                    assert_eq!(out.value, OUTPUT);
                    assert_eq!(counters.completed(), 1);
                    drop(out);
                }
                Err(e) => {
                    assert!(e.is_cancelled(), "unexpected JoinError: {e:?}");
                    assert_eq!(counters.completed(), 0, "a cancelled task produced an output");
                }
            }
        }
        assert!(counters.completed() <= 1);
        assert_eq!(counters.output_drops(), counters.completed());
        assert_eq!(counters.future_drops(), 1);
        sched.assert_quiescent();
    });
}

#[test]
fn abort_races_completion_then_join() {
    abort_races_completion(false);
}

#[test]
fn abort_races_completion_then_detach() {
    abort_races_completion(true);
}

/// `abort()` racing the first poll of a future that never completes: whether the
/// abort lands before the poll, during it, or once the task is idle (then it must
/// schedule the task itself), the task ends cancelled with its future dropped once.
#[test]
fn abort_races_pending_poll() {
    loom::model(|| {
        let sched = Sched::new();
        let counters = Counters::new();
        let fut = Tracked::new(&counters, |_, _| false);
        let (jh, notified) = spawn(fut, &sched);

        let aborter = thread::spawn(move || {
            jh.abort();
            jh
        });

        notified.run();
        sched.run_until_idle();
        let mut jh = aborter.join().unwrap();
        sched.run_until_idle();

        let err = expect_ready(&mut jh).err().expect("the future never completes");
        assert!(err.is_cancelled());
        assert!(counters.polls() <= 1);
        assert_eq!(counters.future_drops(), 1);
        drop(jh);
        sched.assert_quiescent();
    });
}

/// An `AbortHandle` aborts from one thread and is then dropped there, while a
/// second thread drops (detaches) the JoinHandle and the task (which yields
/// once, then completes) runs on a third. Whichever of the AbortHandle, the
/// JoinHandle, the registry or the poller lets go last frees the cell, exactly
/// once; the future is dropped once, and the output, if produced, once.
#[test]
fn abort_handle_races_completion_and_join_handle_drop() {
    loom::model(|| {
        let sched = Sched::new();
        let counters = Counters::new();
        let fut = Tracked::new(&counters, |cx, n| {
            if n == 0 {
                cx.waker().wake_by_ref();
                false
            } else {
                true
            }
        });
        let (jh, notified) = spawn(fut, &sched);
        let ah = jh.abort_handle();
        assert_eq!(ah.id(), jh.id());

        let aborter = thread::spawn(move || {
            ah.abort();
            drop(ah);
        });
        let dropper = thread::spawn(move || drop(jh));

        notified.run();
        sched.run_until_idle();
        aborter.join().unwrap();
        dropper.join().unwrap();
        sched.run_until_idle();

        assert!(counters.completed() <= 1);
        assert_eq!(counters.output_drops(), counters.completed(), "the output was not dropped once");
        assert_eq!(counters.future_drops(), 1);
        sched.assert_quiescent();
    });
}

/// A clone of an `AbortHandle` aborts, from another thread, a task that never
/// completes on its own, racing its first poll (before it, during it, or once the
/// task is idle and the abort must schedule it): the JoinHandle gets the
/// cancellation and the original AbortHandle, kept here, reports it finished.
#[test]
fn abort_handle_clone_cancels_idle_task() {
    loom::model(|| {
        let sched = Sched::new();
        let counters = Counters::new();
        let fut = Tracked::new(&counters, |_, _| false);
        let (mut jh, notified) = spawn(fut, &sched);
        let ah = jh.abort_handle();
        let clone = ah.clone();

        let aborter = thread::spawn(move || clone.abort());

        notified.run();
        sched.run_until_idle();
        aborter.join().unwrap();
        sched.run_until_idle();

        let err = expect_ready(&mut jh).err().expect("the future never completes");
        assert!(err.is_cancelled());
        assert!(ah.is_finished());
        assert_eq!(counters.future_drops(), 1);
        drop(jh);
        drop(ah);
        sched.assert_quiescent();
    });
}

// ---------------------------------------------------------------------------
// (d) JoinHandle dropped racing completion
// ---------------------------------------------------------------------------

/// Dropping the JoinHandle (detaching) while the task completes: the output is
/// dropped exactly once, by the task or by the handle, whichever comes second.
fn join_handle_drop_races_completion(self_wake_first: bool) {
    loom::model(move || {
        let sched = Sched::new();
        let counters = Counters::new();
        let fut = Tracked::new(&counters, move |cx, n| {
            if self_wake_first && n == 0 {
                cx.waker().wake_by_ref();
                false
            } else {
                true
            }
        });
        let (jh, notified) = spawn(fut, &sched);

        let dropper = thread::spawn(move || drop(jh));

        notified.run();
        sched.run_until_idle();
        dropper.join().unwrap();
        sched.run_until_idle();

        assert_eq!(counters.completed(), 1);
        assert_eq!(counters.future_drops(), 1);
        assert_eq!(counters.output_drops(), 1, "the detached task's output was not dropped once");
        sched.assert_quiescent();
    });
}

#[test]
fn join_handle_drop_races_completion_ready() {
    join_handle_drop_races_completion(false);
}

#[test]
fn join_handle_drop_races_completion_after_yield() {
    join_handle_drop_races_completion(true);
}

// ---------------------------------------------------------------------------
// Registry shutdown racing the poller
// ---------------------------------------------------------------------------

/// Runtime shutdown (`close` + `shutdown_all`) on one thread while another polls
/// the task (which yields once, then completes): the task ends either completed
/// or cancelled, its future dropped exactly once, and the queued `Notified` that
/// shutdown pre-empted is skipped without a double free.
#[test]
fn shutdown_races_poll() {
    loom::model(|| {
        let sched = Sched::new();
        let counters = Counters::new();
        let fut = Tracked::new(&counters, |cx, n| {
            if n == 0 {
                cx.waker().wake_by_ref();
                false
            } else {
                true
            }
        });
        let (mut jh, notified) = spawn(fut, &sched);

        let closer = thread::spawn({
            let sched = sched.clone();
            move || {
                sched.owned().close();
                sched.owned().shutdown_all();
            }
        });

        notified.run();
        sched.run_until_idle();
        closer.join().unwrap();
        sched.run_until_idle();

        match expect_ready(&mut jh) {
            Ok(out) => {
                assert_eq!(out.value, OUTPUT);
                drop(out);
                assert_eq!(counters.output_drops(), 1);
            }
            Err(e) => {
                assert!(e.is_cancelled(), "unexpected JoinError: {e:?}");
                assert_eq!(counters.completed(), 0);
            }
        }
        assert_eq!(counters.future_drops(), 1);
        drop(jh);
        sched.assert_quiescent();
    });
}

/// A named spawn racing runtime shutdown (`close` + `shutdown_all`) on another
/// thread: the task ends completed or cancelled, and once it has, the registry
/// must no longer hold its name (`Handle::task_name` must not find a finished
/// task; `OwnedTasks::remove` forgets the name before publishing COMPLETE).
///
/// This model found `bind` publishing the name after dropping the shard lock,
/// so a `shutdown_all` that found the task in between completed it without
/// removing the name (see `loom-tests/README.md`); `bind` now publishes first.
#[test]
fn named_spawn_races_shutdown() {
    loom::model(|| {
        let sched = Sched::new();
        let counters = Counters::new();
        let name: std::sync::Arc<str> = "named".into();
        let fut = Tracked::new(&counters, |_, _| true);

        let closer = thread::spawn({
            let sched = sched.clone();
            move || {
                sched.owned().close();
                sched.owned().shutdown_all();
            }
        });

        let (mut jh, notified) = spawn_task(fut, &sched, Some(name.clone()));
        if let Some(notified) = notified {
            notified.run();
        }
        sched.run_until_idle();
        closer.join().unwrap();
        sched.run_until_idle();

        match expect_ready(&mut jh) {
            Ok(out) => assert_eq!(out.value, OUTPUT),
            Err(e) => assert!(e.is_cancelled(), "unexpected JoinError: {e:?}"),
        }
        assert_eq!(counters.future_drops(), 1);
        drop(jh);
        sched.assert_quiescent();
        assert_eq!(
            std::sync::Arc::strong_count(&name),
            1,
            "the registry still holds the name of a finished task"
        );
    });
}
