//! The engine: one model, `parallel` KV cache slots, continuous batching.
//!
//! | file | one job |
//! | --- | --- |
//! | `config.rs` | [`EngineConfig`] (`--parallel`, `--ctx-size`, `--max-queue`, `--batch-size`, `--cache-type`) |
//! | `request.rs` | [`Request`] in, [`Event`]s out on a [`Generation`] stream |
//! | `error.rs` | [`EngineError`] (overload with a retry hint, timeouts, shutdown) |
//! | `metrics.rs` | [`EngineMetrics`] and their Prometheus text |
//! | `slot.rs` | a slot's cache and sequence; one batched step + sampling |
//! | `scheduler.rs` | the scheduler task: admission, step plans, routing, reaping |
//!
//! A request is submitted as token ids; [`Engine::submit`] either queues it (the
//! queue is bounded: past `max_queue` it fails at once with
//! [`EngineError::Overloaded`]) or refuses it. The scheduler task, a runtime task,
//! takes queued requests into free slots and runs steps: every active sequence
//! contributes one decode token, and sequences still prefilling contribute chunks
//! up to `batch_tokens`, all in one [`Model::forward_batch`] call on the compute
//! pool (so each weight matrix is read once per step however many sequences
//! run). The sampled tokens go to each request's [`Generation`]; dropping it
//! cancels the request within one step.
//!
//! ```
//! use std::sync::Arc;
//! use tern_inference::engine::{Engine, EngineConfig, Event, Request};
//! use tern_inference::gguf::GgufFile;
//! use tern_inference::model::{synth_bytes, Model, SynthShape};
//! use tern_inference::sampler::SamplingParams;
//!
//! let file = GgufFile::from_bytes(synth_bytes(SynthShape::TINY, 1)?)?;
//! let model = Arc::new(Model::from_gguf(&file)?);
//! tern_runtime::block_on(async move {
//!     let engine = Engine::start(model, Vec::new(), EngineConfig::default())?;
//!     let mut req = Request::new(vec![1, 2, 3], 4);
//!     req.params = SamplingParams::greedy();
//!     let mut gen = engine.submit(req)?;
//!     let mut tokens = Vec::new();
//!     while let Some(ev) = gen.next_event().await {
//!         match ev {
//!             Event::Token(t) => tokens.push(t),
//!             Event::Done(done) => assert_eq!(done.completion_tokens, 4),
//!             Event::Failed(e) => return Err(e.into()),
//!         }
//!     }
//!     assert_eq!(tokens.len(), 4);
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod error;
mod metrics;
mod request;
mod scheduler;
mod slot;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tern_runtime::compute::ComputePool;
use tern_runtime::sync::mpsc::error::TrySendError;
use tern_runtime::sync::mpsc::{self, UnboundedSender};
use tern_runtime::sync::{oneshot, Notify};

pub use config::EngineConfig;
pub use error::EngineError;
pub use metrics::{EngineMetrics, TTFT_BUCKETS};
pub use request::{Event, FinishReason, Finished, Generation, Request};

use crate::model::{KvCache, KvType, Model};
use crate::sampler::Sampler;
use scheduler::Scheduler;
use slot::Slot;

/// A handle to a running engine; clones share it. When every handle is dropped the
/// scheduler finishes the sequences it has and exits.
#[derive(Clone)]
pub struct Engine {
    submit: Arc<Submitter>,
    shared: Arc<Shared>,
}

/// The queue's sending side, held only by [`Engine`] handles.
struct Submitter {
    queue: mpsc::Sender<Queued>,
}

/// State the scheduler and the handles share.
struct Shared {
    metrics: EngineMetrics,
    wake: Notify,
    closing: AtomicBool,
    shutdown: Mutex<Option<(Instant, Option<oneshot::Sender<ShutdownReport>>)>>,
    /// Mean submit-to-finish time of recent requests (EWMA), nanoseconds.
    mean_request_nanos: AtomicU64,
    vocab_size: usize,
    slot_context: usize,
    kv_type: KvType,
    default_timeout: Option<Duration>,
}

