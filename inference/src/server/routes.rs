//! The HTTP routes: parse, validate, run, answer; every error in OpenAI's body
//! shape with the right status.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::engine::EngineError;
use crate::processor::{GenerateParams, ProcessError};

use super::openai::{error_body, usage, ChatRequest, Common, CompletionRequest, Envelope, Kind, Prompt};
use super::sse::SseBody;
use super::State;

/// A response body: a whole JSON / text body, or an event stream.
pub type ServerBody = Either<Full<Bytes>, SseBody>;

type Reply = Response<ServerBody>;

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Either::Left(Full::new(body.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json_reply(status: StatusCode, v: &Value) -> Reply {
    full(status, "application/json", v.to_string())
}

/// A request that failed: status, OpenAI error body, maybe `Retry-After`.
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
    param: Option<&'static str>,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>, param: Option<&'static str>) -> ApiError {
        ApiError { status, message: message.into(), param, retry_after: None }
    }

    fn reply(self) -> Reply {
        let kind = if self.status.is_server_error() { "server_error" } else { "invalid_request_error" };
        let mut r = json_reply(self.status, &error_body(&self.message, kind, self.param));
        if let Some(after) = self.retry_after {
            let secs = after.as_secs().max(1).to_string();
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_str(&secs).expect("digits are a valid header value"));
        }
        r
    }
}

impl From<ProcessError> for ApiError {
    fn from(e: ProcessError) -> ApiError {
        let (status, retry_after) = match &e {
            ProcessError::Engine(EngineError::Overloaded { retry_after }) => {
                (StatusCode::SERVICE_UNAVAILABLE, Some(*retry_after))
            }
            ProcessError::Engine(EngineError::ShuttingDown | EngineError::Cut) => {
                (StatusCode::SERVICE_UNAVAILABLE, None)
            }
            ProcessError::Engine(EngineError::BadRequest(_)) | ProcessError::Tokenizer(_) => {
                (StatusCode::BAD_REQUEST, None)
            }
            ProcessError::Engine(EngineError::PromptTooLong { .. }) => (StatusCode::PAYLOAD_TOO_LARGE, None),
            ProcessError::Engine(EngineError::TimedOut { .. }) => (StatusCode::GATEWAY_TIMEOUT, None),
            ProcessError::CircuitOpen { retry_after } => {
                (StatusCode::SERVICE_UNAVAILABLE, Some(*retry_after))
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        ApiError { status, message: e.to_string(), param: None, retry_after }
    }
}

/// Routes one request.
pub(super) async fn handle(state: &State, req: Request<Incoming>) -> Reply {
    state.http_requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/health") => {
            if state.processor.engine().is_shutting_down() {
                json_reply(StatusCode::SERVICE_UNAVAILABLE, &json!({"status": "shutting down"}))
            } else {
                json_reply(StatusCode::OK, &json!({"status": "ok"}))
            }
        }
        (&Method::GET, "/v1/models" | "/models") => json_reply(
            StatusCode::OK,
            &json!({"object": "list", "data": [{
                "id": state.processor.name(),
                "object": "model",
                "created": state.created,
                "owned_by": "tern",
            }]}),
        ),
        (&Method::GET, "/metrics") => {
            let mut text = state.processor.engine().metrics().render_prometheus();
            text.push_str(&format!(
                "# HELP tern_http_requests_total HTTP requests received.\n# TYPE tern_http_requests_total counter\ntern_http_requests_total {}\n",
                state.http_requests.load(Ordering::Relaxed)
            ));
            full(StatusCode::OK, "text/plain; version=0.0.4", text)
        }
        (&Method::POST, "/v1/completions" | "/completions") => {
            let reply = match body::<CompletionRequest>(state, req).await {
                Ok(r) => completion(state, r).await,
                Err(e) => Err(e),
            };
            reply.unwrap_or_else(ApiError::reply)
        }
        (&Method::POST, "/v1/chat/completions" | "/chat/completions") => {
            let reply = match body::<ChatRequest>(state, req).await {
                Ok(r) => chat(state, r).await,
                Err(e) => Err(e),
            };
            reply.unwrap_or_else(ApiError::reply)
        }
        (
            _,
            "/health"
            | "/v1/models"
            | "/models"
            | "/metrics"
            | "/v1/completions"
            | "/completions"
            | "/v1/chat/completions"
            | "/chat/completions",
        ) => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} is not allowed on {path}", req.method()),
            None,
        )
        .reply(),
        _ => ApiError::new(StatusCode::NOT_FOUND, format!("no route for {path}"), None).reply(),
    }
}

/// Reads and parses a JSON body (at most `max_body_bytes`).
async fn body<T: DeserializeOwned>(state: &State, req: Request<Incoming>) -> Result<T, ApiError> {
    let max = state.config.max_body_bytes;
    let bytes = match Limited::new(req.into_body(), max).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body over {max} bytes"),
                None,
            ));
        }
        Err(e) => {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}"), None))
        }
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}"), None))
}

fn envelope(state: &State, kind: Kind) -> Envelope {
    let n = state.next_id.fetch_add(1, Ordering::Relaxed);
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let prefix = match kind {
        Kind::Completion => "cmpl",
        Kind::Chat => "chatcmpl",
    };
    Envelope {
        id: format!("{prefix}-{created:x}{n:06x}"),
        created,
        model: state.processor.name().to_owned(),
        kind,
    }
}

fn params(state: &State, common: &Common) -> Result<GenerateParams, ApiError> {
    common.params(state.processor.config().default_max_tokens).map_err(|(field, why)| {
        ApiError::new(StatusCode::BAD_REQUEST, format!("{field}: {why}"), Some(field))
    })
}

async fn completion(state: &State, r: CompletionRequest) -> Result<Reply, ApiError> {
    let params = params(state, &r.common)?;
    let ids = match r.prompt {
        Prompt::Text(t) => state.processor.encode_prompt(&t)?,
        Prompt::TextList(list) if list.len() == 1 => state.processor.encode_prompt(&list[0])?,
        Prompt::TextList(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "only one prompt per request is served",
                Some("prompt"),
            ))
        }
        Prompt::Tokens(ids) => ids,
    };
    run(state, ids, params, &r.common, envelope(state, Kind::Completion)).await
}

async fn chat(state: &State, r: ChatRequest) -> Result<Reply, ApiError> {
    if r.messages.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "messages must not be empty", Some("messages")));
    }
    let params = params(state, &r.common)?;
    let text = state.template.render(&r.messages).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, format!("chat template: {e}"), Some("messages"))
    })?;
    // The template writes BOS itself when it wants one.
    let tok = state.processor.tokenizer();
    let has_bos =
        tok.bos().and_then(|b| tok.token_text(b)).is_some_and(|b| !b.is_empty() && text.starts_with(b));
    let ids = tok.encode_with_special(&text, !has_bos).map_err(ProcessError::from)?;
    run(state, ids, params, &r.common, envelope(state, Kind::Chat)).await
}

async fn run(
    state: &State,
    ids: Vec<u32>,
    params: GenerateParams,
    common: &Common,
    env: Envelope,
) -> Result<Reply, ApiError> {
    let stream = state.processor.generate_stream_ids(ids, params)?;
    if common.stream {
        let mut r = Response::new(Either::Right(SseBody::new(stream, env, common.include_usage())));
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(r);
    }
    let (text, done) = stream.collect_text().await?;
    Ok(json_reply(
        StatusCode::OK,
        &env.response(&text, done.reason, usage(done.prompt_tokens, done.completion_tokens)),
    ))
}
