//! The shipped model `models/tern-tiny.gguf` (issue 8, trained by `tools/train/train.py`):
//! tern loads it, greedy generation runs with finite logits, and tern's next-token NLL on
//! the first 200 tokens of `models/heldout.txt` (ids from `models/heldout.ids.json`,
//! tokenized by the training script's BPE, no BOS) matches the training script's
//! quantized model within 2 %.

mod common;

use std::path::PathBuf;

use common::{parse, Json, Read};
use tern_inference::eval::nll;
use tern_inference::model::Model;

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn load() -> Model {
    Model::load(models_dir().join("tern-tiny.gguf")).expect("models/tern-tiny.gguf loads")
}

fn heldout() -> Json {
    parse(&std::fs::read_to_string(models_dir().join("heldout.ids.json")).unwrap())
}

#[test]
fn loads_and_generates_greedily() {
    let model = load();
    let c = model.config();
    assert_eq!((c.n_layers, c.dim, c.n_heads, c.n_kv_heads), (6, 256, 4, 2));
    let ids = heldout()["ids"].ids();
    for prompt in [&ids[..1], &ids[..8], &ids[100..120]] {
        let mut cache = model.new_cache().unwrap();
        let mut logits = vec![0f32; c.vocab_size];
        model.forward(prompt, 0, &mut cache, &mut logits).unwrap();
        assert!(logits.iter().all(|v| v.is_finite()), "non-finite logits after {prompt:?}");
        let out = model.generate(prompt, 16).unwrap();
        assert_eq!(out.len(), 16);
        assert!(out.iter().all(|&t| (t as usize) < c.vocab_size));
        assert_eq!(
            out[0],
            tern_inference::model::argmax(&logits),
            "generate starts from the prefill's argmax"
        );
    }
}

#[test]
fn heldout_nll_matches_training_script() {
    let model = load();
    let h = heldout();
    let ids = h["ids"].ids();
    let first = &h["first_200"];
    let n = first["n_tokens"].usize();
    let want = first["nll"].f64();
    let mut cache = model.new_cache().unwrap();
    let mut logits = vec![0f32; model.config().vocab_size];
    let mut total = 0f64;
    for t in 0..n - 1 {
        model.forward(&ids[t..t + 1], t, &mut cache, &mut logits).unwrap();
        assert!(logits.iter().all(|v| v.is_finite()), "non-finite logits at position {t}");
        total += nll(&logits, ids[t + 1]);
    }
    let got = total / (n - 1) as f64;
    let rel = (got - want).abs() / want;
    eprintln!("held-out NLL over the first {n} tokens: tern {got:.5}, python {want:.5} (rel diff {rel:.2e})");
    assert!(rel < 0.02, "tern NLL {got} vs python {want}: {rel:.3e} relative");
}

// The whole held-out perplexity is checked through `tern eval` in tests/cli_model.rs.
