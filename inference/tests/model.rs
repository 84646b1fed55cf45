//! Model tests: `synth` → load → config and shapes; errors naming the key / tensor; the
//! forward pass against an independent naive f64 reference (prefill + decode with a KV
//! cache); greedy generation.

use std::collections::HashMap;

use tern_inference::gguf::{GgufError, GgufFile, GgufWriter, TensorType, Value};
use tern_inference::model::{
    argmax, synth_bytes, Activation, Arch, KvCache, KvType, Model, ModelConfig, ModelError, SynthShape,
};
use tern_kernels::formats::{float, i2s};
use tern_kernels::GgmlType;

const SEED: u64 = 7;

fn tiny_file() -> GgufFile {
    GgufFile::from_bytes(synth_bytes(SynthShape::TINY, SEED).unwrap()).unwrap()
}

/// What to do with one tensor when rebuilding a file.
enum Edit {
    Keep,
    Drop,
    Replace(Vec<u64>, GgmlType, Vec<u8>),
}

/// Rebuilds `file` with keys renamed / dropped by `key` (None drops) plus `extra_keys`,
/// tensors edited by `tensor`, plus `extra_tensors`.
fn rebuild(
    file: &GgufFile,
    key: impl Fn(&str) -> Option<String>,
    extra_keys: Vec<(&str, Value)>,
    tensor: impl Fn(&str) -> Edit,
    extra_tensors: Vec<(String, Vec<u64>, GgmlType, Vec<u8>)>,
) -> GgufFile {
    let mut w = GgufWriter::new();
    for (k, v) in file.metadata().iter() {
        if let Some(k) = key(k) {
            w.add(&k, v.clone()).unwrap();
        }
    }
    for (k, v) in extra_keys {
        w.add(k, v).unwrap();
    }
    for t in file.tensor_views() {
        let ty = match t.ggml_type() {
            TensorType::Known(ty) => ty,
            TensorType::Unknown(_) => unreachable!(),
        };
        match tensor(t.name()) {
            Edit::Keep => w.add_tensor(t.name(), t.shape(), ty, t.data().unwrap().to_vec()).unwrap(),
            Edit::Drop => {}
            Edit::Replace(shape, ty, data) => w.add_tensor(t.name(), &shape, ty, data).unwrap(),
        }
    }
    for (name, shape, ty, data) in extra_tensors {
        w.add_tensor(&name, &shape, ty, data).unwrap();
    }
    GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()
}

fn same_keys(k: &str) -> Option<String> {
    Some(k.to_string())
}

fn load_err(file: &GgufFile) -> ModelError {
    Model::from_gguf(file).expect_err("load should fail")
}

// ---- load, config, shapes ----

#[test]
fn synth_tiny_loads_with_the_right_config_and_shapes() {
    let file = tiny_file();
    let c = ModelConfig::from_gguf(&file).unwrap();
    assert_eq!(c.arch, Arch::BitnetB158);
    assert_eq!(c.arch_name, "bitnet-b1.58");
    assert_eq!(
        (c.n_layers, c.dim, c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_dim, c.vocab_size, c.context_length),
        (2, 128, 4, 2, 32, 256, 512, 64)
    );
    assert_eq!(c.kv_dim(), 64);
    assert_eq!(c.activation, Activation::Relu2);
    assert_eq!((c.rms_eps, c.rope_base), (1e-5, 10000.0));

    let model = Model::from_gguf(&file).unwrap();
    let w = model.weights();
    assert_eq!((w.token_embd.rows(), w.token_embd.cols()), (512, 128));
    assert_eq!(w.token_embd.ggml_type(), GgmlType::F16);
    assert!(w.output.is_some());
    assert_eq!(w.output_norm.len(), 128);
    assert_eq!(w.layers.len(), 2);
    for l in &w.layers {
        let dims = |m: &tern_kernels::TernaryMatrix| (m.rows(), m.cols());
        assert_eq!(dims(&l.wq.weight), (128, 128));
        assert_eq!(dims(&l.wk.weight), (64, 128));
        assert_eq!(dims(&l.wv.weight), (64, 128));
        assert_eq!(dims(&l.wo.weight), (128, 128));
        assert_eq!(dims(&l.w_gate.weight), (256, 128));
        assert_eq!(dims(&l.w_up.weight), (256, 128));
        assert_eq!(dims(&l.w_down.weight), (128, 256));
        assert_eq!((l.attn_norm.len(), l.attn_sub_norm.len(), l.ffn_norm.len()), (128, 128, 128));
        assert_eq!(l.ffn_sub_norm.len(), 256);
        assert!(l.wq.scale.is_none());
    }
}

