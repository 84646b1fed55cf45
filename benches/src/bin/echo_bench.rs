//! TCP echo throughput: tern's reactor against tokio's, same client, same run.
//!
//! The load generator is a plain `mio` event loop (1 thread by default) holding N
//! connections (default 64) to the server; each connection has exactly one message in
//! flight: write `size` bytes (default 64), read the full echo back, count it, repeat.
//! After a warm-up (default 1 s) the completed messages are counted for a fixed window
//! (default 5 s) and reported as messages per second.
//!
//! Each server runs in a child process (this binary re-executed with `--serve tern|tokio`),
//! so the client and the server share no runtime, allocator or thread pool. Both servers
//! have the same shape as `examples/echo.rs`: a multi-thread runtime with the same number
//! of workers (default 2) whose `block_on` runs the accept loop, one task per connection
//! (nodelay, read into a 16 KiB buffer, `write_all` it back). The servers' CPU time over the
//! measured window is read from `/proc/PID/stat`.
//!
//! ```text
//! cargo run --release -p tern-benches --bin echo_bench
//! cargo run --release -p tern-benches --bin echo_bench -- --size 4096 --rounds 2
//! ```
//!
//! Flags: `--conns N` (64), `--size BYTES` (64), `--duration SECS` (5), `--warmup SECS` (1),
//! `--workers N` (server workers, 2), `--client-threads N` (1), `--rounds N` (1; the peers
//! alternate, tern first), `--peers tern,tokio`.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use tern_benches::{ratio, WORKERS};

/// Size of the servers' read buffer (as in `examples/echo.rs`).
const SERVER_BUF: usize = 16 * 1024;

#[derive(Clone, Debug)]
struct Config {
    conns: usize,
    size: usize,
    duration: Duration,
    warmup: Duration,
    workers: usize,
    client_threads: usize,
    rounds: usize,
    peers: Vec<String>,
}

fn parse_args() -> Result<(Config, Option<(String, String)>), String> {
    let mut config = Config {
        conns: 64,
        size: 64,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        workers: WORKERS,
        client_threads: 1,
        rounds: 1,
        peers: vec!["tern".into(), "tokio".into()],
    };
    let mut serve = None;
    let mut addr = "127.0.0.1:0".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        let secs =
            |v: String| v.parse::<f64>().map(Duration::from_secs_f64).map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--conns" => config.conns = number(value()?)?,
            "--size" => config.size = number(value()?)?,
            "--duration" => config.duration = secs(value()?)?,
            "--warmup" => config.warmup = secs(value()?)?,
            "--workers" => config.workers = number(value()?)?,
            "--client-threads" => config.client_threads = number(value()?)?,
            "--rounds" => config.rounds = number(value()?)?,
            "--peers" => config.peers = value()?.split(',').map(str::to_string).collect(),
            "--serve" => serve = Some(value()?),
            "--addr" => addr = value()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if config.conns == 0 || config.size == 0 || config.workers == 0 || config.client_threads == 0 {
        return Err("--conns, --size, --workers and --client-threads must be positive".into());
    }
    Ok((config, serve.map(|peer| (peer, addr))))
}

fn main() {
    let (config, serve) = parse_args().unwrap_or_else(|e| {
        eprintln!("echo_bench: {e}");
        std::process::exit(2);
    });
    if let Some((peer, addr)) = serve {
        let result = match peer.as_str() {
            "tern" => serve_tern(&addr, config.workers),
            "tokio" => serve_tokio(&addr, config.workers),
            other => Err(io::Error::new(ErrorKind::InvalidInput, format!("unknown peer {other}"))),
        };
        if let Err(e) = result {
            eprintln!("echo_bench --serve {peer}: {e}");
            std::process::exit(1);
        }
        return;
    }
    run_client(&config);
}

// ---------------------------------------------------------------- servers

/// Tells the parent where the server listens (the first line of stdout).
fn announce(addr: SocketAddr) {
    let mut out = io::stdout().lock();
    writeln!(out, "listening {addr}").and_then(|()| out.flush()).expect("stdout");
}

