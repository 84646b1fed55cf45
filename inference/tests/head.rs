//! Output-head re-encoding (`HeadFormat`, `ModelWeights::requantize_head`): the new
//! head's bytes are ggml's quantization of the old head's rows, lookups keep the loaded
//! `token_embd`, and a model running the re-encoded head gives logits close to the F16
//! head's (tight for `Q8_0`, looser for `Q4_0`) and mostly the same greedy tokens.

use tern_inference::gguf::{GgufFile, GgufWriter, TensorType};
use tern_inference::model::{
    argmax, synth_bytes, HeadFormat, KvCache, Model, ModelConfig, ModelWeights, SeqStep, SynthShape,
};
use tern_kernels::formats::{float, q4_0, q8_0};
use tern_kernels::{DenseMatrix, GgmlType};
use tern_runtime::compute::ComputePool;

fn file(tied: bool) -> GgufFile {
    GgufFile::from_bytes(synth_bytes(SynthShape { tied, ..SynthShape::TINY }, 3).unwrap()).unwrap()
}

fn weights(file: &GgufFile) -> ModelWeights {
    ModelWeights::from_gguf(file, &ModelConfig::from_gguf(file).unwrap()).unwrap()
}

fn rows_f32(m: &DenseMatrix) -> Vec<f32> {
    let mut out = vec![0f32; m.rows() * m.cols()];
    for (r, row) in out.chunks_mut(m.cols()).enumerate() {
        m.dequantize_row(r, row).unwrap();
    }
    out
}

fn bytes(m: &DenseMatrix) -> Vec<u8> {
    (0..m.rows()).flat_map(|r| m.row_bytes(r).to_vec()).collect()
}

/// `file` with `output.weight` set to `head` (added when the file is tied).
fn with_head(file: &GgufFile, head: &DenseMatrix) -> GgufFile {
    let mut w = GgufWriter::new();
    for (k, v) in file.metadata().iter() {
        w.add(k, v.clone()).unwrap();
    }
    for t in file.tensor_views() {
        if t.name() != "output.weight" {
            let TensorType::Known(ty) = t.ggml_type() else { unreachable!() };
            w.add_tensor(t.name(), t.shape(), ty, t.data().unwrap().to_vec()).unwrap();
        }
    }
    let shape = [head.cols() as u64, head.rows() as u64];
    w.add_tensor("output.weight", &shape, head.ggml_type(), bytes(head)).unwrap();
    GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()
}

#[test]
fn head_format_names_parse() {
    for f in [HeadFormat::Keep, HeadFormat::F16, HeadFormat::Q8_0, HeadFormat::Q4_0] {
        assert_eq!(f.name().parse::<HeadFormat>().unwrap(), f);
        assert_eq!(f.to_string(), f.name());
    }
    assert_eq!(" Q4_0 ".parse::<HeadFormat>().unwrap(), HeadFormat::Q4_0);
    assert_eq!("q8_0".parse::<HeadFormat>().unwrap(), HeadFormat::Q8_0);
    let e = "q5".parse::<HeadFormat>().unwrap_err().to_string();
    assert!(e.contains("q5") && e.contains("q8"), "{e}");
    assert_eq!(HeadFormat::default(), HeadFormat::Keep);
}

#[test]
fn requantized_head_is_ggml_quantization_of_the_rows() {
    for tied in [false, true] {
        let f = file(tied);
        let original = weights(&f);
        let values = rows_f32(original.head());
        assert_eq!(original.head().ggml_type(), GgmlType::F16);
        for (format, ty, want) in [
            (HeadFormat::Q8_0, GgmlType::Q8_0, q8_0::quantize(&values).unwrap()),
            (HeadFormat::Q4_0, GgmlType::Q4_0, q4_0::quantize(&values).unwrap()),
        ] {
            let mut w = original.clone();
            w.requantize_head(format).unwrap();
            assert_eq!(w.head().ggml_type(), ty, "tied {tied}");
            assert_eq!((w.head().rows(), w.head().cols()), (original.head().rows(), original.head().cols()));
            assert!(bytes(w.head()) == want, "tied {tied} {format}: bytes differ from ggml quantization");
            // Lookups keep the loaded table.
            assert_eq!(w.token_embd, original.token_embd, "tied {tied} {format}");
            assert!(w.output.is_some());
            // Back to F16: the quantized values, exactly (they fit in f16).
            let mut back = w.clone();
            back.requantize_head(HeadFormat::F16).unwrap();
            assert_eq!(back.head().ggml_type(), GgmlType::F16);
            assert_eq!(bytes(back.head()), float::f32_to_f16_bytes(&rows_f32(w.head())));
        }
        // Keep, and the format the head already has, change nothing.
        for format in [HeadFormat::Keep, HeadFormat::F16] {
            let mut w = original.clone();
            w.requantize_head(format).unwrap();
            assert_eq!(w.output, original.output, "tied {tied} {format}");
            assert_eq!(w.token_embd, original.token_embd);
        }
    }
}