#[test]
fn synth_is_deterministic_and_2b4t_shape_is_right() {
    assert_eq!(synth_bytes(SynthShape::TINY, 3).unwrap(), synth_bytes(SynthShape::TINY, 3).unwrap());
    assert_ne!(synth_bytes(SynthShape::TINY, 3).unwrap(), synth_bytes(SynthShape::TINY, 4).unwrap());
    let s = SynthShape::from_name("2b4t").unwrap();
    assert_eq!((s.n_layers, s.dim, s.n_heads, s.n_kv_heads, s.ffn_dim), (30, 2560, 20, 5, 6912));
    assert_eq!((s.vocab_size, s.context_length, s.tied), (128256, 4096, true));
    // An explicit shape that I2_S cannot hold is refused, not panicked on.
    let bad = SynthShape { dim: 6, n_heads: 3, n_kv_heads: 1, ffn_dim: 6, ..SynthShape::TINY };
    assert!(matches!(synth_bytes(bad, 0), Err(ModelError::BadInput(_))));
}

#[test]
fn missing_key_is_named() {
    let key = "bitnet-b1.58.embedding_length";
    let file = rebuild(&tiny_file(), |k| (k != key).then(|| k.to_string()), vec![], |_| Edit::Keep, vec![]);
    let e = load_err(&file);
    assert!(matches!(&e, ModelError::Gguf(GgufError::MissingKey { key: k }) if k == key), "{e:?}");
    assert!(e.to_string().contains(key), "{e}");
}

#[test]
fn missing_optional_keys_take_llama_cpp_defaults() {
    let dropped =
        ["rope.freq_base", "attention.layer_norm_rms_epsilon", "vocab_size", "rope.dimension_count"];
    let file = rebuild(
        &tiny_file(),
        |k| (!dropped.iter().any(|d| k == format!("bitnet-b1.58.{d}"))).then(|| k.to_string()),
        vec![],
        |_| Edit::Keep,
        vec![],
    );
    let c = ModelConfig::from_gguf(&file).unwrap();
    assert_eq!((c.rope_base, c.rms_eps, c.vocab_size), (10000.0, 1e-5, 512));
}

#[test]
fn unsupported_architecture_and_bad_config_are_named() {
    let file = rebuild(
        &tiny_file(),
        |k| (k != "general.architecture").then(|| k.to_string()),
        vec![("general.architecture", Value::from("llama"))],
        |_| Edit::Keep,
        vec![],
    );
    assert!(matches!(load_err(&file), ModelError::UnsupportedArchitecture(a) if a == "llama"));

    let key = "bitnet-b1.58.attention.head_count_kv";
    let file = rebuild(
        &tiny_file(),
        |k| (k != key).then(|| k.to_string()),
        vec![(key, Value::U32(3))],
        |_| Edit::Keep,
        vec![],
    );
    let e = load_err(&file);
    assert!(matches!(&e, ModelError::BadConfig { key: k, .. } if k == key), "{e:?}");
}

#[test]
fn missing_tensor_is_named() {
    let name = "blk.1.ffn_down.weight";
    let file =
        rebuild(&tiny_file(), same_keys, vec![], |t| if t == name { Edit::Drop } else { Edit::Keep }, vec![]);
    let e = load_err(&file);
    assert!(matches!(&e, ModelError::MissingTensor { name: n } if n == name), "{e:?}");
    assert!(e.to_string().contains(name));
}

