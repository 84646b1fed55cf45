//! `net::TcpListener` / `net::TcpStream` against real sockets on 127.0.0.1, with the I/O
//! and timer drivers on their own threads (see `net_support`).

mod net_support;

use std::io::{self as stdio, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::pin::pin;
use std::task::{Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures::io::{AsyncReadExt, AsyncWriteExt};
use net_support::{block_on_plain, poll_once, CountingWaker, Env};
use tern_reactor::io;
use tern_reactor::net::{TcpListener, TcpStream};

/// Deterministic, position-dependent test data (so a dropped or reordered byte shows).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Echoes everything it reads until end of file, then shuts down its write half.
async fn echo(stream: TcpStream) -> stdio::Result<u64> {
    let (mut reader, mut writer) = stream.into_split();
    let copied = futures::io::copy(&mut reader, &mut writer).await?;
    writer.close().await?;
    Ok(copied)
}

/// A connected pair: ours (registered) and a blocking std peer.
fn pair_with_std_peer(env: &Env) -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    // A broken stream must fail the test, not hang the blocking peer.
    peer.set_read_timeout(Some(net_support::DEADLINE)).unwrap();
    peer.set_write_timeout(Some(net_support::DEADLINE)).unwrap();
    let (ours, _) = listener.accept().unwrap();
    let _entered = env.handles().enter();
    (TcpStream::from_std(ours).unwrap(), peer)
}

/// Two connected `TcpStream`s.
fn tcp_pair(env: &Env) -> (TcpStream, TcpStream) {
    env.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = futures::join!(TcpStream::connect(addr), listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    })
}

#[test]
fn echo_one_mib_round_trip() {
    let env = Env::start();
    let data = pattern(1 << 20, 1);
    let (listener, addr) = env.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    });
    let server = env.handles().spawn(move || async move {
        let (stream, _) = listener.accept().await.unwrap();
        echo(stream).await.unwrap()
    });
    let received = env.block_on(async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // The inherent `split(&mut self)` (method syntax would pick `AsyncReadExt::split`).
        let (mut reader, mut writer) = TcpStream::split(&mut stream);
        let send = async {
            writer.write_all(&data).await.unwrap();
            writer.close().await.unwrap();
        };
        let mut received = Vec::new();
        let recv = reader.read_to_end(&mut received);
        let ((), read) = futures::join!(send, recv);
        read.unwrap();
        received
    });
    assert_eq!(server.join().unwrap(), data.len() as u64);
    assert_eq!(received.len(), data.len());
    assert!(received == data, "echoed bytes differ from the bytes sent");
}

#[test]
fn fifty_concurrent_connections() {
    const CONNS: usize = 50;
    const THREADS: usize = 5;
    let env = Env::start();
    let listener = env.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = env.handles().spawn(move || async move {
        let accept_all = async {
            let mut handlers = Vec::new();
            for _ in 0..CONNS {
                let (stream, _) = listener.accept().await.unwrap();
                handlers.push(echo(stream));
            }
            handlers
        };
        let handlers = accept_all.await;
        futures::future::join_all(handlers).await.into_iter().map(|r| r.unwrap()).sum::<u64>()
    });
    let clients: Vec<_> = (0..THREADS)
        .map(|t| {
            env.handles().spawn(move || async move {
                let conns = (0..CONNS / THREADS).map(|i| async move {
                    let seed = (t * 100 + i) as u32;
                    let data = pattern(16 * 1024 + seed as usize, seed);
                    let mut stream = TcpStream::connect(addr).await.unwrap();
                    let (mut reader, mut writer) = TcpStream::split(&mut stream);
                    let send = async {
                        writer.write_all(&data).await.unwrap();
                        writer.close().await.unwrap();
                    };
                    let mut back = Vec::new();
                    let ((), read) = futures::join!(send, reader.read_to_end(&mut back));
                    read.unwrap();
                    assert!(back == data, "connection {seed}: echoed bytes differ");
                    data.len() as u64
                });
                futures::future::join_all(conns).await.into_iter().sum::<u64>()
            })
        })
        .collect();
    let sent: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(server.join().unwrap(), sent);
}

