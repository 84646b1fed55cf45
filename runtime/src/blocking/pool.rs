//! The pool's shared state, its threads' run loop and its shutdown.
//!
//! One mutex guards the FIFO queue and the thread counts; one condvar wakes idle
//! threads, another wakes a shutdown waiting for the threads to exit. Scheduling
//! a job (the task's `Schedule::schedule`): push it, then wake an idle thread if
//! there is one, else start a thread if below the cap, else leave it queued for
//! the next thread that finishes a job. A thread runs queued jobs until the queue
//! is empty, then waits on the condvar for at most the keep-alive and exits if
//! nothing woke it in that time. Nothing spins.
//!
//! Wake-ups are counted (tokio's scheme): `schedule` moves one thread from
//! `num_idle` to `num_notify` before `notify_one`, and a waking thread only
//! counts itself busy by consuming a `num_notify`. A thread that wakes without
//! one (spurious, or another thread took the notification) waits again until its
//! keep-alive deadline. So at all times `num_idle + num_notify` threads wait on
//! the condvar, and a notification is never lost to a thread that is leaving.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::task::BlockingTask;
use crate::loom::{Condvar, Mutex};
use crate::scheduler::Scheduler;
use crate::task::{self, JoinHandle, Notified, OwnedTasks, Schedule};
use crate::{context, Handle};

type Job = Notified<Arc<PoolShared>>;

/// Settings fixed when the pool is built.
pub(crate) struct Config {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) name: Arc<dyn Fn() -> String + Send + Sync>,
    pub(crate) stack_size: Option<usize>,
}

/// State shared by the pool's owner, its spawners and its threads.
pub(crate) struct PoolShared {
    state: Mutex<State>,
    /// Idle threads wait here for a job (or shutdown).
    work_cv: Condvar,
    /// A shutdown waits here for the last thread to exit.
    exit_cv: Condvar,
    /// Every job not yet complete, so shutdown can cancel the queued ones.
    owned: OwnedTasks<Arc<PoolShared>>,
    config: Config,
}

struct State {
    queue: VecDeque<Job>,
    shutdown: bool,
    /// Threads started and not yet exited.
    num_threads: usize,
    /// Threads waiting for work that no `schedule` has claimed.
    num_idle: usize,
    /// Notifications sent to idle threads and not yet consumed.
    num_notify: usize,
    /// Join handles of live threads, keyed by a per-pool thread number.
    threads: HashMap<usize, thread::JoinHandle<()>>,
    next_thread_id: usize,
    /// The runtime whose pool this is: its threads make that runtime current.
    runtime: Option<Scheduler>,
}