#[test]
fn wrong_shape_is_named_with_expected_and_found() {
    let name = "blk.0.attn_k.weight";
    let data = i2s::pack(&vec![0i8; 128 * 128], 1.0).unwrap();
    let file = rebuild(
        &tiny_file(),
        same_keys,
        vec![],
        |t| if t == name { Edit::Replace(vec![128, 128], GgmlType::I2S, data.clone()) } else { Edit::Keep },
        vec![],
    );
    let e = load_err(&file);
    match &e {
        ModelError::BadShape { name: n, expected, found } => {
            assert_eq!(
                (n.as_str(), expected.as_slice(), found.as_slice()),
                (name, &[128u64, 64][..], &[128u64, 128][..])
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains(name));
}

#[test]
fn wrong_tensor_type_is_named() {
    let name = "blk.0.attn_q.weight";
    let data = vec![0u8; 128 * 128 * 4];
    let file = rebuild(
        &tiny_file(),
        same_keys,
        vec![],
        |t| if t == name { Edit::Replace(vec![128, 128], GgmlType::F32, data.clone()) } else { Edit::Keep },
        vec![],
    );
    assert!(matches!(load_err(&file), ModelError::BadTensorType { name: n, .. } if n == name));
}

// ---- the naive f64 reference ----

/// A model read straight from the file into f64, independent of `tern-inference`'s
/// loader and forward pass.
struct Reference {
    dim: usize,
    n_heads: usize,
    n_kv: usize,
    hd: usize,
    eps: f64,
    base: f64,
    vocab: usize,
    silu: bool,
    tensors: HashMap<String, (Vec<f64>, usize, usize)>, // values row-major, rows, cols
}

/// f64 projection weights: `values × scale × optional .scale`.
fn read_tensor(file: &GgufFile, name: &str) -> (Vec<f64>, usize, usize) {
    let t = file.tensor(name).unwrap();
    let shape = t.shape();
    let (cols, rows) = (shape[0] as usize, shape.get(1).copied().unwrap_or(1) as usize);
    let n = rows * cols;
    let data = t.data().unwrap();
    let v = match t.ggml_type() {
        TensorType::Known(GgmlType::I2S) => {
            let (vals, scale) = i2s::unpack(data, n).unwrap();
            vals.iter().map(|&v| v as f64 * scale as f64).collect()
        }
        TensorType::Known(GgmlType::F16) => {
            let mut out = vec![0f32; n];
            float::f16_to_f32(data, &mut out).unwrap();
            out.iter().map(|&v| v as f64).collect()
        }
        TensorType::Known(GgmlType::F32) => {
            data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64).collect()
        }
        other => panic!("reference cannot read {other:?}"),
    };
    (v, rows, cols)
}

impl Reference {
    fn new(file: &GgufFile, arch: &str, silu: bool) -> Reference {
        let md = file.metadata();
        let get = |k: &str| md.get_uint(&format!("{arch}.{k}")).unwrap() as usize;
        let mut tensors = HashMap::new();
        for t in file.tensor_views() {
            tensors.insert(t.name().to_string(), read_tensor(file, t.name()));
        }
        let dim = get("embedding_length");
        let n_heads = get("attention.head_count");
        Reference {
            dim,
            n_heads,
            n_kv: get("attention.head_count_kv"),
            hd: dim / n_heads,
            eps: md.get_f32_or(&format!("{arch}.attention.layer_norm_rms_epsilon"), 1e-5).unwrap() as f64,
            base: md.get_f32_or(&format!("{arch}.rope.freq_base"), 10000.0).unwrap() as f64,
            vocab: tensors["token_embd.weight"].1,
            silu,
            tensors,
        }
    }

    fn vec(&self, name: &str) -> &[f64] {
        &self.tensors[name].0
    }

    fn rms_norm(&self, x: &[f64], name: &str) -> Vec<f64> {
        let w = self.vec(name);
        let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        let r = 1.0 / (ms + self.eps).sqrt();
        x.iter().zip(w).map(|(v, g)| v * r * g).collect()
    }

    /// BitNet activation quantization, written out here as the kernels document it
    /// (f32 arithmetic, round half to even), then a plain f64 matmul with the ternary
    /// weights times their scale(s).
    fn ternary_matmul(&self, name: &str, x: &[f64]) -> Vec<f64> {
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let amax = xf.iter().fold(0f32, |m, v| m.max(v.abs()));
        let s = 127.0f32 / amax.max(1e-5);
        let q: Vec<f64> =
            xf.iter().map(|&v| ((v * s).round_ties_even()).clamp(-128.0, 127.0) as f64).collect();
        let extra = self.tensors.get(&name.replace(".weight", ".scale")).map_or(1.0, |t| t.0[0]);
        let (w, rows, cols) = &self.tensors[name];
        assert_eq!(*cols, x.len());
        (0..*rows)
            .map(|r| {
                w[r * cols..(r + 1) * cols].iter().zip(&q).map(|(a, b)| a * b).sum::<f64>() / s as f64 * extra
            })
            .collect()
    }

    fn rope(&self, x: &mut [f64], pos: usize) {
        let half = self.hd / 2;
        for head in x.chunks_exact_mut(self.hd) {
            for i in 0..half {
                let theta = pos as f64 * self.base.powf(-2.0 * i as f64 / self.hd as f64);
                let (a, b) = (head[i], head[i + half]);
                head[i] = a * theta.cos() - b * theta.sin();
                head[i + half] = a * theta.sin() + b * theta.cos();
            }
        }
    }

    /// Logits of every token of `tokens` run from position 0, no cache: each position
    /// recomputes attention over all earlier keys.
    fn logits(&self, tokens: &[u32]) -> Vec<Vec<f64>> {
        self.logits_kv(tokens, false)
    }

    /// [`Reference::logits`], with keys (after RoPE) and values rounded to f16 when
    /// `f16_kv` (what an f16 KV cache stores).
    fn logits_kv(&self, tokens: &[u32], f16_kv: bool) -> Vec<Vec<f64>> {
        let kv_round = |x: Vec<f64>| {
            if !f16_kv {
                return x;
            }
            let bytes = float::f32_to_f16_bytes(&x.iter().map(|&v| v as f32).collect::<Vec<_>>());
            let mut out = vec![0f32; x.len()];
            float::f16_to_f32(&bytes, &mut out).unwrap();
            out.into_iter().map(f64::from).collect()
        };
        let (dim, hd) = (self.dim, self.hd);
        let n_layers = self.tensors.keys().filter(|k| k.ends_with("attn_norm.weight")).count();
        let embd = self.vec("token_embd.weight");
        let mut xs: Vec<Vec<f64>> =
            tokens.iter().map(|&t| embd[t as usize * dim..][..dim].to_vec()).collect();
        for l in 0..n_layers {
            let b = |t: &str| format!("blk.{l}.{t}.weight");
            let mut ks = Vec::new();
            let mut vs = Vec::new();
            let mut qs = Vec::new();
            for (p, x) in xs.iter().enumerate() {
                let h = self.rms_norm(x, &b("attn_norm"));
                let mut q = self.ternary_matmul(&b("attn_q"), &h);
                let mut k = self.ternary_matmul(&b("attn_k"), &h);
                self.rope(&mut q, p);
                self.rope(&mut k, p);
                qs.push(q);
                ks.push(kv_round(k));
                vs.push(kv_round(self.ternary_matmul(&b("attn_v"), &h)));
            }
            for (p, x) in xs.iter_mut().enumerate() {
                let mut att = vec![0f64; dim];
                for head in 0..self.n_heads {
                    let kvh = head / (self.n_heads / self.n_kv);
                    let q = &qs[p][head * hd..][..hd];
                    let scores: Vec<f64> = (0..=p)
                        .map(|j| {
                            q.iter().zip(&ks[j][kvh * hd..][..hd]).map(|(a, b)| a * b).sum::<f64>()
                                / (hd as f64).sqrt()
                        })
                        .collect();
                    let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for j in 0..=p {
                        for d in 0..hd {
                            att[head * hd + d] += e[j] / z * vs[j][kvh * hd + d];
                        }
                    }
                }
                let a = self.rms_norm(&att, &b("attn_sub_norm"));
                let o = self.ternary_matmul(&b("attn_output"), &a);
                x.iter_mut().zip(&o).for_each(|(x, o)| *x += o);

                let h = self.rms_norm(x, &b("ffn_norm"));
                let g = self.ternary_matmul(&b("ffn_gate"), &h);
                let u = self.ternary_matmul(&b("ffn_up"), &h);
                let f: Vec<f64> = g
                    .iter()
                    .zip(&u)
                    .map(
                        |(&g, &u)| {
                            if self.silu {
                                g / (1.0 + (-g).exp()) * u
                            } else {
                                g.max(0.0).powi(2) * u
                            }
                        },
                    )
                    .collect();
                let f = self.rms_norm(&f, &b("ffn_sub_norm"));
                let d = self.ternary_matmul(&b("ffn_down"), &f);
                x.iter_mut().zip(&d).for_each(|(x, d)| *x += d);
            }
        }
        let head =
            if self.tensors.contains_key("output.weight") { "output.weight" } else { "token_embd.weight" };
        let w = self.vec(head);
        xs.iter()
            .map(|x| {
                let h = self.rms_norm(x, "output_norm.weight");
                (0..self.vocab)
                    .map(|r| w[r * dim..][..dim].iter().zip(&h).map(|(a, b)| a * b).sum())
                    .collect()
            })
            .collect()
    }
}

/// `max |got - want| / max |want|`.
fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    got.iter().zip(want).map(|(&g, w)| (g as f64 - w).abs()).fold(0.0, f64::max) / scale
}

