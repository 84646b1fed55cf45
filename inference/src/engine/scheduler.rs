//! The scheduler task: admits queued requests into free slots, builds one batched
//! step from every active sequence (one decode token each, then prefill chunks up
//! to `batch_tokens`), runs it on the compute pool, and routes the sampled tokens.
//!
//! Between steps it drops sequences whose client went away (the [`Generation`]
//! was dropped) or whose timeout passed, so a slot is freed within one step. With
//! no active sequence it waits on the queue (no CPU) until a request or a shutdown
//! arrives.
//!
//! [`Generation`]: super::Generation

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tern_runtime::compute::ComputePool;
use tern_runtime::sync::mpsc::Receiver;

use crate::model::{KvCache, Model};

use super::error::EngineError;
use super::metrics::EngineMetrics;
use super::request::{Event, FinishReason, Finished};
use super::slot::{run_step, Seq, Slot};
use super::{Queued, Shared, ShutdownReport};

pub(super) struct Scheduler {
    pub(super) model: Arc<Model>,
    pub(super) pool: ComputePool,
    pub(super) shared: Arc<Shared>,
    pub(super) queue: Receiver<Queued>,
    pub(super) slots: Vec<Slot>,
    pub(super) slot_context: usize,
    pub(super) batch_tokens: usize,
    pub(super) eog: Vec<u32>,
    /// Where prefill chunks start taking budget (rotates for fairness).
    pub(super) rotate: usize,
    /// Requests that finished while a shutdown was in progress.
    pub(super) finished_in_shutdown: usize,
}

impl Scheduler {
    pub(super) async fn run(mut self) {
        let mut senders_gone = false;
        loop {
            let now = Instant::now();
            if let Some(deadline) = self.shared.shutdown_deadline() {
                if now >= deadline {
                    let cut = self.cut_everything();
                    self.shared.report(ShutdownReport { completed: self.finished_in_shutdown, cut });
                    return;
                }
            }
            self.reap(now);
            if !senders_gone {
                while self.slots.iter().any(|s| s.seq.is_none()) {
                    match self.queue.try_recv() {
                        Ok(q) => self.admit(q),
                        Err(_) => break,
                    }
                }
            }
            if self.active() == 0 {
                let shutting_down = self.shared.shutdown_deadline().is_some();
                if shutting_down && self.queue.is_empty() || senders_gone {
                    self.shared.report(ShutdownReport { completed: self.finished_in_shutdown, cut: 0 });
                    return;
                }
                match self.wait().await {
                    Some(Some(q)) => self.admit(q),
                    Some(None) => senders_gone = true,
                    None => {} // woken for shutdown: loop to look at the deadline
                }
                continue;
            }
            self.step().await;
        }
    }

    fn active(&self) -> usize {
        self.slots.iter().filter(|s| s.seq.is_some()).count()
    }

    fn metrics(&self) -> &EngineMetrics {
        &self.shared.metrics
    }

    /// Waits for a queued request (`Some(Some)`), the queue's end (`Some(None)`:
    /// every engine handle dropped), or a shutdown wake-up (`None`).
    async fn wait(&mut self) -> Option<Option<Queued>> {
        let woken = self.shared.wake.notified();
        let mut woken = pin!(woken);
        let queue = &mut self.queue;
        poll_fn(|cx| {
            if let Poll::Ready(q) = queue.poll_recv(cx) {
                return Poll::Ready(Some(q));
            }
            woken.as_mut().poll(cx).map(|()| None)
        })
        .await
    }

