//! [`TokenStream`]: one request's text, streamed: token ids decoded to valid UTF-8
//! across token boundaries, cut at the first stop string.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::engine::{Event, FinishReason, Generation};
use crate::sampler::{StopMatcher, StopOutcome};
use crate::tokenizer::StreamDecoder;

use super::error::ProcessError;

/// How a request ended, with its counts and times (the final [`Token`]'s `finish`).
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// `Stop` for an end-of-generation token or a stop string, `Length` for
    /// `max_tokens` or a full context.
    pub reason: FinishReason,
    /// Prompt tokens (BOS included).
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Waiting for a slot.
    pub queue_time: Duration,
    /// Admission to the first token.
    pub prefill_time: Duration,
    /// Admission to the end.
    pub processing_time: Duration,
}

/// A piece of generated text. `text` may be empty (a token that ends inside a
/// UTF-8 character, or text held back because it may start a stop string); the
/// last item carries `finish`.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token id generated (`None` on the final item).
    pub id: Option<u32>,
    /// Text that is now final.
    pub text: String,
    /// On the last item: how the request ended.
    pub finish: Option<Completion>,
}

/// The stream of a request's [`Token`]s; dropping it cancels the request.
#[derive(Debug)]
pub struct TokenStream {
    generation: Option<Generation>,
    decoder: Option<StreamDecoder>,
    stops: StopMatcher,
    prompt_tokens: usize,
    generated: usize,
    submitted: Instant,
    first_token: Option<Instant>,
}

impl TokenStream {
    pub(super) fn new(
        generation: Generation,
        decoder: StreamDecoder,
        stops: Vec<String>,
        prompt_tokens: usize,
    ) -> Self {
        TokenStream {
            generation: Some(generation),
            decoder: Some(decoder),
            stops: StopMatcher::new(stops),
            prompt_tokens,
            generated: 0,
            submitted: Instant::now(),
            first_token: None,
        }
    }

    /// The next piece; `None` after the final one (or an error).
    pub async fn next_token(&mut self) -> Option<Result<Token, ProcessError>> {
        std::future::poll_fn(|cx| self.poll_token(cx)).await
    }

    /// The whole remaining text and how the request ended (dropping this future
    /// cancels the request).
    ///
    /// Errors: the request's failure ([`ProcessError::Engine`]), or
    /// [`ProcessError::Lost`] if the stream ended without a final item.
    pub async fn collect_text(mut self) -> Result<(String, Completion), ProcessError> {
        let mut text = String::new();
        while let Some(token) = self.next_token().await {
            let token = token?;
            text.push_str(&token.text);
            if let Some(done) = token.finish {
                return Ok((text, done));
            }
        }
        Err(ProcessError::Lost)
    }

    /// Polls for the next piece (what [`next_token`](Self::next_token) awaits).
    pub fn poll_next_token(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Token, ProcessError>>> {
        self.poll_token(cx)
    }

    fn poll_token(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Token, ProcessError>>> {
        let Some(generation) = self.generation.as_mut() else { return Poll::Ready(None) };
        let event = match generation.events_poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(ev) => ev,
        };
        Poll::Ready(Some(match event {
            Some(Event::Token(id)) => {
                self.generated += 1;
                self.first_token.get_or_insert_with(Instant::now);
                let piece = self.decoder.as_mut().map(|d| d.push(id)).unwrap_or_default();
                match self.stops.push(&piece) {
                    StopOutcome::Continue(text) => Ok(Token { id: Some(id), text, finish: None }),
                    StopOutcome::Stop(text) => {
                        // Frees the slot; the engine counts the request as completed.
                        if let Some(g) = self.generation.take() {
                            g.stop();
                        }
                        let finish = Completion {
                            reason: FinishReason::Stop,
                            prompt_tokens: self.prompt_tokens,
                            completion_tokens: self.generated,
                            // The engine's own times do not come back after a
                            // cancel: measured here, queue wait inside prefill.
                            queue_time: Duration::ZERO,
                            prefill_time: self.first_token.unwrap_or(self.submitted) - self.submitted,
                            processing_time: self.submitted.elapsed(),
                        };
                        Ok(Token { id: Some(id), text, finish: Some(finish) })
                    }
                }
            }
            Some(Event::Done(done)) => {
                self.generation = None;
                let mut text = self.decoder.take().map(|d| d.finish()).unwrap_or_default();
                text = match self.stops.push(&text) {
                    StopOutcome::Continue(t) => t + &self.stops.finish(),
                    StopOutcome::Stop(t) => t,
                };
                let finish = Completion {
                    reason: done.reason,
                    prompt_tokens: done.prompt_tokens,
                    completion_tokens: done.completion_tokens,
                    queue_time: done.queue_time,
                    prefill_time: done.prefill_time,
                    processing_time: done.processing_time,
                };
                Ok(Token { id: None, text, finish: Some(finish) })
            }
            Some(Event::Failed(e)) => {
                self.generation = None;
                Err(ProcessError::Engine(e))
            }
            None => {
                self.generation = None;
                Err(ProcessError::Lost)
            }
        }))
    }
}

impl futures_core::Stream for TokenStream {
    type Item = Result<Token, ProcessError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_token(cx)
    }
}
