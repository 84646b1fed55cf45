//! A worker thread's run loop.
//!
//! Each tick: every `global_queue_interval` ticks look at the injector first (so
//! remote work is never starved by a busy local queue); otherwise LIFO slot, local
//! queue, injector; then steal from a random victim; then park. After a task is
//! polled, the task it woke into the LIFO slot runs next, at most
//! `MAX_LIFO_POLLS_PER_TICK` times in a row, so a ping-pong pair cannot keep the
//! rest of the queue waiting.

use std::cell::Cell;
use std::sync::Arc;

use super::{Core, Shared, Task};
use crate::loom::{fence, Ordering::SeqCst};
use crate::metrics::{self, WorkerTimer};
use crate::scheduler::CoreContext;
use crate::{context, Handle};

const MAX_LIFO_POLLS_PER_TICK: u32 = 3;

type WorkerContext = CoreContext<Shared, Core>;

std::thread_local! {
    static WORKER: Cell<*const WorkerContext> = const { Cell::new(std::ptr::null()) };
}

/// Calls `f` with this thread's core if the thread is a worker of `shared` and the
/// core is available (it is, while a task polls); else with `None`.
pub(super) fn with_current_core<R>(shared: &Arc<Shared>, f: impl FnOnce(Option<&mut Core>) -> R) -> R {
    WorkerContext::with_current(&WORKER, shared, f)
}

pub(super) fn run(shared: &Arc<Shared>, handle: &Handle, core: Box<Core>) {
    let _enter = context::enter_runtime(handle);
    let cx = WorkerContext::new(shared.clone(), None);
    let _entered = cx.enter(&WORKER);

    let mut core = core;
    while !shared.is_shutdown() {
        core.tick = core.tick.wrapping_add(1);
        if core.tick.is_multiple_of(shared.tuning.event_interval) {
            // Busy for a while: let I/O events and due timers in (with the core in
            // the context, so the tasks they wake queue here).
            core.timer.checkpoint(&shared.metrics[core.index]);
            *cx.core.borrow_mut() = Some(core);
            shared.driver.maintain();
            core = cx.core.borrow_mut().take().expect("worker core lost in the driver");
        }
        if let Some(task) = next_task(shared, &mut core) {
            core = run_task(&cx, core, task);
            continue;
        }
        if let Some(task) = steal_work(shared, &mut core) {
            core = run_task(&cx, core, task);
            continue;
        }
        core = park(&cx, core);
    }

    // Shutdown: release the references this worker still queues.
    core.timer.idle(&shared.metrics[core.index]);
    drop(core.lifo.take());
    while core.queue.pop().is_some() {}
}

fn next_task(shared: &Shared, core: &mut Core) -> Option<Task> {
    let n = shared.num_workers();
    let from_inject = |core: &mut Core| {
        let fair_share = shared.inject.len() / n + 1;
        core.queue.take_from_injector(&shared.inject, fair_share)
    };
    if core.tick.is_multiple_of(shared.tuning.global_queue_interval) {
        if let Some(task) = super::queue::retry(|| shared.inject.steal()) {
            return Some(task);
        }
    }
    core.lifo.take().or_else(|| core.queue.pop()).or_else(|| from_inject(core))
}

/// Looks through the other workers' queues, then the injector. Only enters the
/// searching state when fewer than half the workers already search.
fn steal_work(shared: &Shared, core: &mut Core) -> Option<Task> {
    if !core.searching {
        if !shared.idle.transition_worker_to_searching() {
            return None;
        }
        core.searching = true;
    }
    let n = shared.num_workers();
    let start = core.rand.below(n);
    for i in 0..n {
        let victim = (start + i) % n;
        if victim == core.index {
            continue;
        }
        if let Some(task) = core.queue.steal_half_from(&shared.remotes[victim].stealer) {
            let m = &shared.metrics[core.index];
            metrics::add(&m.steals, 1 + core.queue.len() as u64);
            metrics::bump(&m.steal_operations);
            return Some(task);
        }
    }
    core.queue.take_from_injector(&shared.inject, shared.inject.len() / n + 1)
}

fn run_task(cx: &WorkerContext, mut core: Box<Core>, task: Task) -> Box<Core> {
    let shared = &*cx.shared;
    if core.searching {
        core.searching = false;
        if shared.idle.transition_worker_from_searching() {
            // We were the last searcher and found work: there may be more.
            shared.notify_parked();
        }
    }
    let m = &shared.metrics[core.index];
    let mut lifo_polls = 0;
    let mut task = task;
    let mut poll_start = core.timer.batch_start();
    loop {
        metrics::bump(&m.polls);
        *cx.core.borrow_mut() = Some(core);
        task.run();
        WorkerTimer::poll_done(m, &mut poll_start);
        core = cx.core.borrow_mut().take().expect("worker core lost during a poll");
        let Some(next) = core.lifo.take() else {
            return core;
        };
        if lifo_polls >= MAX_LIFO_POLLS_PER_TICK {
            // Ping-pong cap: the woken task waits its turn in the queue.
            if core.queue.push_back_or_overflow(next, &shared.inject) {
                metrics::bump(&m.overflows);
            }
            return core;
        }
        lifo_polls += 1;
        task = next;
    }
}

fn park(cx: &WorkerContext, mut core: Box<Core>) -> Box<Core> {
    let shared = &*cx.shared;
    let index = core.index;
    debug_assert!(core.lifo.is_none() && core.queue.is_empty());
    metrics::bump(&shared.metrics[index].parks);
    core.timer.idle(&shared.metrics[index]);
    if shared.idle.transition_worker_to_parked(index, core.searching) {
        // Last searcher out: a task pushed while we searched may have seen us
        // searching and woken nobody. Look once more before sleeping.
        fence(SeqCst);
        if has_work(shared) {
            shared.notify_parked();
        }
    }
    core.searching = false;
    let parker = core.parker.another_handle();
    loop {
        // In the driver if no other worker is. The core sits in the context
        // meanwhile, so tasks the driver wakes on this thread (I/O events, timers)
        // go to our LIFO slot and queue, not the injector; a push past the LIFO
        // slot notifies another worker, which may steal.
        *cx.core.borrow_mut() = Some(core);
        let drove = parker.park();
        core = cx.core.borrow_mut().take().expect("worker core lost while parked");
        if shared.is_shutdown() {
            return core;
        }
        if core.lifo.is_some() || !core.queue.is_empty() {
            // Our own driver turn queued work here: run it. Leave the sleeper list
            // ourselves unless `worker_to_notify` already took us (then we count
            // as searching).
            core.searching = !shared.idle.unpark_worker_by_id(index);
            hand_off_if_needed(shared, drove);
            return core;
        }
        if !shared.idle.is_parked(index) {
            // `worker_to_notify` took us off the list and counted us as searching.
            core.searching = true;
            hand_off_if_needed(shared, drove);
            return core;
        }
    }
}

/// A worker leaving the driver to run tasks wakes a sleeping worker to take the
/// driver over (unless the builder turned the hand-off off), so that events and
/// timers never wait behind a long poll while another worker sleeps.
fn hand_off_if_needed(shared: &Shared, drove: bool) {
    if drove && shared.tuning.driver_hand_off {
        shared.hand_off_driver();
    }
}

fn has_work(shared: &Shared) -> bool {
    !shared.inject.is_empty() || shared.remotes.iter().any(|r| !r.stealer.is_empty())
}
