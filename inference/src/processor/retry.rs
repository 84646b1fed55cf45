//! [`RetryPolicy`] and [`Processor::process_with_retry`]: exponential backoff with
//! jitter, retrying only errors that may pass ([`ProcessError::is_retryable`]).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

use super::{GenerateParams, ProcessError, ProcessingResult, Processor};

/// How to retry: attempt `k` (from 0) waits `min(max_delay, base_delay · 2^k)`
/// scaled by a random factor in `[0.5, 1.0)` ("equal jitter", so clients that
/// failed together do not retry together), and never less than a server's
/// `Retry-After`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Delay before the first retry (before jitter).
    pub base_delay: Duration,
    /// Cap on one delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (0-based) after `err`.
    pub fn delay(&self, attempt: u32, err: &ProcessError) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX));
        let capped = exp.min(self.max_delay);
        let jitter = 0.5 + (RandomState::new().hash_one(attempt) % 1_000_000) as f64 / 2_000_000.0;
        let d = capped.mul_f64(jitter);
        err.retry_after().map_or(d, |server| d.max(server))
    }
}

impl Processor {
    /// [`process_async`](Self::process_async), retried under `policy` while the
    /// error is retryable; returns the first success or the last error.
    pub async fn process_with_retry(
        &self,
        prompt: &str,
        params: GenerateParams,
        policy: &RetryPolicy,
    ) -> Result<ProcessingResult, ProcessError> {
        let mut attempt = 0;
        loop {
            match self.process_async(prompt, params.clone()).await {
                Ok(r) => return Ok(r),
                Err(e) if e.is_retryable() && attempt < policy.max_retries => {
                    tern_reactor::time::sleep(policy.delay(attempt, &e)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
