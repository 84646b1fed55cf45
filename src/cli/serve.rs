//! `tern serve`: the OpenAI-compatible server (flag names follow llama-server's).

use std::time::Duration;

use clap::Args;
use tern::inference::engine::EngineConfig;
use tern::inference::processor::ProcessorConfig;
use tern::inference::server::{serve as run_server, ServerConfig};
use tern::net::TcpListener;

use super::model_args::{fail, ModelArgs};

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0: any free port, printed at start).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Sequences decoded together (KV cache slots).
    #[arg(long = "parallel", short = 'n', default_value_t = 4)]
    parallel: usize,
    /// Total context over all slots (each gets ctx-size / parallel).
    #[arg(short = 'c', long)]
    ctx_size: Option<usize>,
    /// KV cache type, keys and values alike: f16 (half the memory per position) or
    /// f32 (exact). llama.cpp's --cache-type-k / --cache-type-v, as one flag.
    #[arg(long = "cache-type", default_value = "f16")]
    cache_type: tern::inference::model::KvType,
    /// Requests that may wait for a slot; more get 503 + Retry-After.
    #[arg(long, default_value_t = 64)]
    max_queue: usize,
    /// Most tokens fed through the model in one step.
    #[arg(short = 'b', long = "batch-size", default_value_t = 256)]
    batch_size: usize,
    /// Default max_tokens for requests that give none.
    #[arg(long = "n-predict", default_value_t = 256)]
    n_predict: usize,
    /// Per-request timeout in seconds, queue wait included.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Seconds running requests get to finish after SIGINT / SIGTERM.
    #[arg(long, default_value_t = 10)]
    shutdown_grace: u64,
}

pub(crate) fn serve(args: ServeArgs) {
    let path = args.model.path().unwrap_or_else(|e| fail(e));
    let threads = args.model.threads().unwrap_or_else(|e| fail(e));
    if args.parallel == 0 || args.max_queue == 0 || args.batch_size == 0 {
        fail("--parallel, --max-queue and --batch-size must be at least 1");
    }
    let signal = shutdown_signal().unwrap_or_else(|e| fail(format!("cannot install signal handlers: {e}")));
    tern::runtime::block_on(async move {
        let config = ProcessorConfig {
            engine: EngineConfig {
                parallel: args.parallel,
                ctx_size: args.ctx_size,
                max_queue: args.max_queue,
                batch_tokens: args.batch_size,
                default_timeout: None,
                kv_type: args.cache_type,
            },
            threads,
            default_max_tokens: args.n_predict,
            timeout: Duration::from_secs(args.timeout),
            lm_head: args.model.lm_head,
        };
        let processor = super::load::load(&path, config).await.unwrap_or_else(|e| fail(e));
        let addr = format!("{}:{}", args.host, args.port);
        let listener = TcpListener::bind(addr.as_str())
            .await
            .unwrap_or_else(|e| fail(format!("cannot listen on {addr}: {e}")));
        let local = listener.local_addr().unwrap_or_else(|e| fail(e));
        eprintln!(
            "tern serve: listening on http://{local} ({} slots of {} positions, {} KV cache, queue {})",
            args.parallel,
            processor.engine().slot_context(),
            processor.engine().kv_type(),
            args.max_queue
        );
        let server_config = ServerConfig {
            shutdown_grace: Duration::from_secs(args.shutdown_grace),
            ..ServerConfig::default()
        };
        let shutdown = async move {
            let sig = signal.await.unwrap_or(0);
            eprintln!("tern serve: signal {sig}, shutting down (grace {} s)", args.shutdown_grace);
        };
        match run_server(listener, processor, server_config, shutdown).await {
            Ok(report) => eprintln!(
                "tern serve: stopped; {} requests finished during shutdown, {} cut",
                report.completed, report.cut
            ),
            Err(e) => fail(e),
        }
    });
}

/// A future that completes with the first SIGINT or SIGTERM (a thread blocked in
/// `signal-hook`'s iterator forwards it; no polling).
fn shutdown_signal() -> std::io::Result<tern::runtime::sync::oneshot::Receiver<i32>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let (tx, rx) = tern::runtime::sync::oneshot::channel();
    std::thread::Builder::new().name("tern-signals".into()).spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let _ = tx.send(sig);
        }
    })?;
    Ok(rx)
}
