//! Prefill and decode tokens/s of the BitNet forward pass on a `tern synth` model.
//!
//! ```text
//! cargo run --release -p tern-benches --bin model_decode -- [MODEL.gguf] [--shape 2b4t] [--kv-cache]
//! ```
//!
//! Without a model path it writes `$TMPDIR/tern-synth-<shape>.gguf` first (2b4t: 1.18 GB,
//! about 2.3 GB of RAM while writing). Single sequence, on the calling thread alone and
//! then split across a compute pool of 2 threads (and of every core, where more than 2),
//! 64-token prefill then 16 greedy decode steps, best of 3, for the file's head and
//! for the head re-encoded to Q8_0 and Q4_0 (`--lm-head`). Prints the
//! bytes read per decoded token and the bandwidth that implies, beside bitnet.cpp's figures
//! for this shape as the issue quotes them (10.8 tokens/s decode, 29.5 tokens/s prefill of
//! 64 tokens, 2 threads: a claim, not measured here; no bitnet.cpp build is available).
//!
//! `--kv-cache` instead compares the KV cache types at a long position: a 512-token
//! prefill into an f32 and an f16 cache, then 16 decode steps from position 512
//! (rewinding to 512 each round; rounds alternate between the caches, best of 5), on 1
//! and 2 threads.

use std::time::Instant;

use tern_inference::model::{argmax, synth, HeadFormat, KvCache, KvType, Model, SeqStep, SynthShape};
use tern_runtime::compute::ComputePool;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut shape = "2b4t".to_string();
    let mut kv_only = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--shape" => shape = args.next().expect("--shape needs a value"),
            "--kv-cache" => kv_only = true,
            _ => path = Some(std::path::PathBuf::from(a)),
        }
    }
    let path = path.unwrap_or_else(|| {
        let p = std::env::temp_dir().join(format!("tern-synth-{shape}.gguf"));
        if !p.exists() {
            let s = SynthShape::from_name(&shape).expect("unknown --shape (tiny, 2b4t)");
            eprintln!("writing {} ...", p.display());
            synth(s, 1).expect("synth").write_file(&p).expect("write model");
        }
        p
    });
    let t = Instant::now();
    let model = Model::load(&path).expect("load model");
    let file_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("model {} ({:.2} GB), loaded in {:.2?}", path.display(), file_bytes as f64 / 1e9, t.elapsed());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = vec![1, 2];
    if cores > 2 {
        threads.push(cores);
    }
    let pools: Vec<Option<ComputePool>> =
        threads.iter().map(|&n| (n > 1).then(|| ComputePool::new(n))).collect();
    if kv_only {
        kv_table(model, &threads, &pools);
        return;
    }
    let head_bytes =
        |m: &Model| m.weights().head().rows() as f64 * m.weights().head().row_bytes(0).len() as f64;
    let body_bytes = file_bytes as f64 - head_bytes(&model);
    println!("| head | threads | prefill 64 tokens, tokens/s | / bitnet.cpp 29.5 | decode, tokens/s | / bitnet.cpp 10.8 | bytes / token | decode GB/s |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut model = model;
    for head in [HeadFormat::Keep, HeadFormat::Q8_0, HeadFormat::Q4_0] {
        model.requantize_head(head).expect("requantize head");
        let per_token = body_bytes + head_bytes(&model);
        for (n, pool) in threads.iter().zip(&pools) {
            model = match pool {
                Some(p) => model.with_pool(p.clone()),
                None => model.without_pool(),
            };
            let (p, d) = measure(&model);
            println!(
                "| {:?} | {n} | {p:.2} | {:.2} | {d:.2} | {:.2} | {:.2} GB | {:.1} |",
                model.weights().head().ggml_type(),
                p / 29.5,
                d / 10.8,
                per_token / 1e9,
                per_token * d / 1e9
            );
        }
    }
    println!("(bitnet.cpp figures: 2 threads, as the issue quotes them; not measured here)");

    // Batched decode (the engine's step): n sequences, one token each, one
    // forward_batch call; aggregate tokens/s.
    println!();
    println!("| head | threads | sequences per step | step ms | aggregate decode tokens/s | vs 1 sequence |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (n, pool) in threads.iter().zip(&pools) {
        model = match pool {
            Some(p) => model.with_pool(p.clone()),
            None => model.without_pool(),
        };
        let mut base = 0.0;
        for seqs in [1usize, 4, 16] {
            let ms = batched_step_ms(&model, seqs);
            let rate = seqs as f64 * 1e3 / ms;
            if seqs == 1 {
                base = rate;
            }
            println!(
                "| {:?} | {n} | {seqs} | {ms:.1} | {rate:.2} | {:.2}x |",
                model.weights().head().ggml_type(),
                rate / base
            );
        }
    }
}

