//! `tern synth`: a random-weight BitNet model in real I2_S GGUF.

pub(crate) fn synth(shape: &str, output: &std::path::Path, seed: u64) {
    use tern::inference::model::{synth, SynthShape};
    let Some(shape) = SynthShape::from_name(shape) else {
        eprintln!("error: unknown --shape {shape:?} (expected tiny or 2b4t)");
        std::process::exit(2);
    };
    let written = synth(shape, seed)
        .map_err(|e| e.to_string())
        .and_then(|w| w.write_file(output).map_err(|e| e.to_string()));
    match written {
        Ok(()) => eprintln!("wrote {}", output.display()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
