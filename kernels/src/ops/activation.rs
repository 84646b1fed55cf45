use crate::error::{check_len, KernelError};

/// Squared ReLU in place: `x = max(x, 0)²` (BitNet b1.58's FFN activation, `relu2`).
/// NaN stays NaN.
pub fn squared_relu(x: &mut [f32]) {
    for v in x.iter_mut() {
        let r = if *v > 0.0 || v.is_nan() { *v } else { 0.0 };
        *v = r * r;
    }
}

/// The gated FFN step `gate = max(gate, 0)² · up`, in place in `gate` (BitNet b1.58's
/// `ffn_down(relu2(ffn_gate(x)) * ffn_up(x))` between the projections).
///
/// Errors: `up.len() != gate.len()`.
pub fn squared_relu_gate(gate: &mut [f32], up: &[f32]) -> Result<(), KernelError> {
    check_len("squared_relu_gate up", gate.len(), up.len())?;
    squared_relu(gate);
    for (g, &u) in gate.iter_mut().zip(up) {
        *g *= u;
    }
    Ok(())
}