    /// Puts a queued request into a free slot, or answers it at once if its client
    /// left or its time is up.
    fn admit(&mut self, q: Queued) {
        EngineMetrics::add(&self.metrics().queue_depth, u64::MAX); // wrapping -1
        let now = Instant::now();
        if q.events.is_closed() {
            self.count_client_left(&q.stopped, q.submitted, now);
            return;
        }
        if q.timeout.is_some_and(|t| now.duration_since(q.submitted) >= t) {
            EngineMetrics::add(&self.metrics().timed_out, 1);
            let _ = q
                .events
                .send(Event::Failed(EngineError::TimedOut { timeout: q.timeout.unwrap_or_default() }));
            return;
        }
        let Some(i) = self.slots.iter().position(|s| s.seq.is_none()) else {
            unreachable!("admit is only called with a free slot");
        };
        let prompt_len = q.request.prompt.len();
        let max_tokens = q.request.max_tokens.min(self.slot_context - prompt_len);
        let slot = &mut self.slots[i];
        slot.cache.clear();
        slot.seq = Some(Seq {
            events: q.events,
            tokens: q.request.prompt,
            prompt_len,
            fed: 0,
            max_tokens,
            sampler: q.sampler,
            ignore_eos: q.request.ignore_eos,
            submitted: q.submitted,
            admitted: now,
            first_token: None,
            timeout: q.timeout,
            stopped: q.stopped,
        });
        EngineMetrics::add(&self.metrics().active_slots, 1);
        if max_tokens == 0 {
            self.finish(i, FinishReason::Length);
        }
    }

