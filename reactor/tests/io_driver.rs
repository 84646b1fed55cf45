//! The I/O driver against real sockets on 127.0.0.1.
//!
//! Each test runs `Driver::turn(None)` in a loop on a dedicated thread and drives its futures
//! on the test thread with a tiny `block_on` whose waker unparks the test thread.

use std::future::{poll_fn, Future};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use mio::Interest;
use tern_reactor::io::{Direction, Driver, Handle, Ready, ReadyEvent, Registration};

/// How long a test waits for something that should take microseconds.
const DEADLINE: Duration = Duration::from_secs(10);

/// A driver turning on its own thread until dropped.
struct Reactor {
    handle: Handle,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Reactor {
    fn start() -> Reactor {
        let (mut driver, handle) = Driver::new().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::SeqCst) {
                    driver.turn(None).unwrap();
                }
            }
        });
        Reactor { handle, stop, thread: Some(thread) }
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.unpark().unwrap();
        let joined = self.thread.take().unwrap().join();
        if !thread::panicking() {
            joined.unwrap();
        }
    }
}

struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Runs `future` on this thread; panics if it is not done within [`DEADLINE`].
fn block_on<F: Future>(future: F) -> F::Output {
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

/// Polls once with a waker that does nothing.
fn poll_once<T>(f: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    f(&mut Context::from_waker(&waker))
}

/// Waits until `direction`'s readiness satisfies `pred`, clearing readiness that does not.
fn wait_for(reg: &Registration, direction: Direction, pred: impl Fn(Ready) -> bool) -> ReadyEvent {
    block_on(poll_fn(|cx| loop {
        let ev = std::task::ready!(reg.poll_ready(cx, direction)).unwrap();
        if pred(ev.ready()) {
            return Poll::Ready(ev);
        }
        reg.clear_readiness(ev);
    }))
}

/// A connected pair: a non-blocking mio stream (ours) and a blocking std stream (the peer).
fn tcp_pair() -> (mio::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    (mio::net::TcpStream::from_std(ours), peer)
}

fn read_some(reg: &Registration, stream: &mut mio::net::TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    block_on(poll_fn(|cx| reg.poll_io(cx, Direction::Read, || stream.read(buf))))
}

#[test]
fn readable_after_peer_writes() {
    let reactor = Reactor::start();
    let (mut ours, mut peer) = tcp_pair();
    let reg = reactor.handle.register(&mut ours, Interest::READABLE | Interest::WRITABLE).unwrap();
    assert!(poll_once(|cx| reg.poll_read_ready(cx)).is_pending(), "readable before any data");

    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        peer.write_all(b"hello").unwrap();
        peer
    });
    let mut buf = [0; 16];
    let n = read_some(&reg, &mut ours, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    let _peer = writer.join().unwrap();
    reg.deregister(&mut ours).unwrap();
}

#[test]
fn writable_after_connect() {
    let reactor = Reactor::start();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut stream = mio::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let reg = reactor.handle.register(&mut stream, Interest::WRITABLE).unwrap();
    let ev = wait_for(&reg, Direction::Write, Ready::is_writable);
    assert!(!ev.ready().is_error(), "{ev:?}");
    assert!(stream.take_error().unwrap().is_none());
    assert_eq!(stream.peer_addr().unwrap(), listener.local_addr().unwrap());
    let n = block_on(poll_fn(|cx| reg.poll_io(cx, Direction::Write, || stream.write(b"x")))).unwrap();
    assert_eq!(n, 1);
    let (mut accepted, _) = listener.accept().unwrap();
    let mut byte = [0];
    accepted.read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"x");
    reg.deregister(&mut stream).unwrap();
}