impl Shared {
    fn shutdown_deadline(&self) -> Option<Instant> {
        self.shutdown.lock().as_ref().map(|(d, _)| *d)
    }

    fn report(&self, report: ShutdownReport) {
        if let Some((_, reply)) = self.shutdown.lock().as_mut() {
            if let Some(reply) = reply.take() {
                let _ = reply.send(report);
            }
        }
    }

    fn record_request_time(&self, d: Duration) {
        let new = d.as_nanos().min(u64::MAX as u128) as u64;
        let old = self.mean_request_nanos.load(Ordering::Relaxed);
        let mean = if old == 0 { new } else { old - old / 8 + new / 8 };
        self.mean_request_nanos.store(mean, Ordering::Relaxed);
    }
}

/// A request waiting in the queue.
struct Queued {
    request: Request,
    sampler: Sampler,
    events: UnboundedSender<Event>,
    submitted: Instant,
    timeout: Option<Duration>,
    stopped: Arc<AtomicBool>,
}

/// What a graceful shutdown did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Requests that finished after the shutdown began.
    pub completed: usize,
    /// Requests still running or queued at the deadline, ended with
    /// [`EngineError::Cut`].
    pub cut: usize,
}

impl Engine {
    /// Starts an engine for `model` on the current runtime (its scheduler is a
    /// runtime task; steps run on the model's [`ComputePool`], or a one-thread pool
    /// if it has none). `eog` lists the end-of-generation token ids.
    ///
    /// Errors: [`EngineError::BadRequest`] for a zero `max_queue` or a slot context
    /// whose KV cache cannot be allocated.
    ///
    /// # Panics
    /// Outside a tern runtime.
    pub fn start(model: Arc<Model>, eog: Vec<u32>, config: EngineConfig) -> Result<Engine, EngineError> {
        let c = model.config();
        let parallel = config.parallel.max(1);
        let slot_context = config.slot_context(c.context_length);
        if config.max_queue == 0 {
            return Err(EngineError::BadRequest("max_queue must be at least 1".into()));
        }
        let slots = (0..parallel)
            .map(|_| {
                Ok(Slot {
                    cache: KvCache::with_type(c, slot_context, config.kv_type)
                        .map_err(|e| EngineError::BadRequest(e.to_string()))?,
                    logits: vec![0.0; c.vocab_size],
                    seq: None,
                })
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        let (tx, rx) = mpsc::channel(config.max_queue);
        let shared = Arc::new(Shared {
            metrics: EngineMetrics::default(),
            wake: Notify::new(),
            closing: AtomicBool::new(false),
            shutdown: Mutex::new(None),
            mean_request_nanos: AtomicU64::new(0),
            vocab_size: c.vocab_size,
            slot_context,
            kv_type: config.kv_type,
            default_timeout: config.default_timeout,
        });
        EngineMetrics::set(&shared.metrics.slots, parallel as u64);
        let scheduler = Scheduler {
            pool: model.pool().cloned().unwrap_or_else(|| ComputePool::new(1)),
            model,
            shared: shared.clone(),
            queue: rx,
            slots,
            slot_context,
            batch_tokens: config.batch_tokens,
            eog,
            rotate: 0,
            finished_in_shutdown: 0,
        };
        drop(tern_runtime::spawn(scheduler.run()));
        Ok(Engine { submit: Arc::new(Submitter { queue: tx }), shared })
    }

    /// Queues `request`; its tokens arrive on the returned [`Generation`].
    ///
    /// Errors, at once and without queueing: [`EngineError::BadRequest`] (empty
    /// prompt, a token outside the vocabulary, invalid sampling parameters),
    /// [`EngineError::PromptTooLong`] (the prompt does not leave room for one
    /// token in a slot), [`EngineError::Overloaded`] (the queue is full),
    /// [`EngineError::ShuttingDown`].
    pub fn submit(&self, request: Request) -> Result<Generation, EngineError> {
        let s = &self.shared;
        if s.closing.load(Ordering::Acquire) {
            return Err(EngineError::ShuttingDown);
        }
        if request.prompt.is_empty() {
            return Err(EngineError::BadRequest("the prompt has no tokens".into()));
        }
        if let Some(&t) = request.prompt.iter().find(|&&t| t as usize >= s.vocab_size) {
            return Err(EngineError::BadRequest(format!(
                "token {t} is outside the vocabulary of {}",
                s.vocab_size
            )));
        }
        if request.prompt.len() >= s.slot_context {
            return Err(EngineError::PromptTooLong {
                prompt_tokens: request.prompt.len(),
                slot_context: s.slot_context,
            });
        }
        let sampler =
            Sampler::new(request.params.clone()).map_err(|e| EngineError::BadRequest(e.to_string()))?;
        let (events, rx) = mpsc::unbounded_channel();
        let timeout = request.timeout.or(s.default_timeout);
        let stopped = Arc::new(AtomicBool::new(false));
        let queued =
            Queued { request, sampler, events, submitted: Instant::now(), timeout, stopped: stopped.clone() };
        // Count it before the scheduler can take it (it decrements on admission).
        EngineMetrics::add(&s.metrics.queue_depth, 1);
        match self.submit.queue.try_send(queued) {
            Ok(()) => {
                EngineMetrics::add(&s.metrics.submitted, 1);
                Ok(Generation { events: rx, stopped })
            }
            Err(e) => {
                EngineMetrics::add(&s.metrics.queue_depth, u64::MAX);
                match e {
                    TrySendError::Full(_) => {
                        EngineMetrics::add(&s.metrics.rejected, 1);
                        let mean = Duration::from_nanos(s.mean_request_nanos.load(Ordering::Relaxed));
                        let queued = s.metrics.queue_depth.load(Ordering::Relaxed);
                        let slots = s.metrics.slots.load(Ordering::Relaxed) as usize;
                        Err(EngineError::Overloaded {
                            retry_after: scheduler::retry_after(mean, queued, slots),
                        })
                    }
                    TrySendError::Closed(_) => Err(EngineError::ShuttingDown),
                }
            }
        }
    }

    /// The engine's counters and gauges.
    pub fn metrics(&self) -> &EngineMetrics {
        &self.shared.metrics
    }

    /// Positions one slot holds.
    pub fn slot_context(&self) -> usize {
        self.shared.slot_context
    }

    /// How the slots' KV caches store keys and values ([`EngineConfig::kv_type`]).
    pub fn kv_type(&self) -> KvType {
        self.shared.kv_type
    }

    /// Whether a shutdown has begun (new requests are refused).
    pub fn is_shutting_down(&self) -> bool {
        self.shared.closing.load(Ordering::Acquire)
    }

    /// Graceful shutdown: refuses new requests at once (on every handle), lets
    /// running and queued requests finish until `grace` has passed, then ends the
    /// rest with [`EngineError::Cut`]; returns what happened. The first call drives
    /// the shutdown; a later call returns a default report at once.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        if self.shared.closing.swap(true, Ordering::AcqRel) {
            return ShutdownReport::default();
        }
        let (tx, rx) = oneshot::channel();
        *self.shared.shutdown.lock() = Some((Instant::now() + grace, Some(tx)));
        self.shared.wake.notify_one();
        // The scheduler checks the deadline between steps; make sure it wakes at the
        // deadline even when a step is long or it is waiting on the queue.
        let shared = self.shared.clone();
        drop(tern_runtime::spawn(async move {
            tern_reactor::time::sleep(grace).await;
            shared.wake.notify_one();
        }));
        rx.await.unwrap_or_default()
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("slot_context", &self.shared.slot_context)
            .field("kv_type", &self.shared.kv_type)
            .field("closing", &self.is_shutting_down())
            .finish_non_exhaustive()
    }
}
