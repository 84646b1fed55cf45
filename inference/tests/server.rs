//! `tern serve`'s HTTP API over real loopback sockets with a real HTTP client
//! (hyper's): non-streaming and streaming completions, chat, concurrency, a
//! client that disconnects mid-stream, overload, malformed requests, shutdown.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use serde_json::{json, Value};
use tern_inference::engine::EngineConfig;
use tern_inference::gguf::GgufFile;
use tern_inference::model::{synth_bytes, Model, SynthShape};
use tern_inference::processor::{Processor, ProcessorConfig};
use tern_inference::server::{serve, ServerConfig};
use tern_inference::tokenizer::Tokenizer;
use tern_reactor::net::{TcpListener, TcpStream};
use tern_runtime::sync::oneshot;

const SHAPE: SynthShape = SynthShape { context_length: 256, ..SynthShape::TINY };

struct Server {
    addr: SocketAddr,
    processor: Processor,
    stop: Option<oneshot::Sender<()>>,
    done: tern_runtime::JoinHandle<std::io::Result<tern_inference::engine::ShutdownReport>>,
}

async fn start(parallel: usize, max_queue: usize) -> Server {
    {
        let file = GgufFile::from_bytes(synth_bytes(SHAPE, 3).unwrap()).unwrap();
        let model = Model::from_gguf(&file).unwrap();
        let tokenizer = Tokenizer::from_gguf(&file).unwrap();
        let config = ProcessorConfig {
            engine: EngineConfig { parallel, max_queue, batch_tokens: 32, ..EngineConfig::default() },
            threads: Some(2),
            default_max_tokens: 16,
            timeout: Duration::from_secs(30),
            ..ProcessorConfig::default()
        };
        let processor = Processor::from_parts(model, tokenizer, "tiny-test", config).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server_config =
            ServerConfig { shutdown_grace: Duration::from_secs(20), ..ServerConfig::default() };
        let done = tern_runtime::spawn(serve(listener, processor.clone(), server_config, async move {
            let _ = rx.await;
        }));
        Server { addr, processor, stop: Some(tx), done }
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn client(addr: SocketAddr) -> Sender {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
    drop(tern_runtime::spawn(async move {
        let _ = conn.await;
    }));
    sender
}

fn request(method: &str, path: &str, body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

/// Sends a request on a fresh connection; returns status, Retry-After, body.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, Option<String>, String) {
    let mut s = client(addr).await;
    let resp = s.send_request(request(method, path, body)).await.unwrap();
    let status = resp.status();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, retry, String::from_utf8(body.to_vec()).unwrap())
}

fn sse_events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").expect(e).to_owned())
        .collect()
}

#[test]
fn completion_streamed_and_whole_agree_and_have_openai_shapes() {
    tern_runtime::block_on(async {
        let srv = start(2, 4).await;
        let req =
            json!({"prompt": "Hello there", "max_tokens": 12, "temperature": 0, "ignore_me": 1}).to_string();
        let (status, _, body) = call(srv.addr, "POST", "/v1/completions", &req).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["object"], "text_completion");
        assert_eq!(v["model"], "tiny-test");
        assert!(v["id"].as_str().unwrap().starts_with("cmpl-"));
        let choice = &v["choices"][0];
        let text = choice["text"].as_str().unwrap().to_owned();
        let usage = &v["usage"];
        let completion_tokens = usage["completion_tokens"].as_u64().unwrap();
        assert_eq!(
            usage["total_tokens"].as_u64().unwrap(),
            usage["prompt_tokens"].as_u64().unwrap() + completion_tokens
        );
        match choice["finish_reason"].as_str().unwrap() {
            "length" => assert_eq!(completion_tokens, 12),
            "stop" => assert!(completion_tokens < 12),
            other => panic!("finish_reason {other}"),
        }

        let req = json!({"prompt": "Hello there", "max_tokens": 12, "temperature": 0, "stream": true,
                         "stream_options": {"include_usage": true}})
        .to_string();
        let (status, _, body) = call(srv.addr, "POST", "/v1/completions", &req).await;
        assert_eq!(status, StatusCode::OK);
        let events = sse_events(&body);
        assert_eq!(events.last().unwrap(), "[DONE]");
        let chunks: Vec<Value> =
            events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
        let usage_chunk = chunks.last().unwrap();
        assert_eq!(usage_chunk["choices"].as_array().unwrap().len(), 0);
        assert_eq!(usage_chunk["usage"], *usage);
        let streamed: String =
            chunks[..chunks.len() - 1].iter().map(|c| c["choices"][0]["text"].as_str().unwrap()).collect();
        assert_eq!(streamed, text, "streamed text differs from the whole response");
        let last = &chunks[chunks.len() - 2];
        assert_eq!(last["choices"][0]["finish_reason"], choice["finish_reason"]);
    });
}

