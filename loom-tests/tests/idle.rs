#![cfg(loom)]
//! Loom models of the multi-thread scheduler's sleep protocol: `Idle`
//! (`scheduler/multi_thread/idle.rs`) plus one `Parker` per worker, driven the way
//! `scheduler/multi_thread/worker.rs` drives them. A loom `AtomicUsize` stands for
//! the run queues (the injector): pushing work is an increment, taking it a
//! decrement.
//!
//! The property is "no lost wake-up": whenever work is pushed, some worker ends up
//! awake to take it. A lost wake-up leaves every thread blocked (the workers
//! parked, the pusher waiting for its work to be taken), which loom reports as a
//! deadlock.
//!
//! The pushing side is `Shared::notify_parked`: push, `fence(SeqCst)`,
//! `worker_to_notify`, unpark. The parking side is `worker::park`:
//! `transition_worker_to_parked`; if that was the last searcher, `fence(SeqCst)`
//! and re-check the queues (notifying if there is work); then park until taken
//! off the sleeper list. loom models `fence(SeqCst)` but treats `SeqCst` accesses
//! as `AcqRel`, so the two fences are what these models lean on.

use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use tern_runtime::__loom::{Idle, Parker, Unparker};

struct World {
    idle: Idle,
    /// Tasks queued and not yet taken (the injector).
    work: AtomicUsize,
    unparkers: Vec<Unparker>,
    shutdown: AtomicBool,
    /// Tasks taken by workers.
    taken: AtomicUsize,
    /// Wakes the pushing thread when a task was taken.
    pusher: Unparker,
}

impl World {
    /// `Shared::notify_parked`.
    fn notify_parked(&self) {
        fence(SeqCst);
        if let Some(index) = self.idle.worker_to_notify() {
            self.unparkers[index].unpark();
        }
    }

    /// `Shared::schedule_remote`: push, then notify.
    fn push(&self) {
        self.work.fetch_add(1, SeqCst);
        self.notify_parked();
    }

