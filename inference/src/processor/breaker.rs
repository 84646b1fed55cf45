//! [`CircuitBreaker`]: stops calling a failing service for a cool-down.
//!
//! Closed: calls pass; outcomes go into a window of the last `window` calls. When
//! the window holds at least `min_calls` outcomes and the failure ratio reaches
//! `failure_ratio`, the breaker opens. Open: calls fail at once with
//! [`ProcessError::CircuitOpen`] until `cool_down` has passed. Half-open: one trial
//! call passes (others are refused); its success closes the breaker with an empty
//! window, its failure opens it again. Only retryable errors count as failures
//! (a bad request says nothing about the service's health).

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{GenerateParams, ProcessError, ProcessingResult, Processor};

/// Breaker settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Outcomes remembered.
    pub window: usize,
    /// Outcomes needed before the ratio is trusted.
    pub min_calls: usize,
    /// Failure ratio in `(0, 1]` that opens the breaker.
    pub failure_ratio: f64,
    /// Time open before a trial call.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { window: 20, min_calls: 10, failure_ratio: 0.5, cool_down: Duration::from_secs(5) }
    }
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Calls are refused until the instant.
    Open {
        /// When a trial call may pass.
        until: Instant,
    },
    /// One trial call is in flight.
    HalfOpen,
}

/// A circuit breaker; share it by reference or in an `Arc`.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    outcomes: VecDeque<bool>, // true = failure
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> CircuitBreaker {
        CircuitBreaker {
            config,
            inner: Mutex::new(Inner { state: BreakerState::Closed, outcomes: VecDeque::new() }),
        }
    }

    /// The state now (an elapsed open state still reads `Open` until a call asks).
    pub fn state(&self) -> BreakerState {
        self.inner.lock().state
    }

    /// Asks to make a call at `now`: `Ok` to go ahead, or the time left open.
    pub fn try_acquire_at(&self, now: Instant) -> Result<(), Duration> {
        let mut g = self.inner.lock();
        match g.state {
            BreakerState::Closed => Ok(()),
            BreakerState::Open { until } if now >= until => {
                g.state = BreakerState::HalfOpen;
                Ok(())
            }
            BreakerState::Open { until } => Err(until - now),
            // A trial is in flight: refuse until it reports.
            BreakerState::HalfOpen => Err(self.config.cool_down.min(Duration::from_secs(1))),
        }
    }

    /// Records the outcome of a call made after `try_acquire_at` said yes.
    pub fn record_at(&self, failed: bool, now: Instant) {
        let mut g = self.inner.lock();
        match g.state {
            BreakerState::HalfOpen => {
                g.outcomes.clear();
                g.state = if failed {
                    BreakerState::Open { until: now + self.config.cool_down }
                } else {
                    BreakerState::Closed
                };
            }
            BreakerState::Closed => {
                g.outcomes.push_back(failed);
                while g.outcomes.len() > self.config.window.max(1) {
                    g.outcomes.pop_front();
                }
                let failures = g.outcomes.iter().filter(|&&f| f).count();
                if g.outcomes.len() >= self.config.min_calls.max(1)
                    && failures as f64 >= self.config.failure_ratio * g.outcomes.len() as f64
                {
                    g.state = BreakerState::Open { until: now + self.config.cool_down };
                }
            }
            BreakerState::Open { .. } => {} // a call that started before opening
        }
    }

    /// Runs `call` through the breaker.
    pub async fn call<T, F>(&self, call: F) -> Result<T, ProcessError>
    where
        F: Future<Output = Result<T, ProcessError>>,
    {
        self.try_acquire_at(Instant::now())
            .map_err(|retry_after| ProcessError::CircuitOpen { retry_after })?;
        let res = call.await;
        let failed = matches!(&res, Err(e) if e.is_retryable());
        self.record_at(failed, Instant::now());
        res
    }
}

impl Processor {
    /// [`process_async`](Self::process_async) through `breaker`.
    pub async fn process_with_breaker(
        &self,
        prompt: &str,
        params: GenerateParams,
        breaker: &CircuitBreaker,
    ) -> Result<ProcessingResult, ProcessError> {
        breaker.call(self.process_async(prompt, params)).await
    }
}
