//! [`Processor`]: text in, text out, on the [`Engine`]: the API of the seed
//! documents (`process_async`, `generate_stream`, `process_batch`,
//! `process_streaming_batch`, `process_with_rate_limit`, `process_with_retry`,
//! [`CircuitBreaker`], `graceful_shutdown`), with tern's engine underneath
//! instead of a mutex around the model.
//!
//! | file | one job |
//! | --- | --- |
//! | `error.rs` | [`ProcessError`] |
//! | `stream.rs` | [`TokenStream`]: decoded text, stop strings, [`Completion`] |
//! | `batch.rs` | [`BatchResult`], batches, streaming batches, rate-limited batches ([`TokenBucket`]) |
//! | `retry.rs` | [`RetryPolicy`]: exponential backoff with jitter |
//! | `breaker.rs` | [`CircuitBreaker`]: closed / open / half-open |

mod batch;
mod breaker;
mod error;
mod retry;
mod stream;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use batch::{BatchResult, TokenBucket};
pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker};
pub use error::ProcessError;
pub use retry::RetryPolicy;
pub use stream::{Completion, Token, TokenStream};

use crate::engine::{Engine, EngineConfig, FinishReason, Request, ShutdownReport};
use crate::gguf::GgufFile;
use crate::model::{HeadFormat, Model};
use crate::sampler::SamplingParams;
use crate::tokenizer::{StreamDecoder, Tokenizer};
use tern_runtime::compute::ComputePool;

/// How a [`Processor`] is built.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorConfig {
    /// Slots, queue and step sizes.
    pub engine: EngineConfig,
    /// Compute threads (default: one per core).
    pub threads: Option<usize>,
    /// `max_tokens` when a call gives none. Default 128.
    pub default_max_tokens: usize,
    /// Timeout per request, queue wait included, when a call gives none. Default
    /// 60 s.
    pub timeout: Duration,
    /// Re-encode the output head at load (`--lm-head`). Default: keep the file's.
    pub lm_head: HeadFormat,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            engine: EngineConfig::default(),
            threads: None,
            default_max_tokens: 128,
            timeout: Duration::from_secs(60),
            lm_head: HeadFormat::Keep,
        }
    }
}

/// Per-call generation settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GenerateParams {
    /// Tokens to generate at most (`None`: the processor's default).
    pub max_tokens: Option<usize>,
    /// Sampling.
    pub sampling: SamplingParams,
    /// Stop strings: the text ends before the first one generated.
    pub stop: Vec<String>,
    /// Timeout, queue wait included (`None`: the processor's).
    pub timeout: Option<Duration>,
    /// Generate past end-of-generation tokens.
    pub ignore_eos: bool,
}

/// The result of [`Processor::process_async`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessingResult {
    /// The generated text (stop string excluded).
    pub text: String,
    /// The prompt as given.
    pub prompt: String,
    /// Tokens generated.
    pub tokens_generated: usize,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Waiting for a slot.
    pub queue_time: Duration,
    /// From admission to the end.
    pub processing_time: Duration,
}

/// A model, its tokenizer and an engine serving it; cheap to clone.
#[derive(Clone, Debug)]
pub struct Processor {
    engine: Engine,
    tokenizer: Tokenizer,
    model: Arc<Model>,
    config: Arc<ProcessorConfig>,
    name: Arc<str>,
}

impl Processor {
    /// Loads the GGUF model at `model_path` (on the blocking pool: it reads the
    /// whole file), its tokenizer, and starts an engine on the current runtime.
    ///
    /// Errors: [`ProcessError::Load`] naming what is wrong with the file.
    pub async fn new(
        model_path: impl AsRef<Path>,
        config: ProcessorConfig,
    ) -> Result<Processor, ProcessError> {
        Processor::new_with_progress(model_path, config, |_, _| {}).await
    }

