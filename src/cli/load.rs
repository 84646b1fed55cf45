//! Loading a model for the CLI, with the time it took on stderr.

use std::path::Path;
use std::time::Instant;

use tern::inference::processor::{ProcessError, Processor, ProcessorConfig};

/// Loads the model at `path` into a [`Processor`] on the current runtime.
pub(crate) async fn load(path: &Path, config: ProcessorConfig) -> Result<Processor, ProcessError> {
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let started = Instant::now();
    eprintln!("loading {} ({:.1} MB) ...", path.display(), bytes as f64 / 1e6);
    let processor = Processor::new(path, config).await?;
    let c = processor.model().config();
    eprintln!(
        "loaded {} in {:.2} s: {} layers, dim {}, vocab {}, context {}, {} compute threads",
        processor.name(),
        started.elapsed().as_secs_f64(),
        c.n_layers,
        c.dim,
        c.vocab_size,
        c.context_length,
        processor.model().pool().map_or(1, |p| p.threads()),
    );
    Ok(processor)
}