crate::loom::thread_local! {
    /// Address of the pool this thread belongs to (0 on other threads).
    static CURRENT_POOL: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl PoolShared {
    pub(crate) fn new(config: Config) -> Arc<PoolShared> {
        Arc::new(PoolShared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                shutdown: false,
                num_threads: 0,
                num_idle: 0,
                num_notify: 0,
                threads: HashMap::new(),
                next_thread_id: 0,
                runtime: None,
            }),
            work_cv: Condvar::new(),
            exit_cv: Condvar::new(),
            owned: OwnedTasks::new(4),
            config,
        })
    }

    /// Makes the pool's threads enter `runtime`'s handle (set once, at build).
    pub(crate) fn set_runtime(&self, runtime: Scheduler) {
        self.state.lock().runtime = Some(runtime);
    }

    #[cfg_attr(feature = "tracing", track_caller)]
    pub(crate) fn spawn<F, R>(self: &Arc<Self>, func: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let meta = task::SpawnMeta::new(task::SpawnKind::Blocking);
        let (join, notified) = task::spawn_task_meta(BlockingTask::new(func), self, None, meta);
        if let Some(job) = notified {
            self.push(job);
        }
        join
    }

    /// Queues `job` and makes sure a thread will run it (see the module docs).
    fn push(self: &Arc<Self>, job: Job) {
        let mut st = self.state.lock();
        if st.shutdown {
            drop(st);
            // Shutdown cancels every registered job itself; this reference is spare.
            drop(job);
            return;
        }
        st.queue.push_back(job);
        if st.num_idle > 0 {
            st.num_idle -= 1;
            st.num_notify += 1;
            self.work_cv.notify_one();
        } else if st.num_threads < self.config.max_threads {
            if let Err(e) = self.start_thread(&mut st) {
                // With a thread alive the job runs when that thread is free;
                // with none, nothing ever would.
                assert!(st.num_threads > 0, "failed to start a blocking pool thread: {e}");
            }
        }
    }

    fn start_thread(self: &Arc<Self>, st: &mut State) -> std::io::Result<()> {
        let id = st.next_thread_id;
        let handle = st.runtime.clone().map(|inner| Handle { inner, blocking: super::Spawner(self.clone()) });
        let mut builder = thread::Builder::new().name((self.config.name)());
        if let Some(size) = self.config.stack_size {
            builder = builder.stack_size(size);
        }
        let shared = self.clone();
        let join = builder.spawn(move || {
            // The runtime's handle is current (so `Handle::current()` and `spawn`
            // work in a job), but the thread is not "entered": a job may `block_on`.
            let _current = handle.as_ref().map(context::set_current);
            CURRENT_POOL.with(|p| p.set(Arc::as_ptr(&shared) as usize));
            shared.run(id);
        })?;
        st.next_thread_id += 1;
        st.num_threads += 1;
        st.threads.insert(id, join);
        Ok(())
    }

    /// A pool thread's life: run jobs, wait idle at most the keep-alive, exit.
    fn run(&self, id: usize) {
        let mut st = self.state.lock();
        'work: loop {
            while let Some(job) = st.queue.pop_front() {
                drop(st);
                job.run();
                st = self.state.lock();
            }
            if st.shutdown {
                break;
            }
            st.num_idle += 1;
            let deadline = Instant::now().checked_add(self.config.keep_alive);
            loop {
                st = match deadline {
                    Some(d) => self.work_cv.wait_for(st, d.saturating_duration_since(Instant::now())),
                    None => self.work_cv.wait(st),
                };
                if st.num_notify > 0 {
                    // `schedule` already took us out of `num_idle`.
                    st.num_notify -= 1;
                    continue 'work;
                }
                if st.shutdown {
                    st.num_idle -= 1;
                    break 'work;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    // Kept alive long enough with nothing to do: leave, detached.
                    st.num_idle -= 1;
                    st.threads.remove(&id);
                    break 'work;
                }
            }
        }
        st.num_threads -= 1;
        if st.num_threads == 0 {
            self.exit_cv.notify_all();
        }
    }

    /// Stops the pool: refuses new jobs, cancels the queued ones (dropping their
    /// closures on this thread), wakes the idle threads, then waits up to
    /// `timeout` (forever if `None`) for running jobs to finish and every thread
    /// to exit. Threads still busy at the deadline are detached. Called on one of
    /// this pool's threads it does not wait. Returns `true` when every thread exited.
    pub(crate) fn shutdown(self: &Arc<Self>, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|d| Instant::now().checked_add(d));
        let first = !std::mem::replace(&mut self.state.lock().shutdown, true);
        if first {
            self.owned.close();
            // Closures dropped here may look up the handle or spawn (and get a
            // cancelled handle).
            let runtime = self.state.lock().runtime.clone();
            let handle = runtime.map(|inner| Handle { inner, blocking: super::Spawner(self.clone()) });
            let _current = handle.as_ref().map(context::set_current);
            self.owned.shutdown_all();
            let queued = std::mem::take(&mut self.state.lock().queue);
            drop(queued);
            self.work_cv.notify_all();
        }
        let on_own_thread = CURRENT_POOL.with(|p| p.get()) == Arc::as_ptr(self) as usize;
        let mut st = self.state.lock();
        while st.num_threads > 0 && !on_own_thread {
            st = match deadline {
                // No timeout, or one too large for `Instant`: wait for the threads.
                None => self.exit_cv.wait(st),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    self.exit_cv.wait_for(st, d - now)
                }
            };
        }
        let all = st.num_threads == 0;
        let threads = std::mem::take(&mut st.threads);
        drop(st);
        if all {
            for t in threads.into_values() {
                let _ = t.join();
            }
        }
        // Otherwise dropping the join handles detaches the threads still busy.
        all
    }

    pub(crate) fn num_threads(&self) -> usize {
        self.state.lock().num_threads
    }

    pub(crate) fn num_idle_threads(&self) -> usize {
        self.state.lock().num_idle
    }

    pub(crate) fn queue_depth(&self) -> usize {
        self.state.lock().queue.len()
    }

    pub(crate) fn max_threads(&self) -> usize {
        self.config.max_threads
    }
}

impl Schedule for Arc<PoolShared> {
    fn schedule(&self, job: Job) {
        self.push(job);
    }

    fn owned(&self) -> &OwnedTasks<Self> {
        &self.owned
    }
}
