//! What a client sends ([`Request`]) and what it gets back ([`Event`]s on a
//! [`Generation`] stream).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tern_runtime::sync::mpsc::UnboundedReceiver;

use crate::sampler::SamplingParams;

use super::error::EngineError;

/// One generation request, in token ids (text is the caller's business).
#[derive(Debug, Clone)]
pub struct Request {
    /// Prompt token ids (at least one; BOS included if the model wants it).
    pub prompt: Vec<u32>,
    /// Sampling parameters (validated at submit).
    pub params: SamplingParams,
    /// Most tokens to generate (the slot's remaining context caps it further).
    pub max_tokens: usize,
    /// Ends the request with [`EngineError::TimedOut`] after this long from submit,
    /// queue wait included. `None`: the engine's default.
    pub timeout: Option<Duration>,
    /// Keep generating past end-of-generation tokens (benchmarks).
    pub ignore_eos: bool,
}

impl Request {
    /// A request for `prompt` with default sampling and `max_tokens`.
    pub fn new(prompt: Vec<u32>, max_tokens: usize) -> Request {
        Request { prompt, params: SamplingParams::default(), max_tokens, timeout: None, ignore_eos: false }
    }
}

/// Why a generation ended normally (OpenAI's `finish_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// An end-of-generation token (`"stop"`); the token itself is not sent.
    Stop,
    /// `max_tokens` reached or the slot's context is full (`"length"`).
    Length,
}

impl FinishReason {
    /// OpenAI's name: `"stop"` or `"length"`.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// The summary sent after the last token.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// Why it ended.
    pub reason: FinishReason,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Tokens generated (sent as [`Event::Token`]).
    pub completion_tokens: usize,
    /// Submit to admission into a slot.
    pub queue_time: Duration,
    /// Admission to the first generated token (prefill).
    pub prefill_time: Duration,
    /// Admission to the end.
    pub processing_time: Duration,
}

/// What a [`Generation`] yields: tokens, then exactly one `Done` or `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The next generated token id.
    Token(u32),
    /// Generation ended normally.
    Done(Finished),
    /// Generation ended early (timeout, shutdown, model error).
    Failed(EngineError),
}

/// The stream of one request's [`Event`]s. Dropping it cancels the request: its
/// slot is freed within one engine step.
#[derive(Debug)]
pub struct Generation {
    pub(super) events: UnboundedReceiver<Event>,
    /// Set by [`Generation::stop`]: the client ended the request on purpose.
    pub(super) stopped: Arc<AtomicBool>,
}

impl Generation {
    /// Ends the request because the client is done with it (a stop string matched,
    /// say): like dropping the `Generation`, the slot is freed within one engine
    /// step, but the engine's metrics count the request as completed, not cancelled.
    pub fn stop(self) {
        self.stopped.store(true, Ordering::Release);
    }

    /// The next event; `None` after the final `Done` / `Failed` (or if the engine
    /// vanished, which it only does at process exit).
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Polls for the next event (the `Stream` impl without pinning).
    pub fn events_poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.events.poll_recv(cx)
    }
}

impl futures_core::Stream for Generation {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.events.poll_recv(cx)
    }
}
