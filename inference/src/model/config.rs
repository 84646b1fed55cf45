//! [`ModelConfig`]: the hyper-parameters of a BitNet model, read from GGUF metadata.
//!
//! Keys (`{arch}` = `general.architecture`), with llama.cpp's defaults where llama.cpp
//! has one (`llama-model.cpp`, `llm_load_hparams`):
//!
//! | key | field | default |
//! | --- | --- | --- |
//! | `{arch}.block_count` | `n_layers` | required |
//! | `{arch}.embedding_length` | `dim` | required |
//! | `{arch}.feed_forward_length` | `ffn_dim` | required |
//! | `{arch}.attention.head_count` | `n_heads` | required |
//! | `{arch}.attention.head_count_kv` | `n_kv_heads` | `head_count` |
//! | `{arch}.attention.layer_norm_rms_epsilon` | `rms_eps` | `1e-5` |
//! | `{arch}.rope.freq_base` | `rope_base` | `10000` |
//! | `{arch}.rope.dimension_count` | must equal `head_dim` | `head_dim` |
//! | `{arch}.context_length` | `context_length` | required |
//! | `{arch}.vocab_size` | `vocab_size` | `token_embd.weight`'s `ne[1]` |
//! | `{arch}.hidden_act` | `activation` (`relu2` / `silu`) | `relu2` for BitNet b1.58, `silu` for `bitnet` |

use crate::gguf::{GgufError, GgufFile, Value};

use super::error::ModelError;

/// Which family of BitNet GGUF files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// bitnet.cpp's BitNet b1.58 (`bitnet-b1.58`, older `bitnet-25`, `bitnet-1.58`):
    /// `I2_S` weights with a per-tensor scale inside the tensor.
    BitnetB158,
    /// llama.cpp's `bitnet`: optional per-tensor `*.scale` tensors.
    Bitnet,
}

impl Arch {
    /// Parses `general.architecture`.
    ///
    /// Errors: [`ModelError::UnsupportedArchitecture`].
    pub fn from_name(name: &str) -> Result<Arch, ModelError> {
        match name {
            "bitnet-b1.58" | "bitnet-25" | "bitnet-1.58" => Ok(Arch::BitnetB158),
            "bitnet" => Ok(Arch::Bitnet),
            other => Err(ModelError::UnsupportedArchitecture(other.to_string())),
        }
    }
}

/// The FFN activation applied to the gate projection before multiplying by `up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(x, 0)²` (BitNet b1.58).
    Relu2,
    /// `x · sigmoid(x)`.
    Silu,
}

/// The hyper-parameters of a model (see the module docs for the keys).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// `general.architecture` as written in the file (its keys' prefix).
    pub arch_name: String,
    /// The family it belongs to.
    pub arch: Arch,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Hidden size (`n_heads × head_dim`).
    pub dim: usize,
    /// FFN inner size.
    pub ffn_dim: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key / value heads (grouped-query attention: `n_heads` a multiple of it).
    pub n_kv_heads: usize,
    /// `dim / n_heads`.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f32,
    /// RoPE base frequency.
    pub rope_base: f32,
    /// Training context length (the default KV cache size).
    pub context_length: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// FFN activation.
    pub activation: Activation,
}

impl ModelConfig {
    /// Reads the config of `file` (see the module docs for keys and defaults).
    ///
    /// Errors: a missing required key ([`GgufError::MissingKey`] naming it), a key of the
    /// wrong type, an unsupported architecture, inconsistent values
    /// ([`ModelError::BadConfig`] naming the key).
    pub fn from_gguf(file: &GgufFile) -> Result<ModelConfig, ModelError> {
        let md = file.metadata();
        let arch_name = md.get_str("general.architecture")?.to_string();
        let arch = Arch::from_name(&arch_name)?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let count = |k: &str| -> Result<usize, ModelError> {
            let k = key(k);
            let v = md.get_uint(&k)?;
            usize::try_from(v).map_err(|_| ModelError::bad_config(&k, format!("{v} does not fit in usize")))
        };
        let float_or = |k: &str, default: f32| -> Result<f32, ModelError> {
            let k = key(k);
            let v = match md.get(&k) {
                None => default,
                Some(Value::F32(v)) => *v,
                Some(Value::F64(v)) => *v as f32,
                Some(v) => {
                    return Err(GgufError::TypeMismatch {
                        key: k,
                        expected: "f32",
                        found: v.type_description(),
                    }
                    .into())
                }
            };
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(ModelError::bad_config(k, format!("{v} is not a positive finite number")))
            }
        };
        let positive = |k: &str, v: usize| -> Result<usize, ModelError> {
            if v == 0 {
                Err(ModelError::bad_config(key(k), "must not be zero"))
            } else {
                Ok(v)
            }
        };

