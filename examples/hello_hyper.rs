//! A hyper 1.x HTTP/1.1 server on tern, with no tokio runtime anywhere.
//!
//! ```text
//! cargo run --release --example hello_hyper -- 127.0.0.1:8080
//! curl http://127.0.0.1:8080/
//! ```
//!
//! tern's `TcpStream` implements `hyper::rt::{Read, Write}`, `HyperTimer` drives
//! hyper's header-read and keep-alive timers on tern's wheel. `benches/` compares
//! it with the same server on tokio under `wrk`.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tern::hyper::HyperTimer;
use tern::net::TcpListener;

async fn hello(_req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_string());
    tern::runtime::block_on(async move {
        let listener = TcpListener::bind(addr.as_str()).await?;
        eprintln!("hello_hyper: listening on http://{}", listener.local_addr()?);
        loop {
            let (stream, _peer) = listener.accept_with_backoff().await?;
            stream.set_nodelay(true)?;
            tern::runtime::spawn(async move {
                let conn = http1::Builder::new()
                    .timer(HyperTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(stream, service_fn(hello));
                if let Err(e) = conn.await {
                    if !e.is_incomplete_message() {
                        eprintln!("hello_hyper: connection error: {e}");
                    }
                }
            });
        }
    })
}
