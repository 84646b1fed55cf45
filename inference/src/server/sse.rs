//! [`SseBody`]: a hyper body that streams a [`TokenStream`] as server-sent events
//! (`data: {chunk}\n\n` … `data: [DONE]\n\n`), as the OpenAI streaming API does.
//!
//! The body polls the stream directly, so a client that disconnects (hyper drops
//! the body) drops the stream, which cancels the request in the engine.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use serde_json::Value;

use crate::processor::{ProcessError, TokenStream};

use super::openai::{error_body, usage, Envelope};

/// Streams one request's chunks.
pub struct SseBody {
    stream: TokenStream,
    envelope: Envelope,
    include_usage: bool,
    first: bool,
    /// Frames decided but not yet sent (the finish chunk, usage, `[DONE]`).
    tail: Vec<Bytes>,
    done: bool,
}

impl SseBody {
    /// A body for `stream`, chunks named by `envelope`.
    pub fn new(stream: TokenStream, envelope: Envelope, include_usage: bool) -> SseBody {
        SseBody { stream, envelope, include_usage, first: true, tail: Vec::new(), done: false }
    }
}

fn event(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        loop {
            if let Some(b) = this.tail.pop() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            let item = match this.stream.poll_next_token(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(item) => item,
            };
            match item {
                Some(Ok(token)) => {
                    if let Some(finish) = token.finish {
                        // Sent in reverse order (popped from the end).
                        this.done = true;
                        this.tail.push(Bytes::from_static(b"data: [DONE]\n\n"));
                        if this.include_usage {
                            let u = usage(finish.prompt_tokens, finish.completion_tokens);
                            this.tail.push(event(&this.envelope.usage_chunk(u)));
                        }
                        let text = (!token.text.is_empty()).then_some(token.text.as_str());
                        this.tail.push(event(&this.envelope.chunk(text, this.first, Some(finish.reason))));
                        this.first = false;
                        continue;
                    }
                    if token.text.is_empty() && !this.first {
                        continue; // nothing final yet (inside a character or a possible stop)
                    }
                    let chunk = this.envelope.chunk(Some(&token.text), this.first, None);
                    this.first = false;
                    return Poll::Ready(Some(Ok(Frame::data(event(&chunk)))));
                }
                Some(Err(e)) => {
                    this.done = true;
                    let kind = if matches!(e, ProcessError::Engine(_)) && e.is_retryable() {
                        "server_error"
                    } else {
                        "invalid_request_error"
                    };
                    return Poll::Ready(Some(Ok(Frame::data(event(&error_body(
                        &e.to_string(),
                        kind,
                        None,
                    ))))));
                }
                None => return Poll::Ready(None),
            }
        }
    }
}