const TOKENS: [u32; 8] = [1, 17, 300, 42, 511, 0, 99, 256];

/// Prefill of 5 tokens, then 3 decode steps, each against the reference; then the 5
/// prompt tokens decoded one by one must give the prefill's logits. F32 KV caches
/// (exact, as the reference).
fn check_against_reference(file: &GgufFile, reference: &Reference) {
    let model = Model::from_gguf(file).unwrap();
    let want = reference.logits(&TOKENS);
    let f32_cache =
        || KvCache::with_type(model.config(), model.config().context_length, KvType::F32).unwrap();
    let mut cache = f32_cache();
    let mut logits = vec![0f32; model.config().vocab_size];
    model.forward(&TOKENS[..5], 0, &mut cache, &mut logits).unwrap();
    assert_eq!(cache.len(), 5);
    let e = rel_err(&logits, &want[4]);
    assert!(e < 1e-4, "prefill: relative error {e}");
    let prefill = logits.clone();
    for (i, &t) in TOKENS[5..].iter().enumerate() {
        model.forward(&[t], 5 + i, &mut cache, &mut logits).unwrap();
        let e = rel_err(&logits, &want[5 + i]);
        assert!(e < 1e-4, "decode step {i}: relative error {e}");
    }
    assert_eq!(cache.len(), 8);

    let mut cache = f32_cache();
    for (p, &t) in TOKENS[..5].iter().enumerate() {
        model.forward(&[t], p, &mut cache, &mut logits).unwrap();
        let e = rel_err(&logits, &want[p]);
        assert!(e < 1e-4, "token-by-token position {p}: relative error {e}");
    }
    let diff = logits.iter().zip(&prefill).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let scale = prefill.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(diff <= 1e-5 * scale, "prefill vs token-by-token: {diff}");
}

