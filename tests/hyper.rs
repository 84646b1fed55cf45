//! hyper 1.x over tern with no tokio runtime: a server and a client on real
//! loopback sockets, hyper's timers on tern's wheel, and `HyperTimer::reset`
//! re-arming in place.

#![cfg(feature = "hyper")]

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::rt::Timer;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tern::hyper::{HyperExecutor, HyperIo, HyperSleep, HyperTimer};
use tern::net::{TcpListener, TcpStream};
use tern::runtime::Runtime;

/// Echoes the request's path and body back.
async fn echo(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await?.to_bytes();
    let mut out = path.into_bytes();
    out.extend_from_slice(b":");
    out.extend_from_slice(&body);
    Ok(Response::new(Full::new(Bytes::from(out))))
}

/// Starts an HTTP/1.1 server on `rt` with a header-read timeout; returns its address.
fn start_server(rt: &Runtime, header_timeout: Duration) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        tx.send(listener.local_addr().unwrap()).unwrap();
        loop {
            let (stream, _) = listener.accept_with_backoff().await.unwrap();
            tern::runtime::spawn(async move {
                let _ = http1::Builder::new()
                    .timer(HyperTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(stream, service_fn(echo))
                    .await;
            });
        }
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("server did not start")
}

/// A hyper client connection over a tern `TcpStream`, driven by a tern task.
async fn client(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
    hyper::rt::Executor::execute(&HyperExecutor::new(), async move {
        let _ = conn.await;
    });
    sender
}

#[test]
fn server_and_client_many_keep_alive_requests() {
    let rt = Runtime::new().unwrap();
    let addr = start_server(&rt, Duration::from_secs(10));
    rt.block_on(async move {
        let tasks: Vec<_> = (0..16)
            .map(|c| {
                tern::runtime::spawn(async move {
                    let mut sender = client(addr).await;
                    for i in 0..50 {
                        let body = format!("client {c} request {i}");
                        let req = Request::post(format!("/c{c}/r{i}"))
                            .header("host", "tern")
                            .body(Full::new(Bytes::from(body.clone())))
                            .unwrap();
                        sender.ready().await.unwrap();
                        let resp = sender.send_request(req).await.unwrap();
                        assert_eq!(resp.status(), 200);
                        let got = resp.into_body().collect().await.unwrap().to_bytes();
                        assert_eq!(got, format!("/c{c}/r{i}:{body}").as_bytes());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

/// A client that sends half a request head and stalls is cut off by hyper's
/// header-read timer, which runs on tern's wheel.
#[test]
fn header_read_timeout_fires_on_terns_timer() {
    let rt = Runtime::new().unwrap();
    let addr = start_server(&rt, Duration::from_millis(200));
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").unwrap();
    let mut buf = Vec::new();
    // hyper answers 408 or just closes; either way the read ends with EOF.
    let r = s.read_to_end(&mut buf);
    let elapsed = start.elapsed();
    assert!(r.is_ok(), "{r:?}");
    assert!(elapsed >= Duration::from_millis(200), "closed after {elapsed:?}, before the timeout");
    assert!(elapsed < Duration::from_secs(5), "timeout did not fire: {elapsed:?}");
}

#[test]
fn hyper_timer_sleeps_and_resets_in_place() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let timer = HyperTimer::new();
        let start = Instant::now();
        timer.sleep(Duration::from_millis(20)).await;
        assert!(start.elapsed() >= Duration::from_millis(20));

        let mut sleep = timer.sleep(Duration::from_secs(3600));
        let before: *const () = (&*sleep as *const dyn hyper::rt::Sleep).cast();
        let start = Instant::now();
        timer.reset(&mut sleep, Instant::now() + Duration::from_millis(30));
        let after: *const () = (&*sleep as *const dyn hyper::rt::Sleep).cast();
        assert_eq!(before, after, "reset allocated a new sleep instead of re-arming");
        assert!(sleep.as_mut().downcast_mut_pin::<HyperSleep>().is_some());
        sleep.as_mut().await;
        let e = start.elapsed();
        assert!(e >= Duration::from_millis(30) && e < Duration::from_secs(5), "{e:?}");
    });
}

/// A foreign sleep handed to `reset` is replaced by one of ours.
#[test]
fn hyper_timer_reset_replaces_a_foreign_sleep() {
    struct Never;
    impl std::future::Future for Never {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
            std::task::Poll::Pending
        }
    }
    impl hyper::rt::Sleep for Never {}
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let timer = HyperTimer::new();
        let mut sleep: Pin<Box<dyn hyper::rt::Sleep>> = Box::pin(Never);
        timer.reset(&mut sleep, Instant::now() + Duration::from_millis(10));
        assert!(sleep.as_mut().downcast_mut_pin::<HyperSleep>().is_some());
        sleep.as_mut().await;
    });
}

/// `HyperIo` adapts a futures-io stream (here a tern `TcpStream` through the
/// wrapper, as a TLS stream would be): a request round trip works through it.
#[test]
fn hyper_io_adapter_serves_a_request() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tern::runtime::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = http1::Builder::new()
                .serve_connection(
                    HyperIo::new(stream),
                    service_fn(|_req| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"via HyperIo"))))
                    }),
                )
                .await;
        });
        let stream = HyperIo::new(TcpStream::connect(addr).await.unwrap());
        let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
        tern::runtime::spawn(async move {
            let _ = conn.await;
        });
        let req = Request::get("/").header("host", "tern").body(Full::new(Bytes::new())).unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"via HyperIo");
    });
}