#[test]
fn partial_reads_keep_readiness_until_would_block() {
    let reactor = Reactor::start();
    let (mut ours, mut peer) = tcp_pair();
    let reg = reactor.handle.register(&mut ours, Interest::READABLE).unwrap();
    let data: Vec<u8> = (0..100).collect();
    peer.write_all(&data).unwrap();

    let mut received = Vec::new();
    let mut buf = [0; 10];
    // Wait for the first edge (a single one may well cover all 100 bytes).
    wait_for(&reg, Direction::Read, Ready::is_readable);
    let ev = loop {
        // No new event needed: readiness stays set while reads make progress.
        let Poll::Ready(Ok(ev)) = poll_once(|cx| reg.poll_read_ready(cx)) else {
            panic!("readiness lost before WouldBlock")
        };
        match ours.read(&mut buf) {
            Ok(n) => {
                assert!(n > 0);
                received.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break ev,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(received, data);
    reg.clear_readiness(ev);
    assert!(poll_once(|cx| reg.poll_read_ready(cx)).is_pending(), "cleared readiness still set");

    // More data wakes the reader again.
    peer.write_all(b"more").unwrap();
    let n = read_some(&reg, &mut ours, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"more");
    reg.deregister(&mut ours).unwrap();
}

#[test]
fn eof_gives_read_closed() {
    let reactor = Reactor::start();
    let (mut ours, mut peer) = tcp_pair();
    let reg = reactor.handle.register(&mut ours, Interest::READABLE).unwrap();
    peer.write_all(b"bye").unwrap();
    drop(peer);

    let mut received = Vec::new();
    let mut buf = [0; 16];
    loop {
        match read_some(&reg, &mut ours, &mut buf).unwrap() {
            0 => break,
            n => received.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(received, b"bye");
    // The hang-up is a final state: it stays readable and reports READ_CLOSED.
    let ev = wait_for(&reg, Direction::Read, Ready::is_read_closed);
    reg.clear_readiness(ev);
    let Poll::Ready(Ok(ev)) = poll_once(|cx| reg.poll_read_ready(cx)) else {
        panic!("READ_CLOSED was cleared")
    };
    assert!(ev.ready().is_read_closed());
    assert_eq!(ours.read(&mut buf).unwrap(), 0);
    reg.deregister(&mut ours).unwrap();
}

/// Makes closing `stream` send a RST instead of a FIN (`SO_LINGER` with a zero timeout).
#[cfg(unix)]
fn set_linger_zero(stream: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: the descriptor is an open socket owned by `stream` for the whole call; the
    // pointer and length describe `linger`, a live `libc::linger`, as SO_LINGER expects.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_LINGER): {}", io::Error::last_os_error());
}

#[cfg(unix)]
#[test]
fn peer_reset_gives_error_or_hang_up() {
    let reactor = Reactor::start();
    let (mut ours, peer) = tcp_pair();
    let reg = reactor.handle.register(&mut ours, Interest::READABLE | Interest::WRITABLE).unwrap();
    set_linger_zero(&peer);
    drop(peer);

    let ev = wait_for(&reg, Direction::Read, |r| r.is_error() || r.is_read_closed());
    let r = ev.ready();
    assert!(r.is_error() || r.is_read_closed(), "{r:?}");
    // The writer direction sees it too.
    let ev = wait_for(&reg, Direction::Write, |r| r.is_error() || r.is_write_closed());
    assert!(ev.ready().is_error() || ev.ready().is_write_closed(), "{ev:?}");
    let mut buf = [0; 8];
    match ours.read(&mut buf) {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => assert_eq!(n, 0, "read data after a reset"),
    }
    reg.deregister(&mut ours).unwrap();
}

#[test]
fn udp_round_trip() {
    let reactor = Reactor::start();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut a = mio::net::UdpSocket::bind(any).unwrap();
    let mut b = mio::net::UdpSocket::bind(any).unwrap();
    let a_addr = a.local_addr().unwrap();
    let b_addr = b.local_addr().unwrap();
    let reg_a = reactor.handle.register(&mut a, Interest::READABLE | Interest::WRITABLE).unwrap();
    let reg_b = reactor.handle.register(&mut b, Interest::READABLE | Interest::WRITABLE).unwrap();

    let mut buf = [0; 64];
    for round in 0..50u32 {
        let msg = round.to_le_bytes();
        block_on(poll_fn(|cx| reg_a.poll_io(cx, Direction::Write, || a.send_to(&msg, b_addr)))).unwrap();
        let (n, from) =
            block_on(poll_fn(|cx| reg_b.poll_io(cx, Direction::Read, || b.recv_from(&mut buf)))).unwrap();
        assert_eq!((&buf[..n], from), (&msg[..], a_addr));
        block_on(poll_fn(|cx| reg_b.poll_io(cx, Direction::Write, || b.send_to(&buf[..n], from)))).unwrap();
        let (n, from) =
            block_on(poll_fn(|cx| reg_a.poll_io(cx, Direction::Read, || a.recv_from(&mut buf)))).unwrap();
        assert_eq!((&buf[..n], from), (&msg[..], b_addr));
    }
    reg_a.deregister(&mut a).unwrap();
    reg_b.deregister(&mut b).unwrap();
}

/// Many small round trips through an echoing peer thread: any lost wake-up hangs the test.
#[test]
fn many_round_trips_lose_no_wake_up() {
    let reactor = Reactor::start();
    let (mut ours, mut peer) = tcp_pair();
    let reg = reactor.handle.register(&mut ours, Interest::READABLE | Interest::WRITABLE).unwrap();
    let echo = thread::spawn(move || {
        let mut buf = [0; 256];
        loop {
            match peer.read(&mut buf).unwrap() {
                0 => return,
                n => peer.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let mut buf = [0; 8];
    for i in 0..2000u64 {
        let msg = i.to_le_bytes();
        let mut sent = 0;
        while sent < msg.len() {
            sent += block_on(poll_fn(|cx| reg.poll_io(cx, Direction::Write, || ours.write(&msg[sent..]))))
                .unwrap();
        }
        let mut got = 0;
        while got < buf.len() {
            let n = read_some(&reg, &mut ours, &mut buf[got..]).unwrap();
            assert!(n > 0);
            got += n;
        }
        assert_eq!(buf, msg);
    }
    reg.deregister(&mut ours).unwrap();
    drop(ours);
    echo.join().unwrap();
}

#[test]
fn unpark_interrupts_a_blocked_turn() {
    let (mut driver, handle) = Driver::new().unwrap();
    let blocked = thread::spawn(move || {
        let n = driver.turn(None).unwrap();
        (n, Instant::now())
    });
    thread::sleep(Duration::from_millis(100));
    assert!(!blocked.is_finished(), "turn(None) returned with nothing to do");
    let unparked = Instant::now();
    handle.unpark().unwrap();
    let (n, returned) = blocked.join().unwrap();
    assert_eq!(n, 0, "the wake-up is not counted as an event");
    let latency = returned.saturating_duration_since(unparked);
    eprintln!("turn returned {latency:?} after unpark");
    // Typically tens of microseconds; the bound only guards against "never" on a loaded box.
    assert!(latency < Duration::from_millis(100), "turn returned {latency:?} after unpark");
}

#[test]
fn unpark_before_turn_makes_the_next_turn_return() {
    let (mut driver, handle) = Driver::new().unwrap();
    handle.unpark().unwrap();
    let start = Instant::now();
    assert_eq!(driver.turn(Some(Duration::from_secs(5))).unwrap(), 0);
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn turn_with_zero_timeout_does_not_block() {
    let (mut driver, handle) = Driver::new().unwrap();
    let mut socket = mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let reg = handle.register(&mut socket, Interest::READABLE).unwrap();
    let start = Instant::now();
    for _ in 0..100 {
        assert_eq!(driver.turn(Some(Duration::ZERO)).unwrap(), 0);
    }
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "100 zero-timeout turns took {:?}",
        start.elapsed()
    );
    // A positive timeout blocks for about that long when nothing happens.
    let start = Instant::now();
    assert_eq!(driver.turn(Some(Duration::from_millis(30))).unwrap(), 0);
    assert!(start.elapsed() >= Duration::from_millis(25), "{:?}", start.elapsed());
    reg.deregister(&mut socket).unwrap();
}

#[test]
fn turn_counts_dispatched_events() {
    let (mut driver, handle) = Driver::new().unwrap();
    let (mut ours, mut peer) = tcp_pair();
    let reg = handle.register(&mut ours, Interest::READABLE).unwrap();
    peer.write_all(b"x").unwrap();
    let deadline = Instant::now() + DEADLINE;
    let mut events = 0;
    while events == 0 {
        assert!(Instant::now() < deadline);
        events = driver.turn(Some(Duration::from_millis(100))).unwrap();
    }
    assert_eq!(events, 1);
    let Poll::Ready(Ok(ev)) = poll_once(|cx| reg.poll_read_ready(cx)) else { panic!() };
    assert!(ev.ready().is_readable());
    reg.deregister(&mut ours).unwrap();
}

/// CPU time (user + system) this thread has used.
#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes the `rusage` we pass, which is valid for writes and
    // for which all-zero bytes are a valid value.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(target_os = "linux")]
#[test]
fn a_blocked_turn_uses_no_cpu() {
    let (mut driver, handle) = Driver::new().unwrap();
    let mut socket = mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let reg = handle.register(&mut socket, Interest::READABLE).unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let blocked = thread::spawn(move || {
        let (cpu, start) = (thread_cpu_time(), Instant::now());
        started_tx.send(()).unwrap();
        let events = driver.turn(None).unwrap();
        (thread_cpu_time() - cpu, start.elapsed(), events)
    });
    started_rx.recv().unwrap();
    thread::sleep(Duration::from_millis(200));
    handle.unpark().unwrap();
    let (cpu, wall, events) = blocked.join().unwrap();
    eprintln!("blocked turn: {cpu:?} CPU in {wall:?}");
    assert_eq!(events, 0);
    assert!(wall >= Duration::from_millis(190), "turn(None) returned early, after {wall:?}");
    // ~0 expected (a few syscalls); allow for accounting granularity.
    assert!(cpu < Duration::from_millis(20), "blocked turn used {cpu:?} of CPU in {wall:?}");
    reg.deregister(&mut socket).unwrap();
}

#[test]
fn current_handle_follows_enter_guards() {
    assert!(Handle::try_current().is_none());
    assert!(std::panic::catch_unwind(Handle::current).is_err());
    let (_driver_a, a) = Driver::new().unwrap();
    let (_driver_b, b) = Driver::new().unwrap();
    let mut socket = mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    {
        let _outer = a.enter();
        Handle::current(); // does not panic
        {
            let _inner = b.enter();
            // The current handle is b: after registering through it, registering the same
            // socket on b again fails (EEXIST), which it would not if current were a.
            let reg = Handle::current().register(&mut socket, Interest::READABLE).unwrap();
            assert!(b.register(&mut socket, Interest::READABLE).is_err(), "current was not b");
            reg.deregister(&mut socket).unwrap();
        }
        let reg = Handle::current().register(&mut socket, Interest::READABLE).unwrap();
        assert!(a.register(&mut socket, Interest::READABLE).is_err(), "current was not a");
        reg.deregister(&mut socket).unwrap();
        // Other threads do not see this thread's handle.
        assert!(thread::spawn(|| Handle::try_current().is_none()).join().unwrap());
    }
    assert!(Handle::try_current().is_none());
}
