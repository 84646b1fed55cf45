//! `net::UdpSocket` on 127.0.0.1.

mod net_support;

use std::future::poll_fn;
use std::io as stdio;
use std::pin::pin;
use std::task::Waker;

use net_support::{block_on_plain, poll_once, CountingWaker, Env};
use tern_reactor::net::UdpSocket;

#[test]
fn send_to_and_recv_from_both_ways() {
    let env = Env::start();
    env.block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_ne!(a_addr, b_addr);

        let mut buf = [0; 64];
        // The receive is polled first (and pends); the driver must wake it.
        let (received, sent) = futures::join!(b.recv_from(&mut buf), a.send_to(b"ping", b_addr));
        assert_eq!(sent.unwrap(), 4);
        assert_eq!(received.unwrap(), (4, a_addr));
        assert_eq!(&buf[..4], b"ping");

        let mut buf = [0; 64];
        let (received, sent) = futures::join!(a.recv_from(&mut buf), b.send_to(b"pong!", a_addr));
        assert_eq!(sent.unwrap(), 5);
        assert_eq!(received.unwrap(), (5, b_addr));
        assert_eq!(&buf[..5], b"pong!");
    });
}

#[test]
fn connected_send_and_recv() {
    let env = Env::start();
    env.block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert_eq!(a.peer_addr().unwrap_err().kind(), stdio::ErrorKind::NotConnected);
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        for i in 0..20u8 {
            let mut buf = [0; 16];
            let payload = [i; 10];
            let (n, sent) = futures::join!(b.recv(&mut buf), a.send(&payload));
            assert_eq!(sent.unwrap(), 10);
            assert_eq!(n.unwrap(), 10);
            assert_eq!(buf[..10], [i; 10]);
        }
        // A connected socket ignores datagrams from elsewhere.
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        stranger.send_to(b"noise", b.local_addr().unwrap()).await.unwrap();
        a.send(b"real").await.unwrap();
        let mut buf = [0; 16];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"real");
    });
}

#[test]
fn peek_from_leaves_the_datagram_queued() {
    let env = Env::start();
    env.block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.send_to(b"first", b.local_addr().unwrap()).await.unwrap();
        let mut buf = [0; 16];
        assert_eq!(b.peek_from(&mut buf).await.unwrap(), (5, a.local_addr().unwrap()));
        assert_eq!(&buf[..5], b"first");
        let mut buf = [0; 16];
        assert_eq!(b.recv_from(&mut buf).await.unwrap(), (5, a.local_addr().unwrap()));
        assert_eq!(&buf[..5], b"first");
    });
}

#[test]
fn try_and_poll_variants() {
    let env = Env::start();
    let (a, b) = env.block_on(async {
        (UdpSocket::bind("127.0.0.1:0").await.unwrap(), UdpSocket::bind("127.0.0.1:0").await.unwrap())
    });
    let _entered = env.handles().enter();
    let b_addr = b.local_addr().unwrap();
    let mut buf = [0; 16];
    assert_eq!(b.try_recv_from(&mut buf).unwrap_err().kind(), stdio::ErrorKind::WouldBlock);

    block_on_plain(a.writable()).unwrap();
    assert_eq!(a.try_send_to(b"one", b_addr).unwrap(), 3);
    block_on_plain(b.readable()).unwrap();
    assert_eq!(b.try_recv_from(&mut buf).unwrap(), (3, a.local_addr().unwrap()));
    // The queue is empty again: WouldBlock, which clears the readiness `readable` saw.
    assert_eq!(b.try_recv_from(&mut buf).unwrap_err().kind(), stdio::ErrorKind::WouldBlock);
    let waker = Waker::from(CountingWaker::new());
    let mut readable = pin!(b.readable());
    assert!(poll_once(readable.as_mut(), &waker).is_pending());

    let sent = block_on_plain(poll_fn(|cx| a.poll_send_to(cx, b"two", b_addr))).unwrap();
    assert_eq!(sent, 3);
    let (n, from) = block_on_plain(poll_fn(|cx| b.poll_recv_from(cx, &mut buf))).unwrap();
    assert_eq!((n, from), (3, a.local_addr().unwrap()));
    assert_eq!(&buf[..3], b"two");
}

#[test]
fn options_and_errors() {
    let env = Env::start();
    env.block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.set_broadcast(true).unwrap();
        assert!(a.broadcast().unwrap());
        a.set_broadcast(false).unwrap();
        assert!(!a.broadcast().unwrap());
        a.set_ttl(33).unwrap();
        assert_eq!(a.ttl().unwrap(), 33);
        let err = a.send(b"nowhere").await.unwrap_err();
        assert!(err.raw_os_error().is_some(), "an unconnected send should fail: {err:?}");
    });
}

#[test]
fn no_reactor_gives_a_clear_error() {
    let check = |err: stdio::Error| {
        assert_eq!(err.kind(), stdio::ErrorKind::Other);
        assert!(err.to_string().contains("no tern reactor is running on this thread"), "{err}");
    };
    check(block_on_plain(UdpSocket::bind("127.0.0.1:0")).unwrap_err());
    check(UdpSocket::from_std(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap_err());
}