#[test]
fn forward_matches_naive_f64_reference_bitnet_b158() {
    let file = tiny_file();
    check_against_reference(&file, &Reference::new(&file, "bitnet-b1.58", false));
}

#[test]
fn forward_matches_reference_llama_cpp_bitnet_silu_scales_tied() {
    // llama.cpp's `bitnet`: keys renamed, SiLU, per-tensor `.scale` tensors, tied head.
    let src = tiny_file();
    let mut scales = Vec::new();
    for l in 0..2 {
        for (i, t) in
            ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"].iter().enumerate()
        {
            let s = 0.5 + 0.125 * i as f32 + 0.25 * l as f32;
            scales.push((format!("blk.{l}.{t}.scale"), vec![1], GgmlType::F32, s.to_le_bytes().to_vec()));
        }
    }
    let file = rebuild(
        &src,
        |k| (k != "general.architecture").then(|| k.replace("bitnet-b1.58.", "bitnet.")),
        vec![("general.architecture", Value::from("bitnet")), ("bitnet.hidden_act", Value::from("silu"))],
        |t| if t == "output.weight" { Edit::Drop } else { Edit::Keep },
        scales,
    );
    let model = Model::from_gguf(&file).unwrap();
    assert_eq!(model.config().arch, Arch::Bitnet);
    assert_eq!(model.config().activation, Activation::Silu);
    assert!(model.weights().output.is_none());
    assert_eq!(model.weights().layers[1].w_down.scale, Some(0.5 + 0.75 + 0.25));
    check_against_reference(&file, &Reference::new(&file, "bitnet", true));
}

// ---- cache, errors, generation ----