    /// Frees slots whose client left or whose timeout passed.
    fn reap(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            let Some(seq) = &self.slots[i].seq else { continue };
            if seq.events.is_closed() {
                if let Some(seq) = self.free(i) {
                    self.count_client_left(&seq.stopped, seq.submitted, now);
                }
            } else if seq.deadline_passed(now) {
                let timeout = seq.timeout.unwrap_or_default();
                self.fail(i, EngineError::TimedOut { timeout });
                EngineMetrics::add(&self.metrics().timed_out, 1);
            }
        }
    }

    /// The step plan: `(slot, tokens to feed)`, ascending by slot.
    fn plan(&mut self) -> Vec<(usize, usize)> {
        let mut budget = self.batch_tokens.max(1);
        let mut plan = Vec::new();
        // Decoding sequences first: one token each, never starved by prefill.
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(seq) = &slot.seq {
                if seq.tokens.len() - seq.fed == 1 && budget > 0 {
                    plan.push((i, 1));
                    budget -= 1;
                }
            }
        }
        let n = self.slots.len();
        self.rotate = (self.rotate + 1) % n;
        for k in 0..n {
            let i = (self.rotate + k) % n;
            if let Some(seq) = &self.slots[i].seq {
                let left = seq.tokens.len() - seq.fed;
                if left > 1 && budget > 0 {
                    let take = left.min(budget);
                    plan.push((i, take));
                    budget -= take;
                }
            }
        }
        plan.sort_unstable();
        plan
    }

    async fn step(&mut self) {
        let plan = self.plan();
        let prefilled: usize = plan
            .iter()
            .filter(|&&(i, _)| self.slots[i].seq.as_ref().is_some_and(|s| s.fed < s.prompt_len))
            .map(|&(_, n)| n)
            .sum();
        let model = self.model.clone();
        let mut slots = std::mem::take(&mut self.slots);
        let started = Instant::now();
        let job = self.pool.spawn(move || {
            let res = run_step(&model, &mut slots, &plan);
            (slots, res)
        });
        let outcome = job.await;
        EngineMetrics::add(&self.metrics().steps, 1);
        EngineMetrics::add(&self.metrics().step_nanos, started.elapsed().as_nanos() as u64);
        EngineMetrics::add(&self.metrics().prompt_tokens, prefilled as u64);
        let sampled = match outcome {
            Ok((slots, Ok(sampled))) => {
                self.slots = slots;
                sampled
            }
            Ok((slots, Err(e))) => {
                self.slots = slots;
                self.fail_all(EngineError::Model(e.to_string()));
                return;
            }
            Err(join) => {
                // The step panicked and took the slots with it: fail their
                // sequences (their senders were dropped with them) and rebuild.
                let msg = format!("engine step failed: {join}");
                self.slots = self.fresh_slots();
                EngineMetrics::set(&self.metrics().active_slots, 0);
                EngineMetrics::add(&self.metrics().failed, 1);
                tracing_free_log(&msg);
                return;
            }
        };
        let now = Instant::now();
        for (i, token) in sampled {
            self.deliver(i, token, now);
        }
    }

    fn fresh_slots(&self) -> Vec<Slot> {
        let n = self.shared.metrics.slots.load(std::sync::atomic::Ordering::Relaxed) as usize;
        (0..n)
            .map(|_| Slot {
                cache: KvCache::with_type(self.model.config(), self.slot_context, self.shared.kv_type)
                    .expect("slot size was checked at start"),
                logits: vec![0.0; self.model.config().vocab_size],
                seq: None,
            })
            .collect()
    }

    /// Handles one sampled token of the sequence in slot `i`.
    fn deliver(&mut self, i: usize, token: u32, now: Instant) {
        let eog = self.eog.contains(&token);
        let Some(seq) = self.slots[i].seq.as_mut() else { return };
        if seq.first_token.is_none() {
            seq.first_token = Some(now);
            self.shared.metrics.observe_ttft(now.duration_since(seq.submitted));
        }
        if eog && !seq.ignore_eos {
            self.finish(i, FinishReason::Stop);
            return;
        }
        seq.tokens.push(token);
        EngineMetrics::add(&self.shared.metrics.generated_tokens, 1);
        if seq.events.send(Event::Token(token)).is_err() {
            if let Some(seq) = self.free(i) {
                self.count_client_left(&seq.stopped, seq.submitted, now);
            }
            return;
        }
        let seq = self.slots[i].seq.as_ref().expect("still active");
        if seq.generated() >= seq.max_tokens {
            self.finish(i, FinishReason::Length);
        }
    }

    fn finish(&mut self, i: usize, reason: FinishReason) {
        let Some(seq) = self.free(i) else { return };
        let now = Instant::now();
        let processing = now.duration_since(seq.admitted);
        let done = Finished {
            reason,
            prompt_tokens: seq.prompt_len,
            completion_tokens: seq.generated(),
            queue_time: seq.admitted.duration_since(seq.submitted),
            prefill_time: seq.first_token.unwrap_or(now).duration_since(seq.admitted),
            processing_time: processing,
        };
        let _ = seq.events.send(Event::Done(done));
        EngineMetrics::add(&self.metrics().completed, 1);
        self.shared.record_request_time(now.duration_since(seq.submitted));
        if self.shared.shutdown_deadline().is_some() {
            self.finished_in_shutdown += 1;
        }
    }

    fn fail(&mut self, i: usize, err: EngineError) {
        if let Some(seq) = self.free(i) {
            let _ = seq.events.send(Event::Failed(err));
        }
    }

    fn fail_all(&mut self, err: EngineError) {
        for i in 0..self.slots.len() {
            if self.slots[i].seq.is_some() {
                self.fail(i, err.clone());
                EngineMetrics::add(&self.metrics().failed, 1);
            }
        }
    }

    /// At a shutdown deadline: fails every active and queued request with `Cut`;
    /// returns how many.
    fn cut_everything(&mut self) -> usize {
        let mut cut = self.active();
        self.fail_all(EngineError::Cut);
        self.queue.close();
        while let Ok(q) = self.queue.try_recv() {
            EngineMetrics::add(&self.metrics().queue_depth, u64::MAX);
            EngineMetrics::add(&self.metrics().failed, 1);
            let _ = q.events.send(Event::Failed(EngineError::Cut));
            cut += 1;
        }
        cut
    }

    /// Counts a request whose `Generation` is gone: completed if the client ended
    /// it with [`Generation::stop`](super::Generation::stop), cancelled otherwise.
    fn count_client_left(&self, stopped: &AtomicBool, submitted: Instant, now: Instant) {
        if stopped.load(Ordering::Acquire) {
            EngineMetrics::add(&self.metrics().completed, 1);
            self.shared.record_request_time(now.duration_since(submitted));
        } else {
            EngineMetrics::add(&self.metrics().cancelled, 1);
        }
    }

    fn free(&mut self, i: usize) -> Option<Seq> {
        let seq = self.slots[i].seq.take()?;
        EngineMetrics::add(&self.metrics().active_slots, u64::MAX);
        Some(seq)
    }
}

/// Reports a failure no request can carry (its sender is gone) on stderr.
fn tracing_free_log(msg: &str) {
    eprintln!("tern engine: {msg}");
}

/// How long a retry should wait given the mean request time, the queue and slots.
pub(super) fn retry_after(mean: Duration, queued: u64, slots: usize) -> Duration {
    let waves = queued as f64 / slots.max(1) as f64 + 1.0;
    let secs = (mean.as_secs_f64() * waves).ceil().clamp(1.0, 60.0);
    Duration::from_secs(secs as u64)
}
