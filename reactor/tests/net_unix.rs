//! `net::UnixListener`, `net::UnixStream` and `net::UnixDatagram` on paths in a temp dir.
#![cfg(unix)]

mod net_support;

use std::io as stdio;
use std::net::Shutdown;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use net_support::{block_on_plain, Env, TempDir};
use tern_reactor::net::unix::ReuniteError;
use tern_reactor::net::{UnixDatagram, UnixListener, UnixStream};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i >> 11) as u8).collect()
}

#[test]
fn pair_round_trip_and_eof() {
    let env = Env::start();
    let (mut a, mut b) = {
        let _entered = env.handles().enter();
        UnixStream::pair().unwrap()
    };
    assert!(a.peer_addr().unwrap().is_unnamed());
    let data = pattern(300 * 1024);
    env.block_on(async {
        let send = async {
            a.write_all(&data).await.unwrap();
            a.close().await.unwrap();
        };
        let mut got = Vec::new();
        let ((), read) = futures::join!(send, b.read_to_end(&mut got));
        read.unwrap();
        assert!(got == data, "bytes differ");
        // The other direction is still open.
        b.write_all(b"back").await.unwrap();
        let mut buf = [0; 4];
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"back");
    });
}

#[test]
fn listener_connect_echo() {
    let env = Env::start();
    let dir = TempDir::new("echo");
    let path = dir.join("sock");
    let listener = {
        let _entered = env.handles().enter();
        UnixListener::bind(&path).unwrap()
    };
    assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    let server = env.handles().spawn(move || async move {
        for _ in 0..3 {
            let (stream, _) = listener.accept_with_backoff().await.unwrap();
            let (mut reader, mut writer) = stream.into_split();
            futures::io::copy(&mut reader, &mut writer).await.unwrap();
            writer.close().await.unwrap();
        }
    });
    for round in 0..3 {
        let data = pattern(100_000 + round);
        let got = env.block_on(async {
            let mut stream = UnixStream::connect(&path).await.unwrap();
            assert_eq!(stream.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
            let (mut reader, mut writer) = UnixStream::split(&mut stream);
            let send = async {
                writer.write_all(&data).await.unwrap();
                writer.close().await.unwrap();
            };
            let mut got = Vec::new();
            let ((), read) = futures::join!(send, reader.read_to_end(&mut got));
            read.unwrap();
            got
        });
        assert!(got == data, "round {round}: bytes differ");
    }
    server.join().unwrap();
}

#[test]
fn connect_to_a_missing_path_fails() {
    let env = Env::start();
    let dir = TempDir::new("missing");
    let err = env.block_on(UnixStream::connect(dir.join("nothing-here"))).unwrap_err();
    assert_eq!(err.kind(), stdio::ErrorKind::NotFound, "{err:?}");
}

#[test]
fn owned_halves_reunite_and_write_half_drop_shuts_down() {
    let env = Env::start();
    let _entered = env.handles().enter();
    let (a, mut peer_a) = UnixStream::pair().unwrap();
    let (b, _peer_b) = UnixStream::pair().unwrap();
    let (a_read, a_write) = a.into_split();
    let (b_read, b_write) = b.into_split();
    let ReuniteError(a_read, b_write) = a_read.reunite(b_write).unwrap_err();
    let a = a_read.reunite(a_write).unwrap();
    let _b = b_read.reunite(b_write).unwrap();

    let (mut reader, writer) = a.into_split();
    drop(writer);
    let mut buf = [0; 4];
    assert_eq!(block_on_plain(peer_a.read(&mut buf)).unwrap(), 0, "peer should see EOF");
    block_on_plain(peer_a.write_all(b"more")).unwrap();
    block_on_plain(reader.read_exact(&mut buf)).unwrap();
    assert_eq!(&buf, b"more");
    peer_a.shutdown(Shutdown::Both).unwrap();
}

#[test]
fn datagrams() {
    let env = Env::start();
    let dir = TempDir::new("dgram");
    let _entered = env.handles().enter();
    let (a, b) = UnixDatagram::pair().unwrap();
    block_on_plain(async {
        let mut buf = [0; 16];
        let (n, sent) = futures::join!(b.recv(&mut buf), a.send(b"hi"));
        assert_eq!((n.unwrap(), sent.unwrap()), (2, 2));
        assert_eq!(&buf[..2], b"hi");
    });

    let server = UnixDatagram::bind(dir.join("server")).unwrap();
    let client = UnixDatagram::bind(dir.join("client")).unwrap();
    block_on_plain(async {
        client.send_to(b"request", dir.join("server")).await.unwrap();
        let mut buf = [0; 16];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"request");
        assert_eq!(from.as_pathname(), Some(dir.join("client").as_path()));
        server.send_to(b"reply", from.as_pathname().unwrap()).await.unwrap();
        let n = client.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"reply");
    });
    let mut buf = [0; 4];
    assert_eq!(client.try_recv(&mut buf).unwrap_err().kind(), stdio::ErrorKind::WouldBlock);
}

#[test]
fn no_reactor_gives_a_clear_error() {
    let dir = TempDir::new("noreactor");
    let check = |err: stdio::Error| {
        assert_eq!(err.kind(), stdio::ErrorKind::Other);
        assert!(err.to_string().contains("no tern reactor is running on this thread"), "{err}");
    };
    check(UnixListener::bind(dir.join("l")).unwrap_err());
    assert!(!dir.join("l").exists(), "no socket file should be created without a reactor");
    check(UnixStream::pair().unwrap_err());
    check(block_on_plain(UnixStream::connect(dir.join("l"))).unwrap_err());
    check(UnixDatagram::unbound().unwrap_err());
    check(UnixDatagram::pair().unwrap_err());
}
