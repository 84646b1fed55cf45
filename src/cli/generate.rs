//! `tern generate`: one completion streamed to stdout, speeds on stderr.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use tern::inference::engine::EngineConfig;
use tern::inference::processor::{GenerateParams, ProcessorConfig};

use super::model_args::{fail, ModelArgs};
use super::sampling_args::SamplingArgs;

#[derive(Args, Debug)]
pub(crate) struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The prompt.
    #[arg(short, long)]
    prompt: String,
    /// Tokens to generate at most.
    #[arg(short = 'n', long = "n-predict", default_value_t = 64)]
    n_predict: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Stop strings (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Context size (default: the model's, at most 4096).
    #[arg(short = 'c', long)]
    ctx_size: Option<usize>,
    /// KV cache type, keys and values alike: f16 (half the memory per position) or
    /// f32 (exact). llama.cpp's --cache-type-k / --cache-type-v, as one flag.
    #[arg(long = "cache-type", default_value = "f16")]
    cache_type: tern::inference::model::KvType,
    /// Keep generating past end-of-generation tokens.
    #[arg(long)]
    ignore_eos: bool,
    /// Print one JSON line `{"prompt_ids", "generated_ids", "text"}` instead of
    /// streaming text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn generate(args: GenerateArgs) {
    let path = args.model.path().unwrap_or_else(|e| fail(e));
    let threads = args.model.threads().unwrap_or_else(|e| fail(e));
    let sampling = args.sampling.params();
    if let Err(e) = sampling.validate() {
        fail(e);
    }
    tern::runtime::block_on(async move {
        let config = ProcessorConfig {
            engine: EngineConfig {
                parallel: 1,
                ctx_size: args.ctx_size,
                max_queue: 1,
                kv_type: args.cache_type,
                ..EngineConfig::default()
            },
            threads,
            default_max_tokens: args.n_predict,
            timeout: Duration::from_secs(24 * 3600),
            lm_head: args.model.lm_head,
        };
        let processor = super::load::load(&path, config).await.unwrap_or_else(|e| fail(e));
        let prompt_ids = processor.encode_prompt(&args.prompt).unwrap_or_else(|e| fail(e));
        let params = GenerateParams {
            max_tokens: Some(args.n_predict),
            sampling,
            stop: args.stop,
            timeout: None,
            ignore_eos: args.ignore_eos,
        };
        let mut stream =
            processor.generate_stream_ids(prompt_ids.clone(), params).unwrap_or_else(|e| fail(e));
        let (mut text, mut ids) = (String::new(), Vec::new());
        let mut out = std::io::stdout().lock();
        let finish = loop {
            let Some(token) = stream.next_token().await else { fail("the engine stopped without finishing") };
            let token = token.unwrap_or_else(|e| fail(e));
            ids.extend(token.id);
            if !args.json {
                let _ = out.write_all(token.text.as_bytes());
                let _ = out.flush();
            }
            text.push_str(&token.text);
            if let Some(f) = token.finish {
                break f;
            }
        };
        if args.json {
            let line = serde_json::json!({"prompt_ids": prompt_ids, "generated_ids": ids, "text": text});
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(out);
        }
        let prefill = finish.prefill_time.as_secs_f64();
        let decode = (finish.processing_time - finish.prefill_time).as_secs_f64();
        eprintln!(
            "prefill: {:.2} tokens/s ({} tokens in {:.3} s)",
            finish.prompt_tokens as f64 / prefill.max(1e-9),
            finish.prompt_tokens,
            prefill
        );
        let decoded = finish.completion_tokens.saturating_sub(1);
        eprintln!(
            "decode: {:.2} tokens/s ({decoded} tokens in {decode:.3} s; finish: {})",
            decoded as f64 / decode.max(1e-9),
            finish.reason.as_str()
        );
    });
}