#[test]
fn owned_halves_used_from_two_threads() {
    let env = Env::start();
    let (ours, mut peer) = pair_with_std_peer(&env);
    // The peer echoes on a plain blocking thread.
    let peer_thread = thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = peer.read(&mut buf).unwrap();
            if n == 0 {
                peer.shutdown(Shutdown::Write).unwrap();
                return;
            }
            peer.write_all(&buf[..n]).unwrap();
        }
    });
    let data = pattern(512 * 1024, 7);
    let (mut reader, mut writer) = ours.into_split();
    let expected = data.clone();
    let read_thread = env.handles().spawn(move || async move {
        let mut back = Vec::new();
        reader.read_to_end(&mut back).await.unwrap();
        assert!(back == expected, "bytes read on the reader thread differ");
        back.len()
    });
    let write_thread = env.handles().spawn(move || async move {
        for chunk in data.chunks(10_000) {
            writer.write_all(chunk).await.unwrap();
        }
        // Dropping the owned write half shuts the write direction down: the peer sees EOF.
        drop(writer);
    });
    write_thread.join().unwrap();
    assert_eq!(read_thread.join().unwrap(), 512 * 1024);
    peer_thread.join().unwrap();
}

#[test]
fn reunite_same_halves_and_reject_mismatched() {
    let env = Env::start();
    let (a, mut peer_a) = pair_with_std_peer(&env);
    let (b, _peer_b) = pair_with_std_peer(&env);
    let (a_read, a_write) = a.into_split();
    let (b_read, b_write) = b.into_split();

    let err = a_read.reunite(b_write).unwrap_err();
    assert!(err.to_string().contains("two different"), "unclear message: {err}");
    let tern_reactor::net::tcp::ReuniteError(a_read, b_write) = err;
    let err = b_write.reunite(a_read).unwrap_err();
    let tern_reactor::net::tcp::ReuniteError(a_read, b_write) = err;

    let mut a = a_read.reunite(a_write).unwrap();
    let _b = b_read.reunite(b_write).unwrap();
    // Reuniting did not shut the write half down: the stream still writes.
    env.block_on(a.write_all(b"still open")).unwrap();
    let mut buf = [0; 10];
    peer_a.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"still open");
}

#[test]
fn close_and_shutdown_give_the_peer_eof() {
    let env = Env::start();
    // poll_close (AsyncWriteExt::close) on the stream.
    let (mut ours, mut peer) = pair_with_std_peer(&env);
    env.block_on(async {
        ours.write_all(b"bye").await.unwrap();
        ours.close().await.unwrap();
    });
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye");
    // The read direction still works after closing the write direction.
    peer.write_all(b"reply").unwrap();
    let mut buf = [0; 5];
    env.block_on(ours.read_exact(&mut buf)).unwrap();
    assert_eq!(&buf, b"reply");

    // shutdown(Write) directly.
    let (ours, mut peer) = pair_with_std_peer(&env);
    ours.shutdown(Shutdown::Write).unwrap();
    assert_eq!(peer.read(&mut [0; 8]).unwrap(), 0);

    // Peer shuts down: we read EOF.
    let (mut ours, peer) = pair_with_std_peer(&env);
    peer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(env.block_on(ours.read(&mut [0; 8])).unwrap(), 0);
}

#[test]
fn dropping_the_owned_write_half_shuts_down_unless_forgotten() {
    let env = Env::start();
    let (ours, mut peer) = pair_with_std_peer(&env);
    let (mut reader, writer) = ours.into_split();
    drop(writer);
    assert_eq!(peer.read(&mut [0; 8]).unwrap(), 0, "peer should read EOF once the write half is dropped");
    // The read half is unaffected.
    peer.write_all(b"ok").unwrap();
    let mut buf = [0; 2];
    env.block_on(reader.read_exact(&mut buf)).unwrap();
    assert_eq!(&buf, b"ok");

    let (ours, mut peer) = pair_with_std_peer(&env);
    let (_reader, writer) = ours.into_split();
    writer.forget();
    peer.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let err = peer.read(&mut [0; 8]).unwrap_err();
    assert!(matches!(err.kind(), stdio::ErrorKind::WouldBlock | stdio::ErrorKind::TimedOut), "{err:?}");
}

