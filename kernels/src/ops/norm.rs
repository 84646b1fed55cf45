use crate::error::{check_len, KernelError};

/// RMSNorm: `out[i] = x[i] / sqrt(mean(x²) + eps) · weight[i]`.
///
/// The sum of squares is accumulated in f64 (as ggml's `rms_norm` does with
/// `ggml_float`); the scale `1 / sqrt(mean + eps)` is then applied in f32. An empty `x`
/// is a no-op. Sources: Zhang & Sennrich 2019; llama.cpp `ggml_compute_forward_rms_norm`
/// followed by the weight multiply.
///
/// Errors: `weight.len() != x.len()` or `out.len() != x.len()`.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) -> Result<(), KernelError> {
    check_len("rms_norm weight", x.len(), weight.len())?;
    check_len("rms_norm output", x.len(), out.len())?;
    if x.is_empty() {
        return Ok(());
    }
    let sum: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * g;
    }
    Ok(())
}
