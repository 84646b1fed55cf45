//! A TCP echo server on tern.
//!
//! ```text
//! cargo run --release --example echo -- 127.0.0.1:7000
//! ```
//!
//! Every connection is a task that reads into a buffer and writes it back until
//! the peer closes. The accept loop backs off instead of spinning when the
//! process runs out of file descriptors. `benches/src/bin/echo_bench.rs` drives
//! it (and tokio's equivalent) with many connections.

use futures::io::{AsyncReadExt, AsyncWriteExt};
use tern::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7000".to_string());
    tern::runtime::block_on(async move {
        let listener = TcpListener::bind(addr.as_str()).await?;
        eprintln!("echo: listening on {}", listener.local_addr()?);
        loop {
            let (stream, _peer) = listener.accept_with_backoff().await?;
            tern::runtime::spawn(async move {
                if let Err(e) = echo(stream).await {
                    eprintln!("echo: connection error: {e}");
                }
            });
        }
    })
}

async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}
