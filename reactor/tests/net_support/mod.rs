//! Test-only support for the `net_*` integration tests: an I/O driver turning on its own
//! thread, a timer driver on its own thread, and a `block_on` that makes both current.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use tern_reactor::{io, time};

/// How long a `block_on` may wait for something that should take milliseconds; generous,
/// for a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// An I/O driver turning (`turn(None)`) on its own thread until dropped.
struct IoThread {
    handle: io::Handle,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl IoThread {
    fn start() -> IoThread {
        let (mut driver, handle) = io::Driver::new().expect("create the I/O driver");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::Builder::new()
            .name("net-test-io-driver".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::SeqCst) {
                        driver.turn(None).expect("I/O driver turn");
                    }
                }
            })
            .unwrap();
        IoThread { handle, stop, thread: Some(thread) }
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.handle.unpark();
        let joined = self.thread.take().unwrap().join();
        if !thread::panicking() {
            joined.unwrap();
        }
    }
}

/// A timer driver on its own thread: parks until the next expiration, then processes.
struct TimerThread {
    handle: time::Handle,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TimerThread {
    fn start() -> TimerThread {
        let driver = time::Driver::new();
        let handle = driver.handle().clone();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = thread::Builder::new()
            .name("net-test-timer".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    let handle = driver.handle();
                    let me = thread::current();
                    handle.set_unpark(Arc::new(move || me.unpark()));
                    ready_tx.send(()).unwrap();
                    while !stop.load(Ordering::SeqCst) {
                        match handle.next_expiration() {
                            Some(at) => thread::park_timeout(at.saturating_duration_since(Instant::now())),
                            None => thread::park(),
                        }
                        handle.process();
                    }
                    handle.clear_unpark();
                }
            })
            .unwrap();
        ready_rx.recv().unwrap();
        TimerThread { handle, stop, thread: Some(thread) }
    }
}

impl Drop for TimerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread.take().unwrap();
        thread.thread().unpark();
        let joined = thread.join();
        if !thread::panicking() {
            joined.unwrap();
        }
    }
}

/// Both drivers; dropping it stops them.
pub struct Env {
    io: IoThread,
    timer: TimerThread,
}

impl Env {
    pub fn start() -> Env {
        Env { io: IoThread::start(), timer: TimerThread::start() }
    }

    /// Cloneable, `Send` handles to both drivers, for other threads.
    pub fn handles(&self) -> Handles {
        Handles { io: self.io.handle.clone(), timer: self.timer.handle.clone() }
    }

    /// `Handles::block_on` on this thread.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handles().block_on(future)
    }
}

/// The handles of an [`Env`]'s drivers.
#[derive(Clone)]
pub struct Handles {
    pub io: io::Handle,
    pub timer: time::Handle,
}

/// Both drivers entered on this thread while it lives.
pub struct Entered {
    _io: io::EnterGuard,
    _timer: time::EnterGuard,
}

impl Handles {
    /// Makes both handles current on this thread until the guard is dropped.
    pub fn enter(&self) -> Entered {
        Entered { _io: self.io.enter(), _timer: self.timer.enter() }
    }

    /// Runs `future` to completion on this thread with both handles entered; panics if it is
    /// not done within [`DEADLINE`].
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _entered = self.enter();
        block_on_plain(future)
    }

    /// Runs `f()`'s future on a new thread (both handles entered there).
    pub fn spawn<F, Fut>(&self, f: F) -> JoinHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future,
        Fut::Output: Send + 'static,
    {
        let handles = self.clone();
        thread::spawn(move || handles.block_on(f()))
    }
}

struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Runs `future` on this thread without entering any driver; panics after [`DEADLINE`].
pub fn block_on_plain<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let state = Arc::new(ThreadWaker { thread: thread::current(), woken: AtomicBool::new(false) });
    let waker = Waker::from(state.clone());
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + DEADLINE;
    loop {
        state.woken.store(false, Ordering::SeqCst);
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        while !state.woken.load(Ordering::SeqCst) {
            let now = Instant::now();
            assert!(now < deadline, "future not woken within {DEADLINE:?}");
            thread::park_timeout(deadline - now);
        }
    }
}

/// A waker that counts its wake-ups.
#[derive(Default)]
pub struct CountingWaker(pub std::sync::atomic::AtomicUsize);

impl CountingWaker {
    pub fn new() -> Arc<CountingWaker> {
        Arc::new(CountingWaker::default())
    }
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `future` once with `waker`.
pub fn poll_once<F: Future>(future: std::pin::Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

/// Waits (up to [`DEADLINE`]) until `cond` holds, sleeping a little between checks.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("tern-net-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