        let n_layers = count("block_count")?;
        let dim = positive("embedding_length", count("embedding_length")?)?;
        let ffn_dim = positive("feed_forward_length", count("feed_forward_length")?)?;
        let n_heads = positive("attention.head_count", count("attention.head_count")?)?;
        let n_kv_heads = if md.contains_key(&key("attention.head_count_kv")) {
            positive("attention.head_count_kv", count("attention.head_count_kv")?)?
        } else {
            n_heads
        };
        if !dim.is_multiple_of(n_heads) {
            return Err(ModelError::bad_config(
                key("attention.head_count"),
                format!("{n_heads} heads do not divide embedding_length {dim}"),
            ));
        }
        if !n_heads.is_multiple_of(n_kv_heads) {
            return Err(ModelError::bad_config(
                key("attention.head_count_kv"),
                format!("{n_kv_heads} KV heads do not divide head_count {n_heads}"),
            ));
        }
        let head_dim = dim / n_heads;
        if !head_dim.is_multiple_of(2) {
            return Err(ModelError::bad_config(
                key("attention.head_count"),
                format!("head dimension {head_dim} is odd (RoPE needs pairs)"),
            ));
        }
        let rope_dims = md.get_uint_or(&key("rope.dimension_count"), head_dim as u64)?;
        if rope_dims != head_dim as u64 {
            return Err(ModelError::bad_config(
                key("rope.dimension_count"),
                format!("partial RoPE ({rope_dims} of {head_dim} dimensions) is not supported"),
            ));
        }
        let rms_eps = float_or("attention.layer_norm_rms_epsilon", 1e-5)?;
        let rope_base = float_or("rope.freq_base", 10000.0)?;
        let context_length = positive("context_length", count("context_length")?)?;
        let vocab_size = if md.contains_key(&key("vocab_size")) {
            count("vocab_size")?
        } else {
            let t = file
                .tensor("token_embd.weight")
                .ok_or_else(|| ModelError::MissingTensor { name: "token_embd.weight".into() })?;
            match t.shape() {
                [_, v] => usize::try_from(*v)
                    .map_err(|_| ModelError::bad_config(key("vocab_size"), "token_embd too large"))?,
                s => {
                    return Err(ModelError::BadShape {
                        name: "token_embd.weight".into(),
                        expected: vec![dim as u64, 0],
                        found: s.to_vec(),
                    })
                }
            }
        };
        let vocab_size = positive("vocab_size", vocab_size)?;
        let default_act = match arch {
            Arch::BitnetB158 => "relu2",
            Arch::Bitnet => "silu",
        };
        let activation = match md.get_str_or(&key("hidden_act"), default_act)? {
            "relu2" | "squared_relu" | "relu_squared" => Activation::Relu2,
            "silu" | "swish" => Activation::Silu,
            other => {
                return Err(ModelError::bad_config(
                    key("hidden_act"),
                    format!("activation \"{other}\" is not supported (relu2, silu)"),
                ))
            }
        };
        Ok(ModelConfig {
            arch_name,
            arch,
            n_layers,
            dim,
            ffn_dim,
            n_heads,
            n_kv_heads,
            head_dim,
            rms_eps,
            rope_base,
            context_length,
            vocab_size,
            activation,
        })
    }

    /// `n_kv_heads × head_dim`: the width of K and V.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}
