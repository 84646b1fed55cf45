//! [`ProcessError`]: what a [`Processor`](super::Processor) call can fail with.

use std::fmt;
use std::time::Duration;

use crate::engine::EngineError;
use crate::model::ModelError;
use crate::tokenizer::TokenizerError;

/// A failed load or request.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessError {
    /// Loading the model or its tokenizer failed.
    Load(String),
    /// The engine refused or ended the request.
    Engine(EngineError),
    /// The prompt could not be tokenized.
    Tokenizer(TokenizerError),
    /// A [`CircuitBreaker`](super::CircuitBreaker) is open; calls resume after
    /// `retry_after`.
    CircuitOpen {
        /// Time left in the cool-down.
        retry_after: Duration,
    },
    /// The engine's stream ended without a final event (the engine step failed
    /// irrecoverably; the reason is on stderr).
    Lost,
}

impl ProcessError {
    /// Whether the same call may succeed later: overload, timeouts, shutdown cuts,
    /// an open circuit. Bad requests are not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProcessError::Engine(e) => e.is_retryable(),
            ProcessError::CircuitOpen { .. } | ProcessError::Lost => true,
            _ => false,
        }
    }

    /// A server-side suggestion of when to retry, if there is one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProcessError::Engine(EngineError::Overloaded { retry_after }) => Some(*retry_after),
            ProcessError::CircuitOpen { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::Load(why) => write!(f, "cannot load the model: {why}"),
            ProcessError::Engine(e) => e.fmt(f),
            ProcessError::Tokenizer(e) => write!(f, "cannot tokenize the prompt: {e}"),
            ProcessError::CircuitOpen { retry_after } => {
                write!(f, "circuit breaker open; retry after {retry_after:?}")
            }
            ProcessError::Lost => f.write_str("the engine dropped the request"),
        }
    }
}

impl std::error::Error for ProcessError {}

impl From<EngineError> for ProcessError {
    fn from(e: EngineError) -> Self {
        ProcessError::Engine(e)
    }
}

impl From<TokenizerError> for ProcessError {
    fn from(e: TokenizerError) -> Self {
        ProcessError::Tokenizer(e)
    }
}

impl From<ModelError> for ProcessError {
    fn from(e: ModelError) -> Self {
        ProcessError::Load(e.to_string())
    }
}
