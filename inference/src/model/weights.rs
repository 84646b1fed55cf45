//! [`ModelWeights`]: every tensor of a BitNet model, loaded by llama.cpp's names and
//! checked against the [`ModelConfig`].
//!
//! Shapes are ggml's (innermost first: a `rows × cols` matrix is `[cols, rows]`):
//!
//! | tensor | shape | kind |
//! | --- | --- | --- |
//! | `token_embd.weight` | `[dim, vocab]` | dense |
//! | `output_norm.weight` | `[dim]` | vector |
//! | `output.weight` (optional, tied to `token_embd` otherwise) | `[dim, vocab]` | dense |
//! | `blk.N.attn_norm.weight`, `blk.N.ffn_norm.weight`, `blk.N.attn_sub_norm.weight` | `[dim]` | vector |
//! | `blk.N.attn_q.weight`, `blk.N.attn_output.weight` | `[dim, dim]` | ternary |
//! | `blk.N.attn_k.weight`, `blk.N.attn_v.weight` | `[dim, kv_dim]` | ternary |
//! | `blk.N.ffn_gate.weight`, `blk.N.ffn_up.weight` | `[dim, ffn]` | ternary |
//! | `blk.N.ffn_down.weight` | `[ffn, dim]` | ternary |
//! | `blk.N.ffn_sub_norm.weight` | `[ffn]` | vector |
//! | `blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.scale` (optional, llama.cpp `bitnet`) | `[1]` | scalar |
//!
//! Ternary tensors (`I2_S`, `TQ1_0`, `TQ2_0`) become [`TernaryMatrix`]; dense ones
//! (`F32`, `F16`, `BF16`, `Q8_0`, `Q4_0`, `Q6_K`) stay encoded in a [`DenseMatrix`]; vectors are
//! dequantized to `f32`. Weights are copied out of the file, so the file may be dropped.

use tern_kernels::{DenseMatrix, GgmlType, TernaryMatrix};

use crate::gguf::{GgufFile, TensorType, TensorView};

use super::config::ModelConfig;
use super::error::ModelError;

/// A ternary projection `y = scale · (W x)`, `W` of `rows × cols`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// The weights (with their own per-tensor or per-block scales).
    pub weight: TernaryMatrix,
    /// The extra per-tensor output scale (llama.cpp `bitnet`'s `*.scale` tensor), if any.
    pub scale: Option<f32>,
}

/// The weights of one transformer block.
#[derive(Debug, Clone)]
pub struct LayerWeights {
    /// `attn_norm.weight` (`dim`).
    pub attn_norm: Vec<f32>,
    /// `attn_q` (`dim × dim`).
    pub wq: Linear,
    /// `attn_k` (`kv_dim × dim`).
    pub wk: Linear,
    /// `attn_v` (`kv_dim × dim`).
    pub wv: Linear,
    /// `attn_sub_norm.weight` (`dim`), applied to the attention output before `attn_output`.
    pub attn_sub_norm: Vec<f32>,
    /// `attn_output` (`dim × dim`).
    pub wo: Linear,
    /// `ffn_norm.weight` (`dim`).
    pub ffn_norm: Vec<f32>,
    /// `ffn_gate` (`ffn × dim`).
    pub w_gate: Linear,
    /// `ffn_up` (`ffn × dim`).
    pub w_up: Linear,
    /// `ffn_sub_norm.weight` (`ffn`), applied before `ffn_down`.
    pub ffn_sub_norm: Vec<f32>,
    /// `ffn_down` (`dim × ffn`).
    pub w_down: Linear,
}

/// Every weight of a model.
#[derive(Debug, Clone)]
pub struct ModelWeights {
    /// `token_embd.weight` (`vocab × dim`).
    pub token_embd: DenseMatrix,
    /// `output_norm.weight` (`dim`).
    pub output_norm: Vec<f32>,
    /// `output.weight` (`vocab × dim`); `None`: tied to `token_embd`. After
    /// [`ModelWeights::requantize_head`] on a tied model, the re-encoded copy of
    /// `token_embd` (which stays for the embedding lookups).
    pub output: Option<DenseMatrix>,
    /// The blocks, in order.
    pub layers: Vec<LayerWeights>,
}

impl ModelWeights {
    /// Loads and checks every tensor of `file` for `config`.
    ///
    /// Errors: [`ModelError::MissingTensor`], [`ModelError::BadShape`],
    /// [`ModelError::BadTensorType`], and kernel errors on malformed data, each naming
    /// the tensor.
    pub fn from_gguf(file: &GgufFile, config: &ModelConfig) -> Result<ModelWeights, ModelError> {
        ModelWeights::from_gguf_with_progress(file, config, &mut |_, _| {})
    }