    /// A worker takes one task if there is one.
    fn try_take(&self) -> bool {
        let mut cur = self.work.load(SeqCst);
        loop {
            if cur == 0 {
                return false;
            }
            match self.work.compare_exchange(cur, cur - 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    fn has_work(&self) -> bool {
        self.work.load(SeqCst) > 0
    }
}

/// `worker::park`. Returns when the worker was taken off the sleeper list (it is
/// then counted as searching) or at shutdown.
fn park(world: &World, index: usize, parker: &Parker, searching: &mut bool) {
    if world.idle.transition_worker_to_parked(index, *searching) {
        // Last searcher out: re-check before sleeping.
        fence(SeqCst);
        if world.has_work() {
            world.notify_parked();
        }
    }
    *searching = false;
    loop {
        parker.park();
        if world.shutdown.load(SeqCst) {
            return;
        }
        if !world.idle.is_parked(index) {
            *searching = true;
            return;
        }
    }
}

/// `worker::run_task`, minus the poll: leave the searching state (waking another
/// worker if we were the last searcher) and report the task as taken.
fn run_task(world: &World, searching: &mut bool) {
    if *searching {
        *searching = false;
        if world.idle.transition_worker_from_searching() {
            world.notify_parked();
        }
    }
    world.taken.fetch_add(1, SeqCst);
    world.pusher.unpark();
}

/// `worker::run`: local work, then steal (only as a searcher), then park.
fn run_worker(world: &World, index: usize, parker: &Parker, mut searching: bool, start_parked: bool) {
    if start_parked {
        park(world, index, parker, &mut searching);
    }
    while !world.shutdown.load(SeqCst) {
        // next_task
        if world.try_take() {
            run_task(world, &mut searching);
            continue;
        }
        // steal_work: only a searcher looks at other queues.
        if !searching && world.idle.transition_worker_to_searching() {
            searching = true;
        }
        if searching && world.try_take() {
            run_task(world, &mut searching);
            continue;
        }
        park(world, index, parker, &mut searching);
    }
}

/// `workers` workers run the loop above while the main thread pushes `tasks`
/// tasks one by one (each push followed by `notify_parked`), waits on its own
/// parker until all were taken, then shuts down as `Shared::shutdown` does.
/// `parked`: worker 1 starts already asleep (fewer states to explore).
fn workers_take_pushed_work(workers: usize, tasks: usize, parked: bool) {
    loom::model(move || {
        let main_parker = Parker::new();
        let parkers: Vec<Parker> = (0..workers).map(|_| Parker::new()).collect();
        let world = Arc::new(World {
            idle: Idle::new(workers),
            work: AtomicUsize::new(0),
            unparkers: parkers.iter().map(Parker::unparker).collect(),
            shutdown: AtomicBool::new(false),
            taken: AtomicUsize::new(0),
            pusher: main_parker.unparker(),
        });
        let threads: Vec<_> = parkers
            .into_iter()
            .enumerate()
            .map(|(index, parker)| {
                let world = world.clone();
                let start_parked = parked && index == 1;
                thread::spawn(move || run_worker(&world, index, &parker, false, start_parked))
            })
            .collect();

        for _ in 0..tasks {
            world.push();
        }
        while world.taken.load(SeqCst) < tasks {
            main_parker.park();
        }

        world.shutdown.store(true, SeqCst);
        for index in world.idle.take_all_sleepers() {
            world.unparkers[index].unpark();
        }
        for u in &world.unparkers {
            u.unpark();
        }
        for th in threads {
            th.join().unwrap();
        }
        assert_eq!(world.work.load(SeqCst), 0);
        assert_eq!(world.taken.load(SeqCst), tasks);
    });
}

/// The brief's minimal model: one worker, already searching and finding nothing,
/// parks while another thread pushes a task and notifies. Whatever the order, the
/// worker wakes up (by the pusher's unpark or by its own last-searcher re-check)
/// and, once awake, sees the task.
#[test]
fn last_searcher_parks_while_work_is_pushed() {
    loom::model(|| {
        let parker = Parker::new();
        let world = Arc::new(World {
            idle: Idle::new(1),
            work: AtomicUsize::new(0),
            unparkers: vec![parker.unparker()],
            shutdown: AtomicBool::new(false),
            taken: AtomicUsize::new(0),
            pusher: Parker::new().unparker(),
        });
        assert!(world.idle.transition_worker_to_searching());

        let worker = thread::spawn({
            let world = world.clone();
            move || {
                let mut searching = true;
                park(&world, 0, &parker, &mut searching);
                assert!(searching, "woken by worker_to_notify, so counted as searching");
                assert!(world.try_take(), "woke up but the pushed task is not visible");
                run_task(&world, &mut searching);
            }
        });

        world.push();
        worker.join().unwrap();
        assert_eq!(world.taken.load(SeqCst), 1);
    });
}

/// The full worker loop, one worker: start-up, search, park, wake, shutdown.
#[test]
fn one_worker_one_task() {
    workers_take_pushed_work(1, 1, false);
}

/// Two workers, one asleep from the start, one task: the awake worker becomes the
/// (only) searcher and may park as the last searcher while the task is pushed.
#[test]
fn two_workers_one_task_one_asleep() {
    workers_take_pushed_work(2, 1, true);
}

/// Two workers starting awake: only one may search, the other parks without
/// searching and must be covered by the searcher's re-check.
#[test]
fn two_workers_one_task() {
    workers_take_pushed_work(2, 1, false);
}

/// Two tasks pushed back to back, one worker asleep: the second push may find a
/// searcher (and wake nobody), which must then take it or hand it on.
#[test]
fn two_workers_two_tasks_one_asleep() {
    workers_take_pushed_work(2, 2, true);
}

/// A parked worker finds work its own driver turn queued locally and leaves the sleeper
/// list itself (`unpark_worker_by_id`), racing another thread whose push notifies a sleeper
/// (`worker_to_notify`, which may pick that same worker). Exactly one of the two takes it
/// off the list, and the counters agree with who did: one unparked worker, searching only if
/// `worker_to_notify` took it (it counts its pick as searching).
#[test]
fn self_unpark_races_notify() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(2));
        // Worker 0 busy (unparked); worker 1 parks, not searching.
        assert!(!idle.transition_worker_to_parked(1, false));
        let notifier = thread::spawn({
            let idle = idle.clone();
            move || idle.worker_to_notify()
        });
        let by_self = idle.unpark_worker_by_id(1);
        let picked = notifier.join().unwrap();
        assert!(
            by_self != (picked == Some(1)),
            "taken by both or by neither: self {by_self}, notify {picked:?}"
        );
        let (unparked, searching) = idle.counts();
        assert_eq!(unparked, 2, "both workers count as unparked");
        assert_eq!(searching, usize::from(picked == Some(1)));
        assert!(!idle.is_parked(1));
    });
}
