//! Helpers shared by the integration tests: runtime flavours, bounded waits,
//! drop flags and a std-thread-backed sleep (tern has no timer yet).
//!
//! Every test body runs under a wall-clock deadline, so a hang in the runtime
//! fails the test instead of stalling the whole suite.

#![allow(dead_code)]

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use tern_runtime::{Builder, Runtime};

/// Generous per-body limit: debug builds on a loaded 2-core machine are slow,
/// but nothing here should take more than a couple of seconds.
pub const BODY_DEADLINE: Duration = Duration::from_secs(30);

/// Which scheduler (and how many workers) a test body runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    CurrentThread,
    MultiThread(usize),
}

/// The flavours most tests run on.
pub const ALL: &[Flavor] = &[Flavor::CurrentThread, Flavor::MultiThread(2), Flavor::MultiThread(4)];

/// Flavours where exactly one thread runs tasks.
pub const SINGLE: &[Flavor] = &[Flavor::CurrentThread, Flavor::MultiThread(1)];

/// Multi-thread flavours only.
pub const MULTI: &[Flavor] = &[Flavor::MultiThread(1), Flavor::MultiThread(2), Flavor::MultiThread(4)];

impl Flavor {
    pub fn builder(self) -> Builder {
        match self {
            Flavor::CurrentThread => Builder::new_current_thread(),
            Flavor::MultiThread(n) => {
                let mut b = Builder::new_multi_thread();
                b.worker_threads(n);
                b
            }
        }
    }

    /// The runtime with I/O and timers enabled (as `Runtime::new` has them).
    pub fn build(self) -> Runtime {
        self.builder().enable_all().build().expect("runtime builds")
    }

    pub fn is_multi(self) -> bool {
        matches!(self, Flavor::MultiThread(_))
    }

    pub fn workers(self) -> usize {
        match self {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread(n) => n,
        }
    }
}

/// Runs `body` once per flavour in `flavors`, each on a fresh runtime and on its
/// own thread under [`BODY_DEADLINE`]. Every flavour runs even when an earlier
/// one fails; the failures are reported together.
pub fn each<F>(flavors: &[Flavor], body: F)
where
    F: Fn(Runtime, Flavor) + Send + Sync + 'static,
{
    let body = Arc::new(body);
    let mut failures = Vec::new();
    for &flavor in flavors {
        let body = body.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_deadline(&format!("{flavor:?}"), BODY_DEADLINE, move || body(flavor.build(), flavor))
        }));
        if let Err(payload) = r {
            failures.push(panic_message(&*payload));
        }
    }
    if !failures.is_empty() {
        panic!("{}", failures.join("\n"));
    }
}

/// Runs `f` on a new thread and waits at most `limit` for it. A panic inside is
/// re-raised here (with `what` prepended to its message); running past the limit
/// fails the test. The thread of a body that hangs is leaked.
pub fn with_deadline<T, F>(what: &str, limit: Duration, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let t = thread::Builder::new()
        .name(format!("test-body {what}"))
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .expect("spawn test thread");
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => {
            t.join().expect("test thread");
            v
        }
        Ok(Err(payload)) => {
            let _ = t.join();
            panic!("[{what}] {}", panic_message(&*payload));
        }
        Err(_) => panic!("[{what}] did not finish within {limit:?}: the runtime hangs"),
    }
}

/// The message of a panic payload (`&str` or `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// Polls `cond` (every millisecond) until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Sets its flag when dropped: proves a future (or output) was dropped.
pub struct DropFlag(Arc<AtomicBool>);

impl DropFlag {
    pub fn new() -> (DropFlag, Arc<AtomicBool>) {
        let f = Arc::new(AtomicBool::new(false));
        (DropFlag(f.clone()), f)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl fmt::Debug for DropFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DropFlag")
    }
}

/// Adds one to a shared counter when dropped.
#[derive(Debug)]
pub struct DropCounter(pub Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct WakeState {
    fired: bool,
    waker: Option<Waker>,
}

/// A future completed by a plain std thread after `after`: the waker is stored
/// and woken from that thread (the cross-thread wake path), never polled in a loop.
pub struct ThreadSleep {
    after: Duration,
    state: Arc<Mutex<WakeState>>,
    started: bool,
}

pub fn sleep(after: Duration) -> ThreadSleep {
    ThreadSleep { after, state: Arc::default(), started: false }
}

impl Future for ThreadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.state.lock().unwrap();
        if st.fired {
            return Poll::Ready(());
        }
        st.waker = Some(cx.waker().clone());
        drop(st);
        if !self.started {
            self.started = true;
            let state = self.state.clone();
            let after = self.after;
            thread::spawn(move || {
                thread::sleep(after);
                let waker = {
                    let mut st = state.lock().unwrap();
                    st.fired = true;
                    st.waker.take()
                };
                if let Some(w) = waker {
                    w.wake();
                }
            });
        }
        Poll::Pending
    }
}

/// `fut` did not finish in time.
#[derive(Debug, PartialEq, Eq)]
pub struct Elapsed;

/// Races `fut` against a [`sleep`]: a bounded await usable inside tasks and
/// `block_on` on either scheduler.
pub async fn timeout<F: Future>(limit: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let fut = pin!(fut);
    let timer = pin!(sleep(limit));
    match futures::future::select(fut, timer).await {
        futures::future::Either::Left((v, _)) => Ok(v),
        futures::future::Either::Right(_) => Err(Elapsed),
    }
}

/// Spins (without yielding) for `d`: a stand-in for a little CPU-bound work.
pub fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// A future that counts how often it is polled and is otherwise `inner`.
pub struct CountPolls<F> {
    pub inner: Pin<Box<F>>,
    pub polls: Arc<AtomicUsize>,
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

/// Lets `rt` run its tasks (on a current-thread runtime they only run inside
/// `block_on`) until `cond` holds or `limit` passes.
pub fn drive_until(rt: &Runtime, limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        rt.block_on(sleep(Duration::from_millis(1)));
    }
}

/// A future that resolves to `true` once `cond` holds (checked from a std
/// thread every millisecond), or to `false` after `limit`.
pub fn signal_when(
    limit: Duration,
    cond: impl FnMut() -> bool + Send + 'static,
) -> impl Future<Output = bool> + Send + 'static {
    let (tx, rx) = futures::channel::oneshot::channel();
    thread::spawn(move || {
        let _ = tx.send(wait_until(limit, cond));
    });
    async move { rx.await.unwrap_or(false) }
}

/// CPU time (user + system) this process has used so far, from `getrusage`.
/// Process-wide: callers serialize against other tests that burn CPU.
pub fn cpu_time() -> Duration {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage; getrusage only writes into it.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv =
        |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