/// Prefill and decode tokens/s at position 512 with each KV cache type: both caches
/// are prefilled, then decode rounds alternate between them (best of 5 each), so load
/// from elsewhere hits both alike.
fn kv_table(mut model: Model, threads: &[usize], pools: &[Option<ComputePool>]) {
    const AT: usize = 512;
    const KINDS: [KvType; 2] = [KvType::F32, KvType::F16];
    let prompt: Vec<u32> = (1..=AT as u32).collect();
    println!("| KV cache | bytes / position | threads | prefill {AT} tokens, tokens/s | decode at {AT}, tokens/s | decode ms / token |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (n, pool) in threads.iter().zip(pools) {
        model = match pool {
            Some(p) => model.with_pool(p.clone()),
            None => model.without_pool(),
        };
        let vocab = model.config().vocab_size;
        let mut runs: Vec<(KvCache, Vec<f32>, f64)> = KINDS
            .iter()
            .map(|&kv| {
                let mut cache = KvCache::with_type(model.config(), AT + 16, kv).expect("cache");
                let mut logits = vec![0f32; vocab];
                let t = Instant::now();
                model.forward(&prompt, 0, &mut cache, &mut logits).expect("prefill");
                (cache, logits, AT as f64 / t.elapsed().as_secs_f64())
            })
            .collect();
        let mut best = [0f64; KINDS.len()];
        for _ in 0..5 {
            for ((cache, prefill_logits, _), best) in runs.iter_mut().zip(&mut best) {
                let mut logits = prefill_logits.clone();
                let t = Instant::now();
                for i in 0..16 {
                    let tok = argmax(&logits);
                    model.forward(&[tok], AT + i, cache, &mut logits).expect("decode");
                }
                *best = best.max(16.0 / t.elapsed().as_secs_f64());
            }
        }
        for ((cache, _, prefill), best) in runs.iter().zip(best) {
            println!(
                "| {} | {} | {n} | {prefill:.2} | {best:.2} | {:.1} |",
                cache.kv_type(),
                cache.bytes_per_position(),
                1e3 / best
            );
        }
    }
}

/// Best-of-3 time of one decode step of `seqs` sequences at position 64.
fn batched_step_ms(model: &Model, seqs: usize) -> f64 {
    let prompt: Vec<u32> = (1..=64).collect();
    let mut caches: Vec<KvCache> =
        (0..seqs).map(|_| KvCache::new(model.config(), 128).expect("cache")).collect();
    let mut logits = vec![vec![0f32; model.config().vocab_size]; seqs];
    for (c, l) in caches.iter_mut().zip(logits.iter_mut()) {
        model.forward(&prompt, 0, c, l).expect("prefill");
    }
    let mut best = f64::MAX;
    for round in 0..3 {
        let tokens: Vec<[u32; 1]> = logits.iter().map(|l| [argmax(l)]).collect();
        let mut steps: Vec<SeqStep<'_>> = caches
            .iter_mut()
            .zip(logits.iter_mut())
            .zip(&tokens)
            .map(|((cache, l), t)| SeqStep { tokens: t, pos: 64 + round, cache, logits: Some(l) })
            .collect();
        let t = Instant::now();
        model.forward_batch(&mut steps).expect("step");
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    best
}

/// Best-of-3 prefill (64 tokens) and decode (16 tokens) tokens/s.
fn measure(model: &Model) -> (f64, f64) {
    let prompt: Vec<u32> = (1..=64).collect();
    let (mut best_p, mut best_d) = (0f64, 0f64);
    for _ in 0..3 {
        let mut cache = KvCache::new(model.config(), 256).expect("cache");
        let mut logits = vec![0f32; model.config().vocab_size];
        let t = Instant::now();
        model.forward(&prompt, 0, &mut cache, &mut logits).expect("prefill");
        best_p = best_p.max(64.0 / t.elapsed().as_secs_f64());
        let mut tok = argmax(&logits);
        let t = Instant::now();
        for i in 0..16 {
            model.forward(&[tok], 64 + i, &mut cache, &mut logits).expect("decode");
            tok = argmax(&logits);
        }
        best_d = best_d.max(16.0 / t.elapsed().as_secs_f64());
    }
    (best_p, best_d)
}
