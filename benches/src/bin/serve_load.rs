//! Load generator for `tern serve`: aggregate decode tokens/s and time to first
//! token (p50 / p99) at 1, 4 and 16 concurrent streaming clients, for the engine
//! with continuous batching (`--parallel 16`) beside the seed documents' design,
//! where model access is serialized (concurrency 1: `--parallel 1`, the rest
//! queue), on the same model in the same run. Also prints the server's CPU time
//! per generated token, to show that clients waiting in the queue cost no CPU.
//!
//! ```text
//! cargo build --release            # builds target/release/tern
//! cargo run --release -p tern-benches --bin serve_load -- [--model M.gguf] [--shape 2b4t|tiny] \
//!     [--tokens 32] [--seconds 20] [--clients 1,4,16]
//! ```
//!
//! Without `--model` it writes `$TMPDIR/tern-synth-<shape>.gguf` first. Each
//! client sends streaming completions back to back (`max_tokens` = `--tokens`,
//! `ignore_eos`), for `--seconds` per row; a token counts when its SSE chunk
//! arrives.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tern_inference::model::{synth, SynthShape};
use tern_reactor::net::TcpStream;

/// Per-row results gathered by the clients.
#[derive(Default)]
struct Stats {
    tokens: u64,
    ttft: Vec<f64>,
    errors: u64,
}

struct Args {
    model: Option<PathBuf>,
    shape: String,
    tokens: usize,
    seconds: u64,
    clients: Vec<usize>,
}

fn parse_args() -> Args {
    let mut a = Args { model: None, shape: "2b4t".into(), tokens: 32, seconds: 20, clients: vec![1, 4, 16] };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => a.model = Some(val().into()),
            "--shape" => a.shape = val(),
            "--tokens" => a.tokens = val().parse().expect("--tokens"),
            "--seconds" => a.seconds = val().parse().expect("--seconds"),
            "--clients" => a.clients = val().split(',').map(|c| c.parse().expect("--clients")).collect(),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn tern_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe.parent().expect("exe dir").join("tern");
    assert!(bin.exists(), "{} is missing: run `cargo build --release` first", bin.display());
    bin
}

/// CPU seconds (user + system) the process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields after the command: state is 0, utime is 11, stime is 12.
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(model: &PathBuf, parallel: usize, ctx_per_slot: usize, port: u16) -> Server {
        let log = std::env::temp_dir().join(format!("tern-serve-load-{port}.log"));
        let mut child = Command::new(tern_binary())
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--parallel", &parallel.to_string(), "--max-queue", "64"])
            .args(["-c", &(parallel * ctx_per_slot).to_string()])
            .arg("-m")
            .arg(model)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("server log"))
            .spawn()
            .expect("start tern serve");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let t = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            let exited = child.try_wait().expect("server status");
            if exited.is_some() || t.elapsed() > Duration::from_secs(120) {
                let msg = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("tern serve did not start ({exited:?}):\n{msg}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill has no memory preconditions; the pid is our child's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// One streaming completion; returns (tokens received, time to first token).
async fn one_request(addr: SocketAddr, body: &str) -> Result<(u64, f64), String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(stream).await.map_err(|e| e.to_string())?;
    drop(tern_runtime::spawn(async move {
        let _ = conn.await;
    }));
    let req = hyper::Request::post("/v1/completions")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let sent = Instant::now();
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("status {}", resp.status()));
    }
    let mut body = resp.into_body();
    let (mut tokens, mut ttft) = (0u64, 0f64);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        let Some(data) = frame.data_ref() else { continue };
        for event in std::str::from_utf8(data).unwrap_or("").split("\n\n") {
            if event.starts_with("data: {") && event.contains("\"text\"") && !event.contains("\"choices\":[]")
            {
                if tokens == 0 {
                    ttft = sent.elapsed().as_secs_f64();
                }
                tokens += 1;
            }
        }
    }
    Ok((tokens, ttft))
}

fn run_row(addr: SocketAddr, clients: usize, tokens: usize, seconds: u64) -> (Stats, f64) {
    let body = format!(
        r#"{{"prompt":"Once upon a time","max_tokens":{tokens},"stream":true,"ignore_eos":true,"temperature":0.7,"seed":1}}"#
    );
    let stats = Arc::new(parking_lot::Mutex::new(Stats::default()));
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    tern_runtime::block_on(async {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let (stats, body) = (stats.clone(), body.clone());
                tern_runtime::spawn(async move {
                    while Instant::now() < end {
                        match one_request(addr, &body).await {
                            Ok((n, ttft)) => {
                                let mut s = stats.lock();
                                s.tokens += n;
                                s.ttft.push(ttft);
                            }
                            Err(_) => stats.lock().errors += 1,
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            let _ = h.await;
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let stats = Arc::try_unwrap(stats).ok().expect("clients done").into_inner();
    (stats, wall)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args = parse_args();
    let model = args.model.clone().unwrap_or_else(|| {
        let p = std::env::temp_dir().join(format!("tern-synth-{}.gguf", args.shape));
        if !p.exists() {
            let s = SynthShape::from_name(&args.shape).expect("unknown --shape (tiny, 2b4t)");
            eprintln!("writing {} ...", p.display());
            synth(s, 1).expect("synth").write_file(&p).expect("write model");
        }
        p
    });
    let ctx_per_slot = 64 + args.tokens + 16;
    let max_clients = args.clients.iter().copied().max().unwrap_or(1);
    println!("model {}, {} tokens per request, {} s per row", model.display(), args.tokens, args.seconds);
    println!("| server | clients | requests | aggregate tokens/s | TTFT p50 ms | TTFT p99 ms | server CPU ms / token | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut single = 0f64;
    for (name, parallel, port) in [
        ("continuous batching (--parallel N)", max_clients, 18431u16),
        ("serialized, seed design (--parallel 1)", 1, 18432),
    ] {
        let server = Server::start(&model, parallel, ctx_per_slot, port);
        for &clients in &args.clients {
            let cpu0 = cpu_seconds(server.child.id());
            let (mut stats, wall) = run_row(server.addr, clients, args.tokens, args.seconds);
            let cpu = cpu_seconds(server.child.id()) - cpu0;
            stats.ttft.sort_by(f64::total_cmp);
            let rate = stats.tokens as f64 / wall;
            if parallel > 1 && clients == 1 {
                single = rate;
            }
            println!(
                "| {name} | {clients} | {} | {rate:.2} | {:.0} | {:.0} | {:.1} | {} |",
                stats.ttft.len(),
                pct(&stats.ttft, 0.5) * 1e3,
                pct(&stats.ttft, 0.99) * 1e3,
                cpu * 1e3 / stats.tokens.max(1) as f64,
                stats.errors
            );
            if parallel > 1 && clients == max_clients && single > 0.0 {
                println!("| (ratio) | {clients} vs 1 | | {:.2}x | | | | |", rate / single);
            }
        }
        drop(server);
    }
}