#[test]
fn addresses_agree() {
    let env = Env::start();
    env.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.ip().is_loopback() && addr.port() != 0);
        let (client, accepted) = futures::join!(TcpStream::connect(addr), listener.accept());
        let (client, (server, from)) = (client.unwrap(), accepted.unwrap());
        assert_eq!(client.peer_addr().unwrap(), addr);
        assert_eq!(server.local_addr().unwrap(), addr);
        assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
        assert_eq!(from, client.local_addr().unwrap());
        let (r, w) = client.into_split();
        assert_eq!(r.peer_addr().unwrap(), addr);
        assert_eq!(w.local_addr().unwrap(), from);
    });
}

#[test]
fn socket_options_round_trip() {
    let env = Env::start();
    let (a, _b) = tcp_pair(&env);
    a.set_nodelay(true).unwrap();
    assert!(a.nodelay().unwrap());
    a.set_nodelay(false).unwrap();
    assert!(!a.nodelay().unwrap());
    a.set_ttl(42).unwrap();
    assert_eq!(a.ttl().unwrap(), 42);
    let listener = env.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    listener.set_ttl(17).unwrap();
    assert_eq!(listener.ttl().unwrap(), 17);
    assert!(a.take_error().unwrap().is_none());
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let env = Env::start();
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let err = env.block_on(TcpStream::connect(addr)).unwrap_err();
    assert_eq!(err.kind(), stdio::ErrorKind::ConnectionRefused, "{err:?}");
}

#[test]
fn no_reactor_gives_a_clear_error() {
    fn check(result: stdio::Result<impl std::fmt::Debug>) {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), stdio::ErrorKind::Other);
        assert!(err.to_string().contains("no tern reactor is running on this thread"), "unclear: {err}");
    }
    assert!(io::Handle::try_current().is_none());
    check(block_on_plain(TcpListener::bind("127.0.0.1:0")));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    check(block_on_plain(TcpStream::connect(addr)));
    check(TcpStream::from_std(std::net::TcpStream::connect(addr).unwrap()));
    check(TcpListener::from_std(std_listener));
}

#[test]
fn peek_leaves_data_queued() {
    let env = Env::start();
    let (mut ours, mut peer) = pair_with_std_peer(&env);
    peer.write_all(b"hello").unwrap();
    env.block_on(async {
        let mut buf = [0; 16];
        // Wait until all five bytes are in, then peek twice and read once.
        loop {
            let n = ours.peek(&mut buf).await.unwrap();
            if n == 5 {
                break;
            }
        }
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(ours.peek(&mut buf).await.unwrap(), 5);
        let mut got = [0; 5];
        ours.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
    });
}

#[test]
fn try_read_would_block_clears_readiness() {
    let env = Env::start();
    let (ours, mut peer) = pair_with_std_peer(&env);
    let _entered = env.handles().enter();
    let waker = Waker::from(CountingWaker::new());
    peer.write_all(b"x").unwrap();
    block_on_plain(ours.readable()).unwrap();
    let mut buf = [0; 8];
    assert_eq!(ours.try_read(&mut buf).unwrap(), 1);
    let err = ours.try_read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), stdio::ErrorKind::WouldBlock);
    // The WouldBlock cleared the readiness `readable` saw: the next one waits.
    {
        let mut readable = pin!(ours.readable());
        assert!(poll_once(readable.as_mut(), &waker).is_pending(), "readable() should wait after WouldBlock");
    }
    peer.write_all(b"yz").unwrap();
    block_on_plain(ours.readable()).unwrap();
    assert_eq!(ours.try_read(&mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"yz");

    // try_write succeeds on a fresh socket once writable.
    block_on_plain(ours.writable()).unwrap();
    assert_eq!(ours.try_write(b"abc").unwrap(), 3);
    let mut got = [0; 3];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"abc");
}

#[test]
fn vectored_io() {
    let env = Env::start();
    let (mut a, mut b) = tcp_pair(&env);
    env.block_on(async {
        let bufs = [IoSlice::new(b"abc"), IoSlice::new(b"defg")];
        let n = a.write_vectored(&bufs).await.unwrap();
        assert_eq!(n, 7);
        // Wait until all seven bytes are queued, so one vectored read takes them all.
        let mut probe = [0; 8];
        while b.peek(&mut probe).await.unwrap() < 7 {}
        let (mut x, mut y) = ([0; 3], [0; 4]);
        let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
        assert_eq!(b.read_vectored(&mut bufs).await.unwrap(), 7);
        assert_eq!(&x, b"abc");
        assert_eq!(&y, b"defg");
    });
}