    /// [`ModelWeights::from_gguf`], calling `progress(done, total)` after the
    /// embeddings and after each block (`total` = blocks + 1), for a progress bar.
    pub fn from_gguf_with_progress(
        file: &GgufFile,
        config: &ModelConfig,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ModelWeights, ModelError> {
        let total = config.n_layers + 1;
        let (dim, kv, ffn, vocab) =
            (config.dim as u64, config.kv_dim() as u64, config.ffn_dim as u64, config.vocab_size as u64);
        let token_embd = dense(file, "token_embd.weight", [dim, vocab])?;
        let output_norm = vector(file, "output_norm.weight", dim)?;
        let output = match file.tensor("output.weight") {
            Some(_) => Some(dense(file, "output.weight", [dim, vocab])?),
            None => None,
        };
        progress(1, total);
        let layers = (0..config.n_layers)
            .map(|i| {
                let name = |t: &str| format!("blk.{i}.{t}");
                let lin = |t: &str, shape: [u64; 2]| linear(file, &name(t), shape);
                let layer = LayerWeights {
                    attn_norm: vector(file, &name("attn_norm.weight"), dim)?,
                    wq: lin("attn_q", [dim, dim])?,
                    wk: lin("attn_k", [dim, kv])?,
                    wv: lin("attn_v", [dim, kv])?,
                    attn_sub_norm: vector(file, &name("attn_sub_norm.weight"), dim)?,
                    wo: lin("attn_output", [dim, dim])?,
                    ffn_norm: vector(file, &name("ffn_norm.weight"), dim)?,
                    w_gate: lin("ffn_gate", [dim, ffn])?,
                    w_up: lin("ffn_up", [dim, ffn])?,
                    ffn_sub_norm: vector(file, &name("ffn_sub_norm.weight"), ffn)?,
                    w_down: lin("ffn_down", [ffn, dim])?,
                };
                progress(i + 2, total);
                Ok(layer)
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(ModelWeights { token_embd, output_norm, output, layers })
    }

    /// The output head: `output.weight`, or `token_embd.weight` when tied.
    pub fn head(&self) -> &DenseMatrix {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
}

/// The tensor `name`, present and of exactly `shape`, with a known type.
fn lookup<'a>(
    file: &'a GgufFile,
    name: &str,
    shape: &[u64],
) -> Result<(TensorView<'a>, GgmlType), ModelError> {
    let t = file.tensor(name).ok_or_else(|| ModelError::MissingTensor { name: name.to_string() })?;
    if t.shape() != shape {
        return Err(ModelError::BadShape {
            name: name.to_string(),
            expected: shape.to_vec(),
            found: t.shape().to_vec(),
        });
    }
    match t.ggml_type() {
        TensorType::Known(ty) => Ok((t, ty)),
        TensorType::Unknown(id) => Err(ModelError::BadTensorType {
            name: name.to_string(),
            found: format!("unknown id {id}"),
            expected: "a ggml type tern knows",
        }),
    }
}

fn bad_type(name: &str, ty: GgmlType, expected: &'static str) -> ModelError {
    ModelError::BadTensorType { name: name.to_string(), found: format!("{ty:?}"), expected }
}

/// A dense matrix of ggml shape `[cols, rows]`.
fn dense(file: &GgufFile, name: &str, [cols, rows]: [u64; 2]) -> Result<DenseMatrix, ModelError> {
    let (t, ty) = lookup(file, name, &[cols, rows])?;
    if ty.is_ternary() {
        return Err(bad_type(name, ty, "F32, F16, BF16, Q8_0, Q4_0 or Q6_K"));
    }
    DenseMatrix::new(ty, rows as usize, cols as usize, t.data()?.to_vec())
        .map_err(ModelError::kernel(format!("tensor \"{name}\"")))
}

/// A vector of `n` values, dequantized.
fn vector(file: &GgufFile, name: &str, n: u64) -> Result<Vec<f32>, ModelError> {
    let (t, ty) = lookup(file, name, &[n])?;
    if ty.is_ternary() {
        return Err(bad_type(name, ty, "F32, F16 or BF16"));
    }
    let ctx = || format!("tensor \"{name}\"");
    let m = DenseMatrix::new(ty, 1, n as usize, t.data()?.to_vec()).map_err(ModelError::kernel(ctx()))?;
    let mut out = vec![0f32; n as usize];
    m.dequantize_row(0, &mut out).map_err(ModelError::kernel(ctx()))?;
    Ok(out)
}

/// The ternary projection `{name}.weight` of ggml shape `[cols, rows]`, with its
/// optional `{name}.scale`.
fn linear(file: &GgufFile, name: &str, [cols, rows]: [u64; 2]) -> Result<Linear, ModelError> {
    let wname = format!("{name}.weight");
    let (t, ty) = lookup(file, &wname, &[cols, rows])?;
    if !ty.is_ternary() {
        return Err(bad_type(&wname, ty, "I2_S, TQ1_0 or TQ2_0"));
    }
    let weight = TernaryMatrix::from_ggml(ty, t.data()?, rows as usize, cols as usize)
        .map_err(ModelError::kernel(format!("tensor \"{wname}\"")))?;
    let sname = format!("{name}.scale");
    let scale = match file.tensor(&sname) {
        None => None,
        Some(_) => {
            let s = vector(file, &sname, 1)?[0];
            if !s.is_finite() {
                return Err(ModelError::Kernel {
                    context: format!("tensor \"{sname}\""),
                    source: tern_kernels::KernelError::BadScale { index: 0, value: s },
                });
            }
            Some(s)
        }
    };
    Ok(Linear { weight, scale })
}
