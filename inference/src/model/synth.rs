//! `synth`: a BitNet b1.58 GGUF file with random ternary weights at any shape, for
//! benchmarks and tests (the format is real, the model is noise).
//!
//! Layout written (arch `bitnet-b1.58`, as bitnet.cpp converts 2B-4T): every projection
//! in `I2_S` with a per-tensor scale `1 / sqrt(cols)` and values uniform over
//! {-1, 0, 1}; `token_embd.weight` (and `output.weight` unless tied) in `F16`, uniform
//! in [-1, 1]; norm weights `F32`, uniform in [0.5, 1.5]. Metadata: every key
//! [`super::ModelConfig`] reads, plus `general.name`, plus a `gpt2` byte-level
//! tokenizer of exactly `vocab_size` tokens
//! ([`crate::tokenizer::synth::write_byte_level_vocab`]: BOS 0, EOS 1, EOT 2, byte tokens
//! 4..260, merges learnt from English text; `vocab_size` must be at least 260). The same
//! `(shape, seed)` always gives the same bytes.

use tern_kernels::formats::{float, i2s};
use tern_kernels::GgmlType;

use crate::gguf::GgufWriter;
use crate::tokenizer::synth::write_byte_level_vocab;

use super::error::ModelError;

/// The shape of a synthetic model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthShape {
    /// Transformer blocks.
    pub n_layers: usize,
    /// Hidden size.
    pub dim: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key / value heads.
    pub n_kv_heads: usize,
    /// FFN inner size.
    pub ffn_dim: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// `context_length` written to the file.
    pub context_length: usize,
    /// RoPE base frequency.
    pub rope_base: u32,
    /// Whether the output head is tied to `token_embd` (no `output.weight`).
    pub tied: bool,
}

impl SynthShape {
    /// A tiny model for tests: 2 layers, 128 dim, 4 heads, 2 KV heads, 256 FFN,
    /// 512 vocabulary, 64 positions, separate output head.
    pub const TINY: SynthShape = SynthShape {
        n_layers: 2,
        dim: 128,
        n_heads: 4,
        n_kv_heads: 2,
        ffn_dim: 256,
        vocab_size: 512,
        context_length: 64,
        rope_base: 10000,
        tied: false,
    };

    /// The shape of microsoft/BitNet-b1.58-2B-4T: 30 layers, 2560 dim, 20 heads,
    /// 5 KV heads, 6912 FFN, 128256 vocabulary, 4096 positions, RoPE base 500000,
    /// tied head.
    pub const B2_4T: SynthShape = SynthShape {
        n_layers: 30,
        dim: 2560,
        n_heads: 20,
        n_kv_heads: 5,
        ffn_dim: 6912,
        vocab_size: 128256,
        context_length: 4096,
        rope_base: 500000,
        tied: true,
    };

    /// A named shape: `tiny` or `2b4t`.
    pub fn from_name(name: &str) -> Option<SynthShape> {
        match name {
            "tiny" => Some(SynthShape::TINY),
            "2b4t" => Some(SynthShape::B2_4T),
            _ => None,
        }
    }

    fn check(&self) -> Result<(), ModelError> {
        let bad = |r: String| Err(ModelError::BadInput(format!("synth shape {self:?}: {r}")));
        let s = self;
        if [s.dim, s.n_heads, s.n_kv_heads, s.ffn_dim, s.vocab_size, s.context_length].contains(&0) {
            return bad("sizes must not be zero".into());
        }
        if !s.dim.is_multiple_of(s.n_heads) || !s.n_heads.is_multiple_of(s.n_kv_heads) {
            return bad("heads must divide dim and KV heads must divide heads".into());
        }
        if !(s.dim / s.n_heads).is_multiple_of(2) {
            return bad("the head dimension must be even".into());
        }
        let kv = s.dim / s.n_heads * s.n_kv_heads;
        if !(s.dim * kv).is_multiple_of(128)
            || !(s.dim * s.ffn_dim).is_multiple_of(128)
            || !(s.dim * s.dim).is_multiple_of(128)
        {
            return bad("I2_S needs every projection's element count to be a multiple of 128".into());
        }
        Ok(())
    }
}

/// SplitMix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn ternary(&mut self) -> i8 {
        ((self.next() >> 32) % 3) as i8 - 1
    }
}