#[test]
fn accept_with_backoff_accepts_normally() {
    let env = Env::start();
    env.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = futures::join!(TcpStream::connect(addr), listener.accept_with_backoff());
        assert_eq!(accepted.unwrap().1, client.unwrap().local_addr().unwrap());
    });
}

#[test]
fn poll_accept_is_pending_until_a_connection_arrives() {
    let env = Env::start();
    let listener = env.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let counter = CountingWaker::new();
    let waker = Waker::from(counter.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(listener.poll_accept(&mut cx).is_pending());
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    net_support::wait_until("the accept waker", || counter.count() > 0);
    match listener.poll_accept(&mut cx) {
        Poll::Ready(Ok((_, from))) => assert_eq!(from, client.local_addr().unwrap()),
        other => panic!("expected a connection, got {other:?}"),
    }
}

/// `into_std` deregisters: the socket can be registered again with the same driver (a
/// source still registered would fail with `EEXIST`), and it stays usable.
#[test]
fn into_std_deregisters() {
    let env = Env::start();
    let (ours, mut peer) = pair_with_std_peer(&env);
    let std_stream = ours.into_std().unwrap();
    let mut mio_stream = mio::net::TcpStream::from_std(std_stream);
    let registration = env.handles().io.register(&mut mio_stream, mio::Interest::READABLE).unwrap();
    registration.deregister(&mut mio_stream).unwrap();
    drop(registration);
    let mut std_stream = std::net::TcpStream::from(mio_stream);
    std_stream.set_nonblocking(false).unwrap();
    peer.write_all(b"z").unwrap();
    let mut buf = [0; 1];
    std_stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"z");
}

/// Dropping a stream deregisters it before closing, so even a duplicated descriptor (which
/// keeps the socket open, and would keep an epoll registration alive) reports nothing to the
/// driver; the driver then serves the next stream, which gets the freed slot, and the old
/// stream's waker is never woken.
#[test]
fn dropped_stream_is_deregistered_and_the_driver_keeps_working() {
    // A driver turned by hand on this thread, so its turns can be observed.
    let (mut driver, handle) = io::Driver::new().unwrap();
    let _entered = handle.enter();
    let pair = || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        (TcpStream::from_std(ours).unwrap(), peer)
    };
    let (a, mut peer_a) = pair();
    let dup = a.as_fd().try_clone_to_owned().unwrap();
    while driver.turn(Some(Duration::ZERO)).unwrap() > 0 {}
    let old = CountingWaker::new();
    {
        let mut readable = pin!(a.readable());
        assert!(poll_once(readable.as_mut(), &Waker::from(old.clone())).is_pending());
    }
    drop(a);
    peer_a.write_all(b"for the dropped stream").unwrap();
    let started = Instant::now();
    assert_eq!(driver.turn(Some(Duration::from_millis(300))).unwrap(), 0);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "the poller reported an event for a dropped (so deregistered) stream"
    );

    let (b, mut peer_b) = pair();
    let new = CountingWaker::new();
    {
        let mut readable = pin!(b.readable());
        assert!(poll_once(readable.as_mut(), &Waker::from(new.clone())).is_pending());
        peer_b.write_all(b"for the new stream").unwrap();
        let deadline = Instant::now() + net_support::DEADLINE;
        while new.count() == 0 {
            assert!(Instant::now() < deadline, "the new stream was never woken");
            driver.turn(Some(Duration::from_millis(100))).unwrap();
        }
        assert!(poll_once(readable.as_mut(), &Waker::from(new.clone())).is_ready());
    }
    let mut buf = [0; 64];
    assert_eq!(b.try_read(&mut buf).unwrap(), 18);
    assert_eq!(old.count(), 0, "the dropped stream's waker was woken");
    drop(dup);
}

#[test]
fn bind_to_an_address_in_use_fails() {
    let env = Env::start();
    env.block_on(async {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = first.local_addr().unwrap();
        let err = TcpListener::bind(addr).await.unwrap_err();
        assert_eq!(err.kind(), stdio::ErrorKind::AddrInUse);
        let err = TcpListener::bind(&[][..] as &[std::net::SocketAddr]).await.unwrap_err();
        assert_eq!(err.kind(), stdio::ErrorKind::InvalidInput);
    });
}
