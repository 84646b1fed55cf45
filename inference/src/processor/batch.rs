//! Many prompts at once: [`Processor::process_batch`] (results in input order),
//! [`Processor::process_streaming_batch`] (results as they complete), and
//! [`Processor::process_with_rate_limit`] (starts paced by a [`TokenBucket`]).
//!
//! Each prompt is a runtime task; at most `concurrency` of them are in the engine
//! at once (a semaphore, so a batch never overloads its own queue), the rest wait
//! for a permit without using CPU.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tern_runtime::sync::mpsc;
use tern_runtime::sync::Semaphore;

use super::{GenerateParams, ProcessError, ProcessingResult, Processor};

/// The outcome of a batch.
#[derive(Debug)]
pub struct BatchResult {
    /// One result per prompt, in input order.
    pub results: Vec<Result<ProcessingResult, ProcessError>>,
    /// Wall time of the whole batch.
    pub total_time: Duration,
    /// Prompts that succeeded.
    pub successful_count: usize,
    /// Prompts that failed.
    pub failed_count: usize,
    /// Mean `processing_time` of the successes (zero if none).
    pub average_processing_time: Duration,
}

impl BatchResult {
    fn from_results(
        results: Vec<Result<ProcessingResult, ProcessError>>,
        total_time: Duration,
    ) -> BatchResult {
        let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        let sum: Duration = ok.iter().map(|r| r.processing_time).sum();
        BatchResult {
            successful_count: ok.len(),
            failed_count: results.len() - ok.len(),
            average_processing_time: sum.checked_div(ok.len() as u32).unwrap_or_default(),
            results,
            total_time,
        }
    }
}

/// A token bucket on the runtime's timer: `rate` tokens per second, holding at
/// most `burst`; [`acquire`](TokenBucket::acquire) waits (sleeps, no spinning)
/// until a token is there.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket.
    ///
    /// # Panics
    /// If `rate` is not positive and finite or `burst` is zero.
    pub fn new(rate: f64, burst: u32) -> TokenBucket {
        assert!(rate > 0.0 && rate.is_finite(), "token bucket rate must be positive");
        assert!(burst > 0, "token bucket burst must be at least 1");
        TokenBucket { rate, burst: burst as f64, state: Mutex::new((burst as f64, Instant::now())) }
    }

    /// Takes one token, waiting for it if the bucket is empty.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut st = self.state.lock();
                let now = Instant::now();
                let tokens = (st.0 + now.duration_since(st.1).as_secs_f64() * self.rate).min(self.burst);
                *st = (tokens, now);
                if tokens >= 1.0 {
                    st.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - tokens) / self.rate)
            };
            tern_reactor::time::sleep(wait).await;
        }
    }
}

/// Results of a streaming batch as they complete: `(input index, result)`.
#[derive(Debug)]
pub struct BatchStream {
    rx: mpsc::Receiver<(usize, Result<ProcessingResult, ProcessError>)>,
}

impl BatchStream {
    /// The next finished prompt; `None` when all are done.
    pub async fn next_result(&mut self) -> Option<(usize, Result<ProcessingResult, ProcessError>)> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for BatchStream {
    type Item = (usize, Result<ProcessingResult, ProcessError>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Processor {
    /// How many prompts of a batch run at once: the engine's slots.
    fn batch_concurrency(&self) -> usize {
        self.config.engine.parallel.max(1)
    }

    /// Runs every prompt (at most `parallel` at once) and returns all results in
    /// input order with counts and times.
    pub async fn process_batch(&self, prompts: Vec<String>, params: GenerateParams) -> BatchResult {
        self.run_batch(prompts, params, None).await
    }

    /// Like [`process_batch`](Self::process_batch), but starts at most `per_second`
    /// prompts per second (a [`TokenBucket`] with a burst of 1).
    ///
    /// # Panics
    /// If `per_second` is not positive and finite.
    pub async fn process_with_rate_limit(
        &self,
        prompts: Vec<String>,
        per_second: f64,
        params: GenerateParams,
    ) -> BatchResult {
        self.run_batch(prompts, params, Some(Arc::new(TokenBucket::new(per_second, 1)))).await
    }

    async fn run_batch(
        &self,
        prompts: Vec<String>,
        params: GenerateParams,
        bucket: Option<Arc<TokenBucket>>,
    ) -> BatchResult {
        let started = Instant::now();
        let n = prompts.len();
        let mut stream = self.spawn_batch(prompts, params, bucket);
        let mut results: Vec<Option<Result<ProcessingResult, ProcessError>>> = (0..n).map(|_| None).collect();
        while let Some((i, r)) = stream.next_result().await {
            results[i] = Some(r);
        }
        let results = results.into_iter().map(|r| r.unwrap_or(Err(ProcessError::Lost))).collect();
        BatchResult::from_results(results, started.elapsed())
    }

    /// Runs every prompt (at most `parallel` at once) and yields each result as it
    /// completes, tagged with its input index. Dropping the stream stops the
    /// prompts not yet started; running ones finish.
    pub fn process_streaming_batch(&self, prompts: Vec<String>, params: GenerateParams) -> BatchStream {
        self.spawn_batch(prompts, params, None)
    }

    fn spawn_batch(
        &self,
        prompts: Vec<String>,
        params: GenerateParams,
        bucket: Option<Arc<TokenBucket>>,
    ) -> BatchStream {
        let concurrency = self.batch_concurrency();
        let (tx, rx) = mpsc::channel(concurrency);
        let permits = Arc::new(Semaphore::new(concurrency));
        for (i, prompt) in prompts.into_iter().enumerate() {
            let (this, params, tx, permits, bucket) =
                (self.clone(), params.clone(), tx.clone(), permits.clone(), bucket.clone());
            drop(tern_runtime::spawn(async move {
                let Ok(_permit) = permits.acquire().await else { return };
                if tx.is_closed() {
                    return;
                }
                if let Some(bucket) = bucket {
                    bucket.acquire().await;
                }
                let res = this.process_async(&prompt, params).await;
                let _ = tx.send((i, res)).await;
            }));
        }
        BatchStream { rx }
    }
}