#[test]
fn chat_completion_whole_and_streamed() {
    tern_runtime::block_on(async {
        let srv = start(2, 4).await;
        let req = json!({"messages": [{"role": "system", "content": "Be brief."},
                                      {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                         "max_completion_tokens": 6, "temperature": 0})
        .to_string();
        let (status, _, body) = call(srv.addr, "POST", "/v1/chat/completions", &req).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
        let text = v["choices"][0]["message"]["content"].as_str().unwrap().to_owned();

        let mut streamed = json!(req);
        streamed = serde_json::from_str::<Value>(streamed.as_str().unwrap()).unwrap();
        streamed["stream"] = json!(true);
        let (status, _, body) = call(srv.addr, "POST", "/v1/chat/completions", &streamed.to_string()).await;
        assert_eq!(status, StatusCode::OK);
        let events = sse_events(&body);
        assert_eq!(events.last().unwrap(), "[DONE]");
        let chunks: Vec<Value> =
            events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
        assert_eq!(chunks[0]["object"], "chat.completion.chunk");
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let content: String =
            chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(content, text);
    });
}

#[test]
fn concurrent_clients_all_get_answers() {
    tern_runtime::block_on(async {
        let srv = start(4, 8).await;
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let addr = srv.addr;
                tern_runtime::spawn(async move {
                    let req =
                        json!({"prompt": format!("client {i} says"), "max_tokens": 10, "stream": i % 2 == 0,
                                     "seed": i})
                        .to_string();
                    call(addr, "POST", "/v1/completions", &req).await
                })
            })
            .collect();
        for h in handles {
            let (status, _, body) = h.await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        assert_eq!(srv.processor.engine().metrics().completed.load(Ordering::Relaxed), 6);
    });
}

#[test]
fn client_disconnecting_mid_stream_frees_its_slot() {
    tern_runtime::block_on(async {
        let srv = start(1, 2).await;
        let mut s = client(srv.addr).await;
        let req = json!({"prompt": "a long story", "max_tokens": 200, "stream": true, "ignore_eos": true})
            .to_string();
        let resp = s.send_request(request("POST", "/v1/completions", &req)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert!(first.data_ref().unwrap().starts_with(b"data: "));
        drop(body);
        drop(s); // closes the connection
        let m = srv.processor.engine().metrics();
        for _ in 0..400 {
            if m.cancelled.load(Ordering::Relaxed) == 1 && m.active_slots.load(Ordering::Relaxed) == 0 {
                break;
            }
            tern_reactor::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(m.cancelled.load(Ordering::Relaxed), 1);
        assert_eq!(m.active_slots.load(Ordering::Relaxed), 0);
        // The freed slot serves the next client.
        let (status, _, _) = call(
            srv.addr,
            "POST",
            "/v1/completions",
            &json!({"prompt": "next", "max_tokens": 3}).to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    });
}

#[test]
fn overload_gets_503_with_retry_after_then_success() {
    tern_runtime::block_on(async {
        let srv = start(1, 1).await;
        let long = json!({"prompt": "x", "max_tokens": 240, "stream": true}).to_string();
        // Occupy the slot and the queue with two streams we hold open.
        let mut a = client(srv.addr).await;
        let ra = a.send_request(request("POST", "/v1/completions", &long)).await.unwrap();
        let m = srv.processor.engine().metrics();
        while m.active_slots.load(Ordering::Relaxed) == 0 {
            tern_reactor::time::sleep(Duration::from_millis(2)).await;
        }
        let mut b = client(srv.addr).await;
        let rb = b.send_request(request("POST", "/v1/completions", &long)).await.unwrap();
        let (status, retry, body) =
            call(srv.addr, "POST", "/v1/completions", &json!({"prompt": "y"}).to_string()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"]["message"].as_str().unwrap().contains("overloaded"));
        // Load drops.
        drop((ra, rb, a, b));
        while m.active_slots.load(Ordering::Relaxed) != 0 || m.queue_depth.load(Ordering::Relaxed) != 0 {
            tern_reactor::time::sleep(Duration::from_millis(5)).await;
        }
        let (status, _, _) =
            call(srv.addr, "POST", "/v1/completions", &json!({"prompt": "y", "max_tokens": 2}).to_string())
                .await;
        assert_eq!(status, StatusCode::OK);
    });
}

#[test]
fn malformed_requests_get_openai_errors() {
    tern_runtime::block_on(async {
        let srv = start(1, 2).await;
        let cases: Vec<(&str, &str, String, StatusCode, &str)> = vec![
            ("POST", "/v1/completions", "{not json".into(), StatusCode::BAD_REQUEST, "invalid JSON"),
            (
                "POST",
                "/v1/completions",
                json!({"prompt": 5}).to_string(),
                StatusCode::BAD_REQUEST,
                "invalid JSON",
            ),
            (
                "POST",
                "/v1/completions",
                json!({"prompt": "a", "temperature": 7}).to_string(),
                StatusCode::BAD_REQUEST,
                "temperature",
            ),
            (
                "POST",
                "/v1/completions",
                json!({"prompt": "a", "top_p": 0}).to_string(),
                StatusCode::BAD_REQUEST,
                "top_p",
            ),
            (
                "POST",
                "/v1/completions",
                json!({"prompt": "a", "n": 3}).to_string(),
                StatusCode::BAD_REQUEST,
                "n = 1",
            ),
            (
                "POST",
                "/v1/completions",
                json!({"prompt": [1, 999999]}).to_string(),
                StatusCode::BAD_REQUEST,
                "vocabulary",
            ),
            (
                "POST",
                "/v1/completions",
                json!({"prompt": "word ".repeat(400)}).to_string(),
                StatusCode::PAYLOAD_TOO_LARGE,
                "context",
            ),
            (
                "POST",
                "/v1/chat/completions",
                json!({"messages": []}).to_string(),
                StatusCode::BAD_REQUEST,
                "messages",
            ),
            ("GET", "/v1/completions", String::new(), StatusCode::METHOD_NOT_ALLOWED, "not allowed"),
            ("GET", "/nope", String::new(), StatusCode::NOT_FOUND, "no route"),
        ];
        for (method, path, body, want, needle) in cases {
            let (status, _, got) = call(srv.addr, method, path, &body).await;
            assert_eq!(status, want, "{method} {path} {body}: {got}");
            let v: Value = serde_json::from_str(&got).unwrap_or_else(|e| panic!("{got}: {e}"));
            let msg = v["error"]["message"].as_str().unwrap();
            assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
        }
        // The server is still healthy.
        let (status, _, body) = call(srv.addr, "GET", "/health", "").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"status":"ok"}"#));
    });
}

#[test]
fn models_metrics_and_graceful_shutdown() {
    tern_runtime::block_on(async {
        let mut srv = start(2, 4).await;
        let (status, _, body) = call(srv.addr, "GET", "/v1/models", "").await;
        assert_eq!(status, StatusCode::OK);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"][0]["id"], "tiny-test");

        // A stream in flight when the shutdown starts still completes.
        let mut s = client(srv.addr).await;
        let req = json!({"prompt": "x", "max_tokens": 40, "stream": true, "ignore_eos": true}).to_string();
        let resp = s.send_request(request("POST", "/v1/completions", &req)).await.unwrap();
        let m = srv.processor.engine().metrics();
        while m.active_slots.load(Ordering::Relaxed) == 0 {
            tern_reactor::time::sleep(Duration::from_millis(2)).await;
        }
        let (_, _, metrics) = call(srv.addr, "GET", "/metrics", "").await;
        assert!(metrics.contains("# TYPE tern_generated_tokens_total counter"), "{metrics}");
        assert!(metrics.contains("tern_slots_active 1"), "{metrics}");
        drop(srv.stop.take());
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let events = sse_events(std::str::from_utf8(&body).unwrap());
        assert_eq!(events.last().unwrap(), "[DONE]");
        let report = srv.done.await.unwrap().unwrap();
        assert_eq!(report.cut, 0);
        // The listener is closed.
        assert!(TcpStream::connect(srv.addr).await.is_err());
    });
}
