/// Numerically stable softmax in place: `x[i] = exp(x[i] - max) / Σ_j exp(x[j] - max)`.
///
/// Subtracting the maximum keeps every exponent ≤ 0, so nothing overflows; the sum is
/// accumulated in f64. `-inf` entries become 0 (masked positions). An empty slice is a
/// no-op; if every entry is `-inf` (or any is NaN) the result is NaN, since the
/// distribution is undefined.
pub fn softmax(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}
