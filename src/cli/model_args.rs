//! Flags shared by `generate`, `serve` and `eval`: the model path (defaulting to
//! the model the project ships) and compute threads.

use std::path::PathBuf;

use clap::Args;

/// The model the project ships (issue: a small ternary model of our own).
pub(crate) const DEFAULT_MODEL: &str = "models/tern-tiny.gguf";

#[derive(Args, Debug, Clone)]
pub(crate) struct ModelArgs {
    /// GGUF model file (default: models/tern-tiny.gguf, the model tern ships).
    #[arg(short, long)]
    pub model: Option<PathBuf>,
    /// Compute threads (default: one per core).
    #[arg(short, long)]
    pub threads: Option<usize>,
    /// Re-encode the output head at load: keep, f16, q8 or q4 (q8 / q4 read
    /// 2x / 3.6x fewer head bytes per token than f16).
    #[arg(long, default_value = "keep")]
    pub lm_head: tern::inference::model::HeadFormat,
}

impl ModelArgs {
    /// The model path: `-m`, else the shipped model in the working directory or in
    /// the source tree this binary was built from.
    pub fn path(&self) -> Result<PathBuf, String> {
        if let Some(p) = &self.model {
            return Ok(p.clone());
        }
        let candidates =
            [PathBuf::from(DEFAULT_MODEL), PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL)];
        candidates.iter().find(|p| p.exists()).cloned().ok_or_else(|| {
            format!("no -m given and the default model {DEFAULT_MODEL} is not here; pass -m MODEL.gguf (tern synth writes one)")
        })
    }

    /// Checks `--threads`.
    pub fn threads(&self) -> Result<Option<usize>, String> {
        match self.threads {
            Some(0) => Err("--threads must be at least 1".into()),
            t => Ok(t),
        }
    }
}

/// Prints `error: {msg}` and exits with status 1.
pub(crate) fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1)
}
