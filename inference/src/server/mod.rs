//! `tern serve`: an OpenAI-compatible HTTP server (hyper 1.x on tern's runtime
//! and reactor) over a [`Processor`].
//!
//! | file | one job |
//! | --- | --- |
//! | `openai.rs` | request / response / error shapes of the OpenAI API |
//! | `chat.rs` | chat templates (`tokenizer.chat_template` with minijinja, or Llama 3) |
//! | `sse.rs` | [`SseBody`]: a token stream as server-sent events |
//! | `routes.rs` | `/v1/completions`, `/v1/chat/completions`, `/health`, `/v1/models`, `/metrics` |
//!
//! Routes: `POST /v1/completions` and `/v1/chat/completions` (streamed with
//! `"stream": true`), `GET /health` (503 while shutting down), `GET /v1/models`,
//! `GET /metrics` (Prometheus text). Errors: 400 bad JSON or fields, 404 / 405,
//! 413 body or prompt too large, 503 + `Retry-After` when every slot and the queue
//! are full, 504 on a request timeout.

mod chat;
mod openai;
mod routes;
mod sse;

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use tern_reactor::hyper::HyperTimer;
use tern_reactor::net::TcpListener;
use tern_runtime::sync::{watch, Notify};

pub use chat::{ChatTemplate, LLAMA3_TEMPLATE};
pub use routes::ServerBody;
pub use sse::SseBody;

use crate::engine::ShutdownReport;
use crate::processor::Processor;

/// Server settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Largest request body accepted (413 past it). Default 4 MiB.
    pub max_body_bytes: usize,
    /// Time a client has to send its request headers. Default 10 s.
    pub header_read_timeout: Duration,
    /// On shutdown, how long running requests may take before they are cut.
    /// Default 10 s.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 4 << 20,
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// What the routes share.
struct State {
    processor: Processor,
    template: ChatTemplate,
    config: ServerConfig,
    created: u64,
    next_id: AtomicU64,
    http_requests: AtomicU64,
}

/// Serves HTTP on `listener` until `shutdown` completes, then shuts down
/// gracefully: stops accepting, lets running requests finish for
/// `shutdown_grace` (cutting the rest), closes idle connections, and returns the
/// engine's report.
///
/// Errors: the chat template of the model does not compile; accept errors other
/// than the transient ones `accept_with_backoff` absorbs.
pub async fn serve(
    listener: TcpListener,
    processor: Processor,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<ShutdownReport> {
    let tok = processor.tokenizer();
    let text_of = |id: Option<u32>| id.and_then(|i| tok.token_text(i)).unwrap_or("").to_owned();
    let template = ChatTemplate::new(tok.chat_template(), &text_of(tok.bos()), &text_of(tok.eos()))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("chat template: {e}")))?;
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let state = Arc::new(State {
        processor: processor.clone(),
        template,
        config: config.clone(),
        created,
        next_id: AtomicU64::new(0),
        http_requests: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let open = Arc::new((AtomicUsize::new(0), Notify::new()));

    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = {
            let mut accept = pin!(listener.accept_with_backoff());
            std::future::poll_fn(|cx| {
                if shutdown.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                accept.as_mut().poll(cx).map(Some)
            })
            .await
        };
        let Some(accepted) = accepted else { break };
        let (stream, _peer) = accepted?;
        let _ = stream.set_nodelay(true);
        let (state, mut stop_rx, open) = (state.clone(), stop_rx.clone(), open.clone());
        open.0.fetch_add(1, Ordering::AcqRel);
        drop(tern_runtime::spawn(async move {
            let service = service_fn(|req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(routes::handle(&state, req).await) }
            });
            let mut conn = pin!(http1::Builder::new()
                .timer(HyperTimer::new())
                .header_read_timeout(state.config.header_read_timeout)
                .serve_connection(stream, service));
            let mut stopping = false;
            let mut changed = pin!(stop_rx.changed());
            let res = std::future::poll_fn(|cx| {
                if !stopping && changed.as_mut().poll(cx).is_ready() {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
                conn.as_mut().poll(cx)
            })
            .await;
            if let Err(e) = res {
                if !e.is_incomplete_message() && !e.is_canceled() {
                    eprintln!("tern serve: connection error: {e}");
                }
            }
            if open.0.fetch_sub(1, Ordering::AcqRel) == 1 {
                open.1.notify_waiters();
            }
        }));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let report = processor.engine().shutdown(config.shutdown_grace).await;
    // Connections end once their last response is written; give them a moment.
    let drained = async {
        while open.0.load(Ordering::Acquire) > 0 {
            let notified = open.1.notified();
            if open.0.load(Ordering::Acquire) == 0 {
                break;
            }
            notified.await;
        }
    };
    let _ = tern_reactor::time::timeout(Duration::from_secs(2), drained).await;
    Ok(report)
}