/// Builds the synthetic model (see the module docs) as a [`GgufWriter`]; call
/// `to_bytes` or `write_file` on it.
///
/// Errors: an inconsistent shape or a vocabulary below 260 tokens
/// ([`ModelError::BadInput`]).
pub fn synth(shape: SynthShape, seed: u64) -> Result<GgufWriter, ModelError> {
    shape.check()?;
    let s = shape;
    let mut rng = Rng(seed);
    let mut w = GgufWriter::new();
    let arch = "bitnet-b1.58";
    let u32_of = |v: usize, what: &str| {
        u32::try_from(v).map_err(|_| ModelError::BadInput(format!("synth {what} {v} exceeds u32")))
    };
    let input = |e: crate::gguf::GgufError| ModelError::BadInput(format!("synth: {e}"));
    w.add("general.architecture", arch).map_err(input)?;
    w.add("general.name", "tern synthetic BitNet b1.58").map_err(input)?;
    for (k, v) in [
        ("block_count", s.n_layers),
        ("embedding_length", s.dim),
        ("feed_forward_length", s.ffn_dim),
        ("attention.head_count", s.n_heads),
        ("attention.head_count_kv", s.n_kv_heads),
        ("context_length", s.context_length),
        ("vocab_size", s.vocab_size),
        ("rope.dimension_count", s.dim / s.n_heads),
    ] {
        w.add(&format!("{arch}.{k}"), u32_of(v, k)?).map_err(input)?;
    }
    w.add(&format!("{arch}.attention.layer_norm_rms_epsilon"), 1e-5f32).map_err(input)?;
    w.add(&format!("{arch}.rope.freq_base"), s.rope_base as f32).map_err(input)?;
    write_byte_level_vocab(&mut w, s.vocab_size).map_err(|e| ModelError::BadInput(format!("synth: {e}")))?;

    let kv = s.dim / s.n_heads * s.n_kv_heads;
    let dense = |w: &mut GgufWriter, rng: &mut Rng, name: &str| -> Result<(), ModelError> {
        let mut bytes = Vec::with_capacity(s.vocab_size * s.dim * 2);
        let mut row = vec![0f32; s.dim];
        for _ in 0..s.vocab_size {
            row.iter_mut().for_each(|v| *v = rng.unit() * 2.0 - 1.0);
            bytes.extend(float::f32_to_f16_bytes(&row));
        }
        w.add_tensor(name, &[s.dim as u64, s.vocab_size as u64], GgmlType::F16, bytes).map_err(input)
    };
    let norm = |w: &mut GgufWriter, rng: &mut Rng, name: &str, n: usize| -> Result<(), ModelError> {
        let bytes: Vec<u8> = (0..n).flat_map(|_| (0.5 + rng.unit()).to_le_bytes()).collect();
        w.add_tensor(name, &[n as u64], GgmlType::F32, bytes).map_err(input)
    };
    let ternary = |w: &mut GgufWriter, rng: &mut Rng, name: &str, cols: usize, rows: usize| {
        let values: Vec<i8> = (0..rows * cols).map(|_| rng.ternary()).collect();
        let bytes = i2s::pack(&values, 1.0 / (cols as f32).sqrt())
            .map_err(|e| ModelError::Kernel { context: format!("synth tensor \"{name}\""), source: e })?;
        w.add_tensor(name, &[cols as u64, rows as u64], GgmlType::I2S, bytes).map_err(input)
    };

    dense(&mut w, &mut rng, "token_embd.weight")?;
    norm(&mut w, &mut rng, "output_norm.weight", s.dim)?;
    if !s.tied {
        dense(&mut w, &mut rng, "output.weight")?;
    }
    for i in 0..s.n_layers {
        let name = |t: &str| format!("blk.{i}.{t}.weight");
        norm(&mut w, &mut rng, &name("attn_norm"), s.dim)?;
        ternary(&mut w, &mut rng, &name("attn_q"), s.dim, s.dim)?;
        ternary(&mut w, &mut rng, &name("attn_k"), s.dim, kv)?;
        ternary(&mut w, &mut rng, &name("attn_v"), s.dim, kv)?;
        norm(&mut w, &mut rng, &name("attn_sub_norm"), s.dim)?;
        ternary(&mut w, &mut rng, &name("attn_output"), s.dim, s.dim)?;
        norm(&mut w, &mut rng, &name("ffn_norm"), s.dim)?;
        ternary(&mut w, &mut rng, &name("ffn_gate"), s.dim, s.ffn_dim)?;
        ternary(&mut w, &mut rng, &name("ffn_up"), s.dim, s.ffn_dim)?;
        norm(&mut w, &mut rng, &name("ffn_sub_norm"), s.ffn_dim)?;
        ternary(&mut w, &mut rng, &name("ffn_down"), s.ffn_dim, s.dim)?;
    }
    Ok(w)
}

/// [`synth`] straight to bytes.
pub fn synth_bytes(shape: SynthShape, seed: u64) -> Result<Vec<u8>, ModelError> {
    synth(shape, seed)?.to_bytes().map_err(ModelError::Gguf)
}
