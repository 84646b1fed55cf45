//! [`EngineError`]: why a request was refused or ended without finishing.

use std::fmt;
use std::time::Duration;

/// A request the engine refused, or one that ended early.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EngineError {
    /// Every slot is busy and the wait queue (`max_queue`) is full; try again after
    /// `retry_after` (an estimate from recent request times). HTTP: 503 + `Retry-After`.
    Overloaded {
        /// Suggested wait before retrying (whole seconds, at least 1).
        retry_after: Duration,
    },
    /// The engine is shutting down or gone and admits nothing.
    ShuttingDown,
    /// The request is unusable (empty prompt, bad sampling parameters, a token
    /// outside the vocabulary). HTTP: 400.
    BadRequest(String),
    /// The prompt does not fit in a slot's context. HTTP: 413.
    PromptTooLong {
        /// Prompt tokens.
        prompt_tokens: usize,
        /// Positions one slot holds.
        slot_context: usize,
    },
    /// The request's timeout passed before it finished.
    TimedOut {
        /// The timeout it was given.
        timeout: Duration,
    },
    /// A graceful shutdown reached its deadline before the request finished.
    Cut,
    /// The forward pass failed (not expected after admission's checks).
    Model(String),
}

impl EngineError {
    /// Whether retrying the same request later may succeed (overload, shutdown of
    /// one server, a timeout under load), as opposed to a request that is wrong.
    pub fn is_retryable(&self) -> bool {
        matches!(self, EngineError::Overloaded { .. } | EngineError::TimedOut { .. } | EngineError::Cut)
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Overloaded { retry_after } => {
                write!(
                    f,
                    "server overloaded: every slot and the wait queue are full; retry after {} s",
                    retry_after.as_secs()
                )
            }
            EngineError::ShuttingDown => f.write_str("server is shutting down"),
            EngineError::BadRequest(why) => write!(f, "bad request: {why}"),
            EngineError::PromptTooLong { prompt_tokens, slot_context } => {
                write!(f, "the prompt has {prompt_tokens} tokens; a slot's context holds {slot_context}")
            }
            EngineError::TimedOut { timeout } => write!(f, "request timed out after {timeout:?}"),
            EngineError::Cut => f.write_str("request cut by a graceful shutdown's deadline"),
            EngineError::Model(why) => write!(f, "model error: {why}"),
        }
    }
}

impl std::error::Error for EngineError {}