#[test]
fn requantize_rejects_rows_that_are_not_whole_blocks() {
    let f = file(false);
    let mut w = weights(&f);
    let values = vec![0.5f32; 4 * 40];
    w.output = Some(DenseMatrix::from_f32(4, 40, &values).unwrap());
    let e = w.requantize_head(HeadFormat::Q8_0).unwrap_err().to_string();
    assert!(e.contains("output head"), "{e}");
    w.requantize_head(HeadFormat::F16).unwrap();
}

/// The last-token logits of `prompt` on `model`.
fn logits(model: &Model, prompt: &[u32]) -> Vec<f32> {
    let mut cache = KvCache::new(model.config(), 16).unwrap();
    let mut out = vec![0f32; model.config().vocab_size];
    model.forward(prompt, 0, &mut cache, &mut out).unwrap();
    out
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

#[test]
fn quantized_head_logits_stay_close_to_f16() {
    for tied in [false, true] {
        let f = file(tied);
        let base = Model::from_gguf(&f).unwrap();
        let original = weights(&f);
        let prompts: Vec<Vec<u32>> =
            (0..40u32).map(|i| vec![i * 7 % 512, (i * 31 + 5) % 512, i * 13 % 512]).collect();
        let want: Vec<Vec<f32>> = prompts.iter().map(|p| logits(&base, p)).collect();
        for (format, max_err, min_agree) in [(HeadFormat::Q8_0, 0.01, 38), (HeadFormat::Q4_0, 0.1, 30)] {
            let mut w = original.clone();
            w.requantize_head(format).unwrap();
            let model = Model::from_gguf(&with_head(&f, w.head())).unwrap();
            assert_eq!(model.weights().head(), w.head());
            let mut worst = 0f64;
            let mut agree = 0;
            for (p, want) in prompts.iter().zip(&want) {
                let got = logits(&model, p);
                worst = worst.max(rel_err(&got, want));
                agree += usize::from(argmax(&got) == argmax(want));
            }
            eprintln!(
                "tied {tied} {format}: worst relative logit error {worst:.4}, greedy agreement {agree}/40"
            );
            assert!(worst < max_err, "tied {tied} {format}: relative logit error {worst}");
            assert!(worst > max_err / 100.0, "tied {tied} {format}: suspiciously exact ({worst})");
            assert!(agree >= min_agree, "tied {tied} {format}: greedy tokens agree on {agree} of 40");
        }
    }
}

/// Last-token logits of every prompt in one `forward_batch` step.
fn batch_logits(model: &Model, prompts: &[Vec<u32>]) -> Vec<Vec<f32>> {
    let v = model.config().vocab_size;
    let mut caches: Vec<KvCache> =
        prompts.iter().map(|_| KvCache::new(model.config(), 16).unwrap()).collect();
    let mut out = vec![vec![0f32; v]; prompts.len()];
    let mut steps: Vec<SeqStep<'_>> = prompts
        .iter()
        .zip(caches.iter_mut())
        .zip(out.iter_mut())
        .map(|((p, cache), l)| SeqStep { tokens: p, pos: 0, cache, logits: Some(l) })
        .collect();
    model.forward_batch(&mut steps).unwrap();
    drop(steps);
    out
}

/// `Q8_0` / `Q4_0` heads take `Q8_0`-block activations, quantized once per step before
/// the rows are split across the pool: a pool of 3 threads gives one thread's logits bit
/// for bit, for one sequence (GEMV) and for a batch of 11 (the 8-token group kernel and
/// a 3-token tail); and the batch gives each sequence's logits alone, bit for bit.
#[test]
fn quantized_heads_split_across_a_pool_and_batched() {
    let f = file(false);
    let prompts: Vec<Vec<u32>> =
        (0..11u32).map(|i| vec![i * 7 % 512, (i * 31 + 5) % 512, i * 13 % 512]).collect();
    for format in [HeadFormat::Q8_0, HeadFormat::Q4_0] {
        let mut w = weights(&f);
        w.requantize_head(format).unwrap();
        let g = with_head(&f, w.head());
        let one = Model::from_gguf(&g).unwrap();
        let pooled = Model::from_gguf(&g).unwrap().with_pool(ComputePool::new(3));
        let alone: Vec<Vec<f32>> = prompts.iter().map(|p| logits(&one, p)).collect();
        for (p, want) in prompts.iter().zip(&alone) {
            assert_eq!(&logits(&pooled, p), want, "{format}: pooled GEMV");
        }
        let batched = batch_logits(&one, &prompts);
        assert_eq!(batch_logits(&pooled, &prompts), batched, "{format}: pooled GEMM");
        // The body's batched products give the bits of its single ones (the ternary
        // kernels' contract), so the head sees the same hidden states, quantizes them to
        // the same codes, and its 8-token group kernel gives the GEMV's bits.
        for (i, (got, want)) in batched.iter().zip(&alone).enumerate() {
            assert_eq!(got, want, "{format}: sequence {i} batched vs alone");
        }
    }
}
