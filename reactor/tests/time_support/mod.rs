//! Test-only helpers shared by the `time_*` integration tests: a driver thread, a minimal
//! `block_on`, and counting wakers.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};

use tern_reactor::time::{Driver, Handle};

/// A timer driver run by a dedicated thread: `loop { park until next_expiration; process }`,
/// unparked by the handle's unpark hook.
pub struct DriverThread {
    pub handle: Handle,
    /// Times the unpark hook was called.
    pub unparks: Arc<AtomicUsize>,
    /// Total timers fired by `process`.
    pub fired: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DriverThread {
    pub fn start() -> DriverThread {
        let driver = Driver::new();
        let handle = driver.handle().clone();
        let unparks = Arc::new(AtomicUsize::new(0));
        let fired = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let (unparks, fired, stop) = (unparks.clone(), fired.clone(), stop.clone());
            thread::Builder::new()
                .name("timer-driver".into())
                .spawn(move || {
                    let me = thread::current();
                    let handle = driver.handle();
                    handle.set_unpark(Arc::new(move || {
                        unparks.fetch_add(1, Ordering::Relaxed);
                        me.unpark();
                    }));
                    ready_tx.send(()).unwrap();
                    while !stop.load(Ordering::Acquire) {
                        match handle.next_expiration() {
                            Some(t) => {
                                thread::park_timeout(t.saturating_duration_since(std::time::Instant::now()))
                            }
                            None => thread::park(),
                        }
                        fired.fetch_add(handle.process(), Ordering::Relaxed);
                    }
                    handle.clear_unpark();
                })
                .unwrap()
        };
        ready_rx.recv().unwrap();
        DriverThread { handle, unparks, fired, stop, thread: Some(thread) }
    }
}

impl Drop for DriverThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            thread.join().unwrap();
        }
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread, parking between polls.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

/// Counts its wake-ups; optionally records `id` into a shared log on each.
pub struct CountingWaker {
    pub wakes: AtomicUsize,
    pub id: usize,
    pub log: Option<Arc<Mutex<Vec<usize>>>>,
}

impl CountingWaker {
    pub fn new() -> Arc<CountingWaker> {
        Arc::new(CountingWaker { wakes: AtomicUsize::new(0), id: 0, log: None })
    }

    pub fn logging(id: usize, log: Arc<Mutex<Vec<usize>>>) -> Arc<CountingWaker> {
        Arc::new(CountingWaker { wakes: AtomicUsize::new(0), id, log: Some(log) })
    }

    pub fn count(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        if let Some(log) = &self.log {
            log.lock().unwrap().push(self.id);
        }
    }
}

/// Polls `future` once with `waker`.
pub fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    std::pin::Pin::new(future).poll(&mut Context::from_waker(waker))
}
