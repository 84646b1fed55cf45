use crate::error::{check_len, check_multiple, KernelError};

/// Rotary position embedding, NEOX style, in place on `x` = `n_heads × head_dim` values
/// (heads contiguous) at position `pos`.
///
/// For each head and `i` in `0..head_dim / 2`, with
/// `θ_i = pos · base^(-2i / head_dim)`, the pair `(x[i], x[i + head_dim/2])` becomes
///
/// ```text
/// x[i]              = x[i] · cos θ_i - x[i + d/2] · sin θ_i
/// x[i + d/2]        = x[i] · sin θ_i + x[i + d/2] · cos θ_i
/// ```
///
/// (pairs split across the two halves, not adjacent as in GPT-J / "normal" RoPE). The
/// angle and its cosine and sine are computed in f64 per `i`, then the rotation in f32;
/// ggml instead builds `θ` by repeated f32 multiplication by `base^(-2/d)`, so results
/// agree to f32 rounding of the angle, not bit for bit. Sources: GPT-NeoX
/// `RotaryEmbedding` + `rotate_half`; llama.cpp `ggml_rope` with `GGML_ROPE_TYPE_NEOX`
/// (`rope_yarn` without scaling, `ext_factor = 0`, `freq_scale = 1`).
///
/// Errors: `head_dim` zero or odd, `x.len()` not a multiple of `head_dim`.
pub fn rope_neox(x: &mut [f32], head_dim: usize, pos: usize, base: f32) -> Result<(), KernelError> {
    if head_dim == 0 {
        return check_len("rope head_dim (non-zero)", 2, 0);
    }
    check_multiple("rope head_dim", head_dim, 2)?;
    check_multiple("rope input", x.len(), head_dim)?;
    let half = head_dim / 2;
    for i in 0..half {
        let theta = pos as f64 * (base as f64).powf(-2.0 * i as f64 / head_dim as f64);
        let (sin, cos) = (theta.sin() as f32, theta.cos() as f32);
        for head in x.chunks_exact_mut(head_dim) {
            let (a, b) = (head[i], head[i + half]);
            head[i] = a * cos - b * sin;
            head[i + half] = a * sin + b * cos;
        }
    }
    Ok(())
}
