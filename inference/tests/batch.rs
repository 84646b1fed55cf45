//! Batched steps over several sequences, and the compute pool: both must give the
//! results of running each sequence alone on one thread.

use tern_inference::gguf::GgufFile;
use tern_inference::model::{synth_bytes, KvCache, KvType, Model, SeqStep, SynthShape};
use tern_runtime::compute::ComputePool;

/// Big enough that every product and the attention are split across the pool.
const SPLIT: SynthShape = SynthShape {
    n_layers: 2,
    dim: 256,
    n_heads: 4,
    n_kv_heads: 2,
    ffn_dim: 512,
    vocab_size: 1024,
    context_length: 96,
    rope_base: 10000,
    tied: true,
};

fn model(shape: SynthShape, seed: u64) -> Model {
    Model::from_gguf(&GgufFile::from_bytes(synth_bytes(shape, seed).unwrap()).unwrap()).unwrap()
}

fn prompt(len: usize, salt: u32, vocab: usize) -> Vec<u32> {
    (0..len as u32).map(|i| (i * 7919 + salt * 104_729) % vocab as u32).collect()
}

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// Logits of each sequence run alone, with the default KV cache type.
fn alone(model: &Model, prompts: &[Vec<u32>]) -> Vec<Vec<f32>> {
    alone_with(model, prompts, KvType::default())
}

/// Logits of each sequence run alone, with a KV cache of `kv`.
fn alone_with(model: &Model, prompts: &[Vec<u32>], kv: KvType) -> Vec<Vec<f32>> {
    prompts
        .iter()
        .map(|p| {
            let mut cache = KvCache::with_type(model.config(), model.config().context_length, kv).unwrap();
            let mut logits = vec![0f32; model.config().vocab_size];
            model.forward(p, 0, &mut cache, &mut logits).unwrap();
            logits
        })
        .collect()
}

#[test]
fn batched_prefill_of_several_sequences_equals_each_alone() {
    for (shape, seed) in [(SynthShape::TINY, 11), (SPLIT, 12)] {
        let m = model(shape, seed);
        let v = m.config().vocab_size;
        let prompts = vec![prompt(5, 1, v), prompt(17, 2, v), prompt(1, 3, v)];
        let want = alone(&m, &prompts);

        let mut caches: Vec<_> = prompts.iter().map(|_| m.new_cache().unwrap()).collect();
        let mut logits = vec![vec![0f32; v]; prompts.len()];
        let mut steps: Vec<SeqStep<'_>> = prompts
            .iter()
            .zip(caches.iter_mut())
            .zip(logits.iter_mut())
            .map(|((p, cache), l)| SeqStep { tokens: p, pos: 0, cache, logits: Some(l) })
            .collect();
        m.forward_batch(&mut steps).unwrap();
        drop(steps);
        for (i, (got, want)) in logits.iter().zip(&want).enumerate() {
            assert!(max_rel(got, want) < 1e-5, "sequence {i}: {}", max_rel(got, want));
        }
        for (c, p) in caches.iter().zip(&prompts) {
            assert_eq!(c.len(), p.len());
        }
    }
}

#[test]
fn mixed_prefill_and_decode_step_equals_sequential_runs() {
    let m = model(SPLIT, 21);
    let v = m.config().vocab_size;
    // Sequence A is decoding at position 9; sequence B arrives with a 6-token
    // prefill chunk whose logits are not wanted; C decodes at position 3.
    let a = prompt(10, 4, v);
    let b = prompt(6, 5, v);
    let c = prompt(4, 6, v);
    let mut ca = m.new_cache().unwrap();
    let mut cc = m.new_cache().unwrap();
    let mut scratch = vec![0f32; v];
    m.forward(&a[..9], 0, &mut ca, &mut scratch).unwrap();
    m.forward(&c[..3], 0, &mut cc, &mut scratch).unwrap();

    let mut cb = m.new_cache().unwrap();
    let (mut la, mut lc) = (vec![0f32; v], vec![0f32; v]);
    m.forward_batch(&mut [
        SeqStep { tokens: &a[9..], pos: 9, cache: &mut ca, logits: Some(&mut la) },
        SeqStep { tokens: &b, pos: 0, cache: &mut cb, logits: None },
        SeqStep { tokens: &c[3..], pos: 3, cache: &mut cc, logits: Some(&mut lc) },
    ])
    .unwrap();
    let want = alone(&m, &[a, b.clone(), c]);
    assert!(max_rel(&la, &want[0]) < 1e-5);
    assert!(max_rel(&lc, &want[2]) < 1e-5);
    // B's cache is usable: its next token's logits equal a full run's.
    let next = 17u32;
    let mut lb = vec![0f32; v];
    m.forward(&[next], 6, &mut cb, &mut lb).unwrap();
    let mut full = b;
    full.push(next);
    assert!(max_rel(&lb, &alone(&m, &[full])[0]) < 1e-5);
}

#[test]
fn compute_pool_gives_bit_identical_results() {
    let one = model(SPLIT, 31);
    let pooled = model(SPLIT, 31).with_pool(ComputePool::new(3));
    let v = one.config().vocab_size;
    let p = prompt(40, 7, v);
    // Prefill (GEMM + split attention), then greedy decode (GEMV).
    assert_eq!(one.generate(&p, 12).unwrap(), pooled.generate(&p, 12).unwrap());
    for kv in [KvType::F32, KvType::F16] {
        let want = alone_with(&one, std::slice::from_ref(&p), kv);
        let got = alone_with(&pooled, std::slice::from_ref(&p), kv);
        assert_eq!(want, got, "{kv}");
        let want = alone_with(&one, &[p[..1].to_vec()], kv);
        let got = alone_with(&pooled, &[p[..1].to_vec()], kv);
        assert_eq!(want, got, "{kv}");
    }
}

#[test]
fn a_bad_sequence_rejects_the_whole_step_and_leaves_caches_alone() {
    let m = model(SynthShape::TINY, 41);
    let v = m.config().vocab_size;
    let good = prompt(4, 8, v);
    let mut c1 = m.new_cache().unwrap();
    let mut c2 = m.new_cache().unwrap();
    let mut l1 = vec![0f32; v];
    let err = m
        .forward_batch(&mut [
            SeqStep { tokens: &good, pos: 0, cache: &mut c1, logits: Some(&mut l1) },
            SeqStep { tokens: &[v as u32], pos: 0, cache: &mut c2, logits: None },
        ])
        .unwrap_err();
    assert!(err.to_string().contains(&v.to_string()), "{err}");
    assert_eq!((c1.len(), c2.len()), (0, 0));
    assert!(m.forward_batch(&mut []).is_err());
}
