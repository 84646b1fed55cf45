//! The tokio peer of `examples/hello_hyper.rs`: the same hyper 1.x HTTP/1.1 server, on a
//! tokio runtime through `hyper-util`'s `TokioIo` and `TokioTimer`.
//!
//! ```text
//! cargo run --release -p tern-benches --bin hello_hyper_tokio -- 127.0.0.1:8081 [--workers N]
//! ```
//!
//! Same shape as the tern example, so `benches/http_wrk.sh` can compare the two: a
//! multi-thread runtime with one worker per core (tern's `Runtime::new()` default;
//! `--workers` overrides it) whose `block_on` runs the accept loop, nodelay on every
//! connection, one task per connection serving `http1` with a 10 s header-read timeout on the
//! runtime's timer, and every request answered `200 Hello, World!`.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

async fn hello(_req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
}

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:8081".to_string();
    let mut workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--workers" {
            workers = args.next().and_then(|n| n.parse().ok()).expect("--workers needs a positive number");
        } else {
            addr = arg;
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr.as_str()).await?;
        eprintln!("hello_hyper_tokio: listening on http://{} ({workers} workers)", listener.local_addr()?);
        loop {
            let (stream, _peer) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service_fn(hello));
                if let Err(e) = conn.await {
                    if !e.is_incomplete_message() {
                        eprintln!("hello_hyper_tokio: connection error: {e}");
                    }
                }
            });
        }
    })
}