fn serve_tern(addr: &str, workers: usize) -> io::Result<()> {
    use futures::io::{AsyncReadExt, AsyncWriteExt};

    // TERN_DRIVER_HAND_OFF=0 turns the driver hand-off off (for comparing the two settings).
    let hand_off = std::env::var("TERN_DRIVER_HAND_OFF").map_or(true, |v| v != "0");
    let rt = tern_runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .driver_hand_off(hand_off)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tern_reactor::net::TcpListener::bind(addr).await?;
        announce(listener.local_addr()?);
        loop {
            let (mut stream, _) = listener.accept_with_backoff().await?;
            tern_runtime::spawn(async move {
                let result: io::Result<()> = async {
                    stream.set_nodelay(true)?;
                    let mut buf = vec![0u8; SERVER_BUF];
                    loop {
                        let n = stream.read(&mut buf).await?;
                        if n == 0 {
                            return Ok(());
                        }
                        stream.write_all(&buf[..n]).await?;
                    }
                }
                .await;
                report("tern", result);
            });
        }
    })
}

fn serve_tokio(addr: &str, workers: usize) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        announce(listener.local_addr()?);
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let result: io::Result<()> = async {
                    stream.set_nodelay(true)?;
                    let mut buf = vec![0u8; SERVER_BUF];
                    loop {
                        let n = stream.read(&mut buf).await?;
                        if n == 0 {
                            return Ok(());
                        }
                        stream.write_all(&buf[..n]).await?;
                    }
                }
                .await;
                report("tokio", result);
            });
        }
    })
}

/// Prints a connection's error, except the reset the client causes when it closes
/// connections that still have an echo in flight at the end of a run.
fn report(peer: &str, result: io::Result<()>) {
    if let Err(e) = result {
        if !matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) {
            eprintln!("{peer} echo: connection error: {e}");
        }
    }
}

/// A server child process; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(peer: &str, workers: usize) -> Server {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .args(["--serve", peer, "--addr", "127.0.0.1:0", "--workers", &workers.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("failed to start the server process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("reading the server's address");
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("the {peer} server did not announce its address (got {line:?})"));
        Server { child, addr }
    }

    /// User + system CPU time of the server process so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_secs_f64(ticks as f64 / hz as f64)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- client

/// One connection's state: `written` bytes of the current message sent, `read` echoed back.
struct Conn {
    stream: TcpStream,
    written: usize,
    read: usize,
}