/// Logits after each step of a `prefill`-token prompt then `decode` single tokens (fed
/// the f32 run's greedy tokens, so both cache types see the same inputs).
fn steps_with(model: &Model, kv: KvType, prefill: &[u32], decode: &[u32]) -> Vec<Vec<f32>> {
    let mut cache = KvCache::with_type(model.config(), model.config().context_length, kv).unwrap();
    assert_eq!(cache.kv_type(), kv);
    let mut logits = vec![0f32; model.config().vocab_size];
    model.forward(prefill, 0, &mut cache, &mut logits).unwrap();
    let mut out = vec![logits.clone()];
    for &t in decode {
        model.forward(&[t], cache.len(), &mut cache, &mut logits).unwrap();
        out.push(logits.clone());
    }
    out
}

/// `KL(softmax(p) ‖ softmax(q))` in f64.
fn kl(p: &[f32], q: &[f32]) -> f64 {
    let log_softmax = |x: &[f32]| {
        let m = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let z = x.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
        x.iter().map(|&v| v as f64 - m - z).collect::<Vec<f64>>()
    };
    log_softmax(p).iter().zip(log_softmax(q)).map(|(a, b)| a.exp() * (a - b)).sum()
}

/// The f16 cache computes what it should: tern with an f16 cache matches the naive
/// f64 reference whose keys and values are rounded to f16, as tightly as the f32
/// cache matches the exact reference.
#[test]
fn f16_cache_matches_the_naive_reference_with_f16_keys_and_values() {
    let file = tiny_file();
    let model = Model::from_gguf(&file).unwrap();
    let want = Reference::new(&file, "bitnet-b1.58", false).logits_kv(&TOKENS, true);
    let got = steps_with(&model, KvType::F16, &TOKENS[..5], &TOKENS[5..]);
    for (i, g) in got.iter().enumerate() {
        let e = rel_err(g, &want[4 + i]);
        assert!(e < 1e-4, "f16 cache, step {i}: relative error {e}");
    }
}

/// f16 against f32 caches, 40-token prefill + 16 decode steps. Rounding keys and
/// values to f16 (≤ 2⁻¹¹ each) flips a few int8 activation steps downstream, so the
/// logits move by 2–3e-2 of their largest magnitude (the naive reference moves as much
/// between f32 and f16 keys / values) while the distributions stay close (KL ≤ 1e-2).
#[test]
fn f16_cache_logits_stay_close_to_f32_cache_logits() {
    for seed in [SEED, 8, 9] {
        let model =
            Model::from_gguf(&GgufFile::from_bytes(synth_bytes(SynthShape::TINY, seed).unwrap()).unwrap())
                .unwrap();
        let prompt: Vec<u32> = (0..40u32).map(|i| (i * 37 + seed as u32) % 512).collect();
        let decode: Vec<u32> = (0..16u32).map(|i| (i * 101 + 7) % 512).collect();
        let exact = steps_with(&model, KvType::F32, &prompt, &decode);
        let half = steps_with(&model, KvType::F16, &prompt, &decode);
        let (mut worst, mut worst_kl) = (0f64, 0f64);
        for (step, (h, e)) in half.iter().zip(&exact).enumerate() {
            let e64: Vec<f64> = e.iter().map(|&v| v as f64).collect();
            let (err, kl) = (rel_err(h, &e64), kl(e, h));
            assert!(err < 6e-2, "seed {seed} step {step}: f16 vs f32 cache relative error {err:.3e}");
            assert!(kl < 2e-2, "seed {seed} step {step}: f16 vs f32 cache KL {kl:.3e}");
            (worst, worst_kl) = (worst.max(err), worst_kl.max(kl));
        }
        // The f16 cache does round: the logits are close, not equal.
        assert!(worst > 0.0, "seed {seed}: f16 cache gave the f32 cache's logits exactly");
        eprintln!("seed {seed}: f16 vs f32 KV cache, max rel error {worst:.2e}, max KL {worst_kl:.2e}");
    }
}

#[test]
fn f16_cache_takes_half_the_memory_of_f32() {
    let c = Model::from_gguf(&tiny_file()).unwrap().config().clone();
    let f16 = KvCache::new(&c, 64).unwrap();
    let f32 = KvCache::with_type(&c, 64, KvType::F32).unwrap();
    assert_eq!(KvType::default(), KvType::F16);
    assert_eq!(f16.kv_type(), KvType::F16);
    assert_eq!(f32.kv_type(), KvType::F32);
    // 2 (k and v) × n_layers × kv_dim × element bytes.
    assert_eq!(f16.bytes_per_position(), 2 * c.n_layers * c.kv_dim() * 2);
    assert_eq!(f32.bytes_per_position(), 2 * c.n_layers * c.kv_dim() * 4);
    assert_eq!(f16.bytes(), 64 * f16.bytes_per_position());
    assert_eq!(2 * f16.bytes(), f32.bytes());
    assert!(KvCache::with_type(&c, 0, KvType::F32).is_err());
    assert!(KvCache::with_type(&c, usize::MAX / 4, KvType::F16).is_err());
}