    /// [`Processor::new`], calling `progress(done, total)` from the loading thread
    /// as the model's blocks load (for a progress bar).
    pub async fn new_with_progress(
        model_path: impl AsRef<Path>,
        config: ProcessorConfig,
        mut progress: impl FnMut(usize, usize) + Send + 'static,
    ) -> Result<Processor, ProcessError> {
        let path = model_path.as_ref().to_path_buf();
        let lm_head = config.lm_head;
        let loaded = tern_runtime::spawn_blocking(move || -> Result<_, ProcessError> {
            let file =
                GgufFile::open(&path).map_err(|e| ProcessError::Load(format!("{}: {e}", path.display())))?;
            let mut model = Model::from_gguf_with_progress(&file, &mut progress)?;
            model.requantize_head(lm_head)?;
            let tokenizer = Tokenizer::from_gguf(&file).map_err(|e| ProcessError::Load(e.to_string()))?;
            let name = file.metadata().get_str("general.name").map(str::to_owned).unwrap_or_else(|_| {
                path.file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned())
            });
            Ok((model, tokenizer, name))
        })
        .await
        .map_err(|e| ProcessError::Load(e.to_string()))??;
        let (model, tokenizer, name) = loaded;
        Processor::from_parts(model, tokenizer, &name, config)
    }

    /// A processor for an already loaded model and tokenizer (its compute pool is
    /// replaced by one of `config.threads`; `config.lm_head` is not applied: the
    /// model is used as given).
    ///
    /// # Panics
    /// Outside a tern runtime.
    pub fn from_parts(
        model: Model,
        tokenizer: Tokenizer,
        name: &str,
        config: ProcessorConfig,
    ) -> Result<Processor, ProcessError> {
        let pool = config.threads.map_or_else(ComputePool::per_core, ComputePool::new);
        let model = Arc::new(model.with_pool(pool));
        let engine = Engine::start(model.clone(), tokenizer.eog_tokens().to_vec(), config.engine.clone())?;
        Ok(Processor { engine, tokenizer, model, config: Arc::new(config), name: name.into() })
    }

    /// The engine (metrics, shutdown).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model's name (`general.name`, or the file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration.
    pub fn config(&self) -> &ProcessorConfig {
        &self.config
    }

    /// Tokenizes `prompt` as a completion prompt: BOS if the model adds one, and
    /// special-token texts (`<|eot_id|>`) as their ids.
    pub fn encode_prompt(&self, prompt: &str) -> Result<Vec<u32>, ProcessError> {
        Ok(self.tokenizer.encode_with_special(prompt, true)?)
    }

    /// Starts generating from `prompt`; text arrives on the [`TokenStream`].
    ///
    /// Errors (at once): tokenization, and every refusal of
    /// [`Engine::submit`] (overload, a prompt past the context, bad parameters).
    pub fn generate_stream(&self, prompt: &str, params: GenerateParams) -> Result<TokenStream, ProcessError> {
        let ids = self.encode_prompt(prompt)?;
        self.generate_stream_ids(ids, params)
    }

    /// [`generate_stream`](Self::generate_stream) from token ids.
    pub fn generate_stream_ids(
        &self,
        prompt: Vec<u32>,
        params: GenerateParams,
    ) -> Result<TokenStream, ProcessError> {
        let n = prompt.len();
        let request = Request {
            prompt,
            params: params.sampling,
            max_tokens: params.max_tokens.unwrap_or(self.config.default_max_tokens),
            timeout: Some(params.timeout.unwrap_or(self.config.timeout)),
            ignore_eos: params.ignore_eos,
        };
        let generation = self.engine.submit(request)?;
        Ok(TokenStream::new(generation, StreamDecoder::new(&self.tokenizer), params.stop, n))
    }

    /// Generates the whole completion of `prompt`. The timeout covers the queue
    /// wait too: a request still queued when it passes is dropped (cancelled).
    pub async fn process_async(
        &self,
        prompt: &str,
        params: GenerateParams,
    ) -> Result<ProcessingResult, ProcessError> {
        let timeout = params.timeout.unwrap_or(self.config.timeout);
        let started = Instant::now();
        let collect = self.generate_stream(prompt, params)?.collect_text();
        let (text, done) = match tern_reactor::time::timeout(timeout, collect).await {
            Ok(res) => res?,
            Err(_) => return Err(crate::engine::EngineError::TimedOut { timeout }.into()),
        };
        Ok(ProcessingResult {
            text,
            prompt: prompt.to_owned(),
            tokens_generated: done.completion_tokens,
            prompt_tokens: done.prompt_tokens,
            finish_reason: done.reason,
            queue_time: done.queue_time,
            processing_time: if done.processing_time.is_zero() {
                started.elapsed()
            } else {
                done.processing_time
            },
        })
    }

    /// Stops admitting requests, lets in-flight and queued ones finish until
    /// `deadline` has passed, cuts the rest, and reports what happened.
    pub async fn graceful_shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.engine.shutdown(deadline).await
    }
}
