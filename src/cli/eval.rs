//! `tern eval`: perplexity of a model on a text file.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use tern::inference::eval::perplexity_with;
use tern::inference::gguf::GgufFile;
use tern::inference::model::Model;
use tern::inference::tokenizer::Tokenizer;
use tern::runtime::compute::ComputePool;

use super::model_args::{fail, ModelArgs};

#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// UTF-8 text to score.
    #[arg(long)]
    text: PathBuf,
    /// Window length in tokens (default: the model's context).
    #[arg(short = 'c', long)]
    ctx_size: Option<usize>,
    /// KV cache type: f32 (exact, as the training script; the default here) or f16
    /// (what generate and serve use by default).
    #[arg(long = "cache-type", default_value = "f32")]
    cache_type: tern::inference::model::KvType,
}

pub(crate) fn eval(args: EvalArgs) {
    let path = args.model.path().unwrap_or_else(|e| fail(e));
    let threads = args.model.threads().unwrap_or_else(|e| fail(e));
    let text = std::fs::read_to_string(&args.text)
        .unwrap_or_else(|e| fail(format!("cannot read {}: {e}", args.text.display())));
    let file = GgufFile::open(&path).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
    let tokenizer = Tokenizer::from_gguf(&file).unwrap_or_else(|e| fail(e));
    let pool = threads.map_or_else(ComputePool::per_core, ComputePool::new);
    let mut model = Model::from_gguf(&file).unwrap_or_else(|e| fail(e)).with_pool(pool);
    model.requantize_head(args.model.lm_head).unwrap_or_else(|e| fail(e));
    drop(file);
    // As the training script: the whole text, no BOS.
    let ids = tokenizer.encode(&text, false).unwrap_or_else(|e| fail(e));
    let window = args.ctx_size.unwrap_or(model.config().context_length);
    let started = Instant::now();
    let p = perplexity_with(&model, &ids, window, args.cache_type).unwrap_or_else(|e| fail(e));
    println!(
        "{}: {} tokens, {} windows of {window}, {} predictions, {} KV cache: NLL {:.5}, perplexity {:.3} ({:.1} s)",
        args.text.display(),
        ids.len(),
        p.windows,
        p.predictions,
        args.cache_type,
        p.nll,
        p.perplexity(),
        started.elapsed().as_secs_f64()
    );
}