#[test]
fn kv_type_parses_and_prints_its_cli_names() {
    assert_eq!("f32".parse::<KvType>().unwrap(), KvType::F32);
    assert_eq!("f16".parse::<KvType>().unwrap(), KvType::F16);
    assert_eq!(" F16 ".parse::<KvType>().unwrap(), KvType::F16);
    for bad in ["", "q8_0", "bf16", "f64"] {
        let Err(ModelError::BadInput(msg)) = bad.parse::<KvType>() else { panic!("{bad:?} parsed") };
        assert!(msg.contains("f16 or f32"), "{msg}");
    }
    for t in [KvType::F32, KvType::F16] {
        assert_eq!(t.to_string().parse::<KvType>().unwrap(), t);
        assert_eq!(t.element_bytes() * 8, t.name()[1..].parse::<usize>().unwrap());
    }
}

#[test]
fn forward_rejects_bad_input_and_full_context() {
    let model = Model::from_gguf(&tiny_file()).unwrap();
    let mut logits = vec![0f32; 512];
    let mut cache = KvCache::new(model.config(), 4).unwrap();
    assert!(matches!(
        model.forward(&[1, 2, 3, 4, 5], 0, &mut cache, &mut logits),
        Err(ModelError::ContextFull { context_length: 4, needed: 5 })
    ));
    assert_eq!(cache.len(), 0);
    model.forward(&[1, 2, 3, 4], 0, &mut cache, &mut logits).unwrap();
    assert!(matches!(model.forward(&[1], 4, &mut cache, &mut logits), Err(ModelError::ContextFull { .. })));
    assert!(matches!(
        model.forward(&[512], 0, &mut cache, &mut logits),
        Err(ModelError::BadToken { token: 512, vocab_size: 512 })
    ));
    assert!(matches!(model.forward(&[], 0, &mut cache, &mut logits), Err(ModelError::BadInput(_))));
    assert!(matches!(model.forward(&[1], 0, &mut cache, &mut logits[..3]), Err(ModelError::BadInput(_))));
    cache.truncate(2);
    assert!(matches!(model.forward(&[1], 3, &mut cache, &mut logits), Err(ModelError::BadInput(_))));
    assert!(KvCache::new(model.config(), 0).is_err());
}

#[test]
fn rewinding_the_cache_recomputes_the_same_logits() {
    let model = Model::from_gguf(&tiny_file()).unwrap();
    let mut cache = model.new_cache().unwrap();
    let mut a = vec![0f32; 512];
    let mut b = vec![0f32; 512];
    model.forward(&[5, 6, 7], 0, &mut cache, &mut a).unwrap();
    model.forward(&[8, 9], 3, &mut cache, &mut b).unwrap();
    model.forward(&[7], 2, &mut cache, &mut b).unwrap();
    assert_eq!(cache.len(), 3);
    assert_eq!(a, b);
}

#[test]
fn greedy_generation_is_deterministic_and_matches_forward() {
    let model = Model::from_gguf(&tiny_file()).unwrap();
    let prompt = [3, 14, 15, 92];
    let out = model.generate(&prompt, 5).unwrap();
    assert_eq!(out.len(), 5);
    assert_eq!(out, model.generate(&prompt, 5).unwrap());

    let mut cache = model.new_cache().unwrap();
    let mut logits = vec![0f32; 512];
    model.forward(&prompt, 0, &mut cache, &mut logits).unwrap();
    let mut manual = vec![];
    for _ in 0..5 {
        let t = argmax(&logits);
        manual.push(t);
        model.forward(&[t], cache.len(), &mut cache, &mut logits).unwrap();
    }
    assert_eq!(out, manual);
    assert!(model.generate(&prompt, 0).unwrap().is_empty());
    assert!(matches!(model.generate(&prompt, 61), Err(ModelError::ContextFull { needed: 65, .. })));
    assert_eq!(argmax(&[1.0, f32::NAN, 3.0, 3.0]), 2);
}