/// Advances one connection as far as the socket allows (edge-triggered: until `WouldBlock`).
fn drive(conn: &mut Conn, msg: &[u8], buf: &mut [u8], done: &AtomicU64) -> io::Result<()> {
    let size = msg.len();
    loop {
        if conn.written < size {
            match conn.stream.write(&msg[conn.written..]) {
                Ok(n) => conn.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        } else {
            match conn.stream.read(&mut buf[conn.read..size]) {
                Ok(0) => {
                    return Err(io::Error::new(ErrorKind::UnexpectedEof, "server closed the connection"))
                }
                Ok(n) => {
                    conn.read += n;
                    if conn.read == size {
                        if buf[..size] != *msg {
                            return Err(io::Error::new(ErrorKind::InvalidData, "echo does not match"));
                        }
                        done.fetch_add(1, Relaxed);
                        conn.written = 0;
                        conn.read = 0;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// One client thread: an event loop over `conns` connections until `stop`.
fn client_thread(addr: SocketAddr, conns: usize, size: usize, done: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    let mut poll = Poll::new().expect("mio poll");
    let msg: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut buf = vec![0u8; size];
    let mut conns: Vec<Conn> = (0..conns)
        .map(|i| {
            let std = std::net::TcpStream::connect(addr).expect("connect");
            std.set_nodelay(true).expect("nodelay");
            std.set_nonblocking(true).expect("nonblocking");
            let mut stream = TcpStream::from_std(std);
            poll.registry()
                .register(&mut stream, Token(i), Interest::READABLE | Interest::WRITABLE)
                .expect("register");
            Conn { stream, written: 0, read: 0 }
        })
        .collect();
    for conn in &mut conns {
        drive(conn, &msg, &mut buf, &done).expect("echo connection failed");
    }
    let mut events = Events::with_capacity(1024);
    while !stop.load(Relaxed) {
        match poll.poll(&mut events, Some(Duration::from_millis(50))) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => panic!("mio poll failed: {e}"),
        }
        for event in &events {
            let conn = &mut conns[event.token().0];
            drive(conn, &msg, &mut buf, &done).expect("echo connection failed");
        }
    }
}

struct Measured {
    rate: f64,
    server_cpu: f64,
}

fn measure(config: &Config, peer: &str) -> Measured {
    let server = Server::start(peer, config.workers);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..config.client_threads)
        .map(|t| {
            let share =
                config.conns / config.client_threads + usize::from(t < config.conns % config.client_threads);
            let (done, stop) = (done.clone(), stop.clone());
            let (addr, size) = (server.addr, config.size);
            thread::spawn(move || client_thread(addr, share, size, done, stop))
        })
        .collect();
    thread::sleep(config.warmup);
    let (start, count0, cpu0) = (Instant::now(), done.load(Relaxed), server.cpu_time());
    thread::sleep(config.duration);
    let (elapsed, count1, cpu1) = (start.elapsed(), done.load(Relaxed), server.cpu_time());
    stop.store(true, Relaxed);
    for t in threads {
        t.join().expect("a client thread panicked");
    }
    drop(server);
    let secs = elapsed.as_secs_f64();
    Measured { rate: (count1 - count0) as f64 / secs, server_cpu: (cpu1 - cpu0).as_secs_f64() / secs }
}

fn run_client(config: &Config) {
    println!(
        "TCP echo: {} connections, {} B messages, 1 in flight per connection; client: {} mio thread(s); \
         server: child process, {} workers; warm-up {:?}, measured {:?}",
        config.conns, config.size, config.client_threads, config.workers, config.warmup, config.duration
    );
    println!();
    println!(
        "| {:>5} | {:<6} | {:>12} | {:>10} | {:>13} | {:>14} | {:>17} | {:>11} |",
        "round",
        "server",
        "messages/s",
        "MB/s each",
        "mean RTT (µs)",
        "server CPU (%)",
        "server CPU µs/msg",
        "tern / this"
    );
    println!(
        "|{:->7}|{:-<8}|{:->14}|{:->12}|{:->15}|{:->16}|{:->19}|{:->13}|",
        "", "", "", "", "", "", "", ""
    );
    let mut all: Vec<(String, Vec<f64>)> = config.peers.iter().map(|p| (p.clone(), Vec::new())).collect();
    let mut ratios = Vec::new();
    for round in 1..=config.rounds {
        let mut tern_rate = None;
        for (peer, rates) in &mut all {
            let m = measure(config, peer);
            if peer == "tern" {
                tern_rate = Some(m.rate);
            }
            let shown = tern_rate.map_or("".to_string(), |t| ratio(t, m.rate));
            if peer == "tokio" {
                if let Some(t) = tern_rate {
                    ratios.push(t / m.rate);
                }
            }
            println!(
                "| {:>5} | {:<6} | {:>12.0} | {:>10.1} | {:>13.1} | {:>14.0} | {:>17.2} | {:>11} |",
                round,
                peer,
                m.rate,
                m.rate * config.size as f64 / 1e6,
                config.conns as f64 / m.rate * 1e6,
                m.server_cpu * 100.0,
                m.server_cpu / m.rate * 1e6,
                shown
            );
            rates.push(m.rate);
        }
    }
    if config.rounds > 1 {
        println!();
        for (peer, rates) in &all {
            let (lo, hi) = min_max(rates);
            println!("{peer}: {lo:.0} .. {hi:.0} messages/s over {} rounds", rates.len());
        }
        if !ratios.is_empty() {
            let (lo, hi) = min_max(&ratios);
            println!("tern / tokio: {lo:.2} .. {hi:.2}");
        }
    }
    println!();
    println!("[tern / this > 1 means tern's server completes more messages per second]");
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}
