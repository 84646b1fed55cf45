//! Loading a model for the CLI, with the time it took on stderr.

use std::path::Path;
use std::time::Instant;

use tern::inference::processor::{ProcessError, Processor, ProcessorConfig};

/// Loads the model at `path` into a [`Processor`] on the current runtime.
pub(crate) async fn load(path: &Path, config: ProcessorConfig) -> Result<Processor, ProcessError> {
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let started = Instant::now();
    eprintln!("loading {} ({:.1} MB) ...", path.display(), bytes as f64 / 1e6);
    // A bar for models that take a moment (2B4T: ~3 s); small ones load at once.
    let bar = (bytes > 64 << 20).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} blocks {elapsed}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_message("loading");
        bar
    });
    let on_progress = {
        let bar = bar.clone();
        move |done: usize, total: usize| {
            if let Some(bar) = &bar {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
        }
    };
    let processor = Processor::new_with_progress(path, config, on_progress).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
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
