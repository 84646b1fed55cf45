//! [`KvCache`]: the keys and values of one sequence, f16 or f32 ([`KvType`]), fixed
//! context length.
//!
//! Layout: for each layer, `context_length × kv_dim` keys and as many values, position
//! major (`k[layer][pos][kv_head · head_dim + d]`), so one position of one layer is one
//! contiguous slice and attention walks positions in order.
//!
//! With [`KvType::F16`] (the default, as llama.cpp's `--cache-type-k/v f16`) keys and
//! values are rounded to IEEE half on [`store`](KvCache::store) (round to nearest even)
//! and widened back to f32 as attention reads them ([`KvCache::dot_key`],
//! [`KvCache::axpy_value`]), so the arithmetic stays f32 and the error is that
//! rounding (at most `2⁻¹¹` of each element) plus the order of the f32 sums: the f16
//! reads use AVX2 + F16C + FMA where the CPU has them (8 lanes), a portable 8-lane loop
//! elsewhere. [`KvType::F32`] keeps keys and values exact and sums in sequence, as
//! before the f16 cache existed, bit for bit.

use std::fmt;
use std::str::FromStr;

use half::f16;
use half::slice::HalfFloatSliceExt;

use super::config::ModelConfig;
use super::error::ModelError;

/// How a [`KvCache`] stores keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KvType {
    /// 4 bytes per element, exact.
    F32,
    /// IEEE half, 2 bytes per element (round to nearest even on store). The default,
    /// as llama.cpp's.
    #[default]
    F16,
}

impl KvType {
    /// The CLI name: `f32` or `f16`.
    pub fn name(self) -> &'static str {
        match self {
            KvType::F32 => "f32",
            KvType::F16 => "f16",
        }
    }

    /// Bytes per stored element: 4 or 2.
    pub fn element_bytes(self) -> usize {
        match self {
            KvType::F32 => 4,
            KvType::F16 => 2,
        }
    }
}

impl fmt::Display for KvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KvType {
    type Err = ModelError;

    /// `f32` or `f16` (case-insensitive).
    ///
    /// Errors: [`ModelError::BadInput`] naming the accepted values.
    fn from_str(s: &str) -> Result<KvType, ModelError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" => Ok(KvType::F32),
            "f16" => Ok(KvType::F16),
            _ => Err(ModelError::BadInput(format!("KV cache type \"{s}\": expected f16 or f32"))),
        }
    }
}

/// Keys and values, one buffer each, in the cache's element type.
#[derive(Debug, Clone)]
enum Storage {
    F32 { k: Vec<f32>, v: Vec<f32> },
    F16 { k: Vec<f16>, v: Vec<f16> },
}

/// The f32 of the f16 with bits `h`, exact (every f16 is an f32), in branch-free safe
/// integer arithmetic, inlined into the portable loops and the SIMD tails (F. Giesen's
/// `half_to_float_fast5`): shift exponent and mantissa into place and rebias;
/// infinities and NaNs get the f32 maximal exponent, zeros and subnormals are made
/// normal and corrected by subtracting `2⁻¹⁴` exactly; then the sign. (`half`'s slice
/// conversions detect F16C per call and convert 8 elements per indirect call: reading
/// the cache through them made f16 decode at position 512 about 25 % slower than f32.)
#[inline(always)]
fn widen(h: u16) -> f32 {
    const SHIFTED_EXP: u32 = 0x7c00 << 13;
    const MAGIC: u32 = 113 << 23; // 2⁻¹⁴
    let mut o = (h as u32 & 0x7fff) << 13;
    let exp = o & SHIFTED_EXP;
    o += (127 - 15) << 23;
    // Masks, not branches, so the loops stay vectorized.
    let inf_nan = ((exp == SHIFTED_EXP) as u32).wrapping_neg();
    let sub = ((exp == 0) as u32).wrapping_neg();
    o += inf_nan & ((128 - 16) << 23);
    o += sub & (1 << 23);
    let f = f32::from_bits(o) - f32::from_bits(sub & MAGIC);
    f32::from_bits(f.to_bits() | ((h as u32 & 0x8000) << 16))
}

/// The f16 reads with AVX2 + F16C + FMA: 8 elements per `vcvtph2ps`, two 8-lane
/// accumulators for the dot product, one FMA per 8 elements for the axpy. They sum in
/// another order (and the axpy rounds once, not twice) than the portable [`dot_f16`] /
/// [`axpy_f16`]: both are deterministic, so a pooled step still equals an unpooled one,
/// but they agree with each other to rounding, not bit for bit.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use half::f16;

    use super::widen;

    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    }

    /// `Σ q[d] · k[d]`.
    ///
    /// # Safety
    /// [`available`] returned `true`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot(q: &[f32], k: &[f16]) -> f32 {
        assert_eq!(q.len(), k.len());
        let n = q.len();
        let (qp, kp) = (q.as_ptr(), k.as_ptr().cast::<u16>());
        let mut acc = [_mm256_setzero_ps(); 2];
        let mut i = 0;
        while i + 16 <= n {
            for (u, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `i + 8u + 8 <= n`: 8 f16s (16 bytes) and 8 f32s in bounds;
                // unaligned loads.
                let (kv, qv) = unsafe {
                    (_mm_loadu_si128(kp.add(i + 8 * u).cast()), _mm256_loadu_ps(qp.add(i + 8 * u)))
                };
                *acc = _mm256_fmadd_ps(qv, _mm256_cvtph_ps(kv), *acc);
            }
            i += 16;
        }
        if i + 8 <= n {
            // SAFETY: `i + 8 <= n`, as above.
            let (kv, qv) = unsafe { (_mm_loadu_si128(kp.add(i).cast()), _mm256_loadu_ps(qp.add(i))) };
            acc[0] = _mm256_fmadd_ps(qv, _mm256_cvtph_ps(kv), acc[0]);
            i += 8;
        }
        let s = _mm256_add_ps(acc[0], acc[1]);
        let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
        _mm_cvtss_f32(h) + q[i..].iter().zip(&k[i..]).map(|(a, b)| a * widen(b.to_bits())).sum::<f32>()
    }

    /// `out[d] += p · v[d]`.
    ///
    /// # Safety
    /// [`available`] returned `true`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn axpy(p: f32, v: &[f16], out: &mut [f32]) {
        assert_eq!(v.len(), out.len());
        let n = out.len();
        let (vp, op) = (v.as_ptr().cast::<u16>(), out.as_mut_ptr());
        let pv = _mm256_set1_ps(p);
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: `i + 8 <= n`: 8 f16s and 8 f32s in bounds; unaligned loads / store.
            unsafe {
                let vv = _mm256_cvtph_ps(_mm_loadu_si128(vp.add(i).cast()));
                _mm256_storeu_ps(op.add(i), _mm256_fmadd_ps(pv, vv, _mm256_loadu_ps(op.add(i))));
            }
            i += 8;
        }
        for (o, v) in out[i..].iter_mut().zip(&v[i..]) {
            *o += p * widen(v.to_bits());
        }
    }
}

/// Other targets: no SIMD path ([`available`](avx2::available) is `false`).
#[cfg(not(target_arch = "x86_64"))]
mod avx2 {
    use half::f16;

    pub(super) fn available() -> bool {
        false
    }

    pub(super) unsafe fn dot(_: &[f32], _: &[f16]) -> f32 {
        unreachable!("no AVX2 path on this target")
    }

    pub(super) unsafe fn axpy(_: f32, _: &[f16], _: &mut [f32]) {
        unreachable!("no AVX2 path on this target")
    }
}

/// `Σ q[d] · k[d]` with `k` widened from f16: eight running sums (lane `l` takes
/// `d ≡ l mod 8`, so the loop vectorizes), added pairwise at the end, then the tail.
/// Deterministic, but not the f32 cache's order (which sums `d` in sequence).
fn dot_f16(q: &[f32], k: &[f16]) -> f32 {
    let (qs, ks) = (q.chunks_exact(8), k.chunks_exact(8));
    let tail: f32 = qs.remainder().iter().zip(ks.remainder()).map(|(a, b)| a * widen(b.to_bits())).sum();
    let mut acc = [0f32; 8];
    for (q, k) in qs.zip(ks) {
        for ((acc, &q), k) in acc.iter_mut().zip(q).zip(k) {
            *acc += q * widen(k.to_bits());
        }
    }
    let [a, b, c, d, e, f, g, h] = acc;
    ((a + e) + (b + f)) + ((c + g) + (d + h)) + tail
}

/// `out[d] += p · v[d]` with `v` widened from f16 (the f32 cache's arithmetic).
fn axpy_f16(p: f32, v: &[f16], out: &mut [f32]) {
    let (os, vs) = (out.chunks_exact_mut(8), v.chunks_exact(8));
    let vr = vs.remainder();
    for (out, v) in os.zip(vs) {
        for (o, v) in out.iter_mut().zip(v) {
            *o += p * widen(v.to_bits());
        }
    }
    let n = out.len() - vr.len();
    for (o, v) in out[n..].iter_mut().zip(vr) {
        *o += p * widen(v.to_bits());
    }
}

/// Per-sequence attention cache of `len` positions (at most `capacity`).
#[derive(Debug, Clone)]
pub struct KvCache {
    n_layers: usize,
    kv_dim: usize,
    capacity: usize,
    len: usize,
    storage: Storage,
    /// Whether f16 reads go through [`avx2`] (AVX2, FMA and F16C detected at
    /// construction).
    simd: bool,
}

impl KvCache {
    /// An empty cache of the default type ([`KvType::F16`]) for `config` holding
    /// `context_length` positions (the file's `context_length` or the user's choice).
    /// See [`KvCache::with_type`].
    ///
    /// Errors: `context_length` zero or the size overflowing.
    pub fn new(config: &ModelConfig, context_length: usize) -> Result<KvCache, ModelError> {
        KvCache::with_type(config, context_length, KvType::default())
    }

    /// An empty cache of `kv_type` for `config` holding `context_length` positions.
    /// Allocates `2 × n_layers × context_length × kv_dim` elements up front: per
    /// position `2 × n_layers × kv_dim × 2` bytes with [`KvType::F16`], `× 4` with
    /// [`KvType::F32`] ([`KvCache::bytes_per_position`]); for a 2B4T-shape model
    /// (30 layers, kv_dim 640) 76.8 KB or 153.6 KB, so 315 MB or 629 MB at 4096
    /// positions.
    ///
    /// Errors: `context_length` zero or the size overflowing.
    pub fn with_type(
        config: &ModelConfig,
        context_length: usize,
        kv_type: KvType,
    ) -> Result<KvCache, ModelError> {
        if context_length == 0 {
            return Err(ModelError::BadInput("KV cache context length must not be zero".into()));
        }
        let n = config
            .n_layers
            .checked_mul(context_length)
            .and_then(|n| n.checked_mul(config.kv_dim()))
            .filter(|&n| n <= isize::MAX as usize / kv_type.element_bytes())
            .ok_or_else(|| {
                ModelError::BadInput(format!("KV cache of {context_length} positions is too large"))
            })?;
        let storage = match kv_type {
            KvType::F32 => Storage::F32 { k: vec![0.0; n], v: vec![0.0; n] },
            KvType::F16 => Storage::F16 { k: vec![f16::ZERO; n], v: vec![f16::ZERO; n] },
        };
        Ok(KvCache {
            n_layers: config.n_layers,
            kv_dim: config.kv_dim(),
            capacity: context_length,
            len: 0,
            storage,
            simd: avx2::available(),
        })
    }

    /// How keys and values are stored.
    pub fn kv_type(&self) -> KvType {
        match self.storage {
            Storage::F32 { .. } => KvType::F32,
            Storage::F16 { .. } => KvType::F16,
        }
    }

    /// Bytes one position takes, keys and values of every layer:
    /// `2 × n_layers × kv_dim × (2 or 4)`.
    pub fn bytes_per_position(&self) -> usize {
        2 * self.n_layers * self.kv_dim * self.kv_type().element_bytes()
    }

    /// Bytes of keys and values allocated: `capacity × bytes_per_position`.
    pub fn bytes(&self) -> usize {
        self.capacity * self.bytes_per_position()
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The fixed context length.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every position.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Keeps the first `len` positions (no-op if fewer are cached).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Whether the cache was built for a model of this shape.
    pub(crate) fn fits(&self, config: &ModelConfig) -> bool {
        self.n_layers == config.n_layers && self.kv_dim == config.kv_dim()
    }

    /// Sets the number of valid positions (`≤ capacity`, checked by the caller).
    pub(crate) fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.capacity);
        self.len = len;
    }

    fn offset(&self, layer: usize, pos: usize) -> usize {
        (layer * self.capacity + pos) * self.kv_dim
    }

    /// Stores the key and value (`kv_dim` each) of `layer` at `pos`, rounded to the
    /// cache's type. Panics when out of range (callers check).
    pub(crate) fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let o = self.offset(layer, pos);
        let range = o..o + self.kv_dim;
        match &mut self.storage {
            Storage::F32 { k: ks, v: vs } => {
                ks[range.clone()].copy_from_slice(k);
                vs[range].copy_from_slice(v);
            }
            Storage::F16 { k: ks, v: vs } => {
                ks[range.clone()].convert_from_f32_slice(k);
                vs[range].convert_from_f32_slice(v);
            }
        }
    }

    /// `Σ q[d] · k[layer][pos][offset + d]` over `d < q.len()`, summed in order in f32
    /// (f16 keys widened on the fly, no allocation). Panics when out of range.
    pub(crate) fn dot_key(&self, layer: usize, pos: usize, offset: usize, q: &[f32]) -> f32 {
        let o = self.offset(layer, pos) + offset;
        match &self.storage {
            Storage::F32 { k, .. } => q.iter().zip(&k[o..o + q.len()]).map(|(a, b)| a * b).sum::<f32>(),
            Storage::F16 { k, .. } => {
                let k = &k[o..o + q.len()];
                if self.simd {
                    // SAFETY: `simd` is set only where the CPU has AVX2, FMA and F16C;
                    // `k` has `q.len()` elements.
                    unsafe { avx2::dot(q, k) }
                } else {
                    dot_f16(q, k)
                }
            }
        }
    }

    /// `out[d] += p · v[layer][pos][offset + d]` over `d < out.len()` (f16 values
    /// widened on the fly, no allocation). Panics when out of range.
    pub(crate) fn axpy_value(&self, layer: usize, pos: usize, offset: usize, p: f32, out: &mut [f32]) {
        let o = self.offset(layer, pos) + offset;
        let n = out.len();
        match &self.storage {
            Storage::F32 { v, .. } => out.iter_mut().zip(&v[o..o + n]).for_each(|(o, &v)| *o += p * v),
            Storage::F16 { v, .. } => {
                let v = &v[o..o + n];
                if self.simd {
                    // SAFETY: as in `dot_key`; `v` has `out.len()` elements.
                    unsafe { avx2::axpy(p, v, out) }
                } else {
                    axpy_f16(p, v, out)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::GgufFile;
    use crate::model::{synth_bytes, SynthShape};

    /// Every one of the 65536 f16s widens to `half`'s f32 (NaNs to a NaN).
    #[test]
    fn widen_is_exact_for_every_f16() {
        for h in 0..=u16::MAX {
            let (got, want) = (widen(h), f16::from_bits(h).to_f32());
            if want.is_nan() {
                assert!(got.is_nan(), "{h:#06x}");
            } else {
                assert_eq!(got.to_bits(), want.to_bits(), "{h:#06x}: {got} vs {want}");
            }
        }
    }

    /// kv_dim 2 × 100: a head of 100 is not a multiple of 8.
    fn config() -> ModelConfig {
        let shape = SynthShape { dim: 400, n_heads: 4, n_kv_heads: 2, ..SynthShape::TINY };
        ModelConfig::from_gguf(&GgufFile::from_bytes(synth_bytes(shape, 1).unwrap()).unwrap()).unwrap()
    }

    fn row(pos: usize, kv_dim: usize, salt: f32) -> Vec<f32> {
        (0..kv_dim).map(|d| ((d * 7 + pos * 13) as f32 * 0.37 + salt).sin() * (1.0 + d as f32)).collect()
    }

    /// The caches to check: f32, f16 through the portable reads, and f16 through
    /// [`avx2`] where the CPU has it.
    fn caches(c: &ModelConfig, capacity: usize) -> Vec<KvCache> {
        let mut out = vec![KvCache::with_type(c, capacity, KvType::F32).unwrap()];
        let mut portable = KvCache::with_type(c, capacity, KvType::F16).unwrap();
        portable.simd = false;
        out.push(portable);
        if avx2::available() {
            out.push(KvCache::with_type(c, capacity, KvType::F16).unwrap());
        }
        out
    }

    /// Reading back through `dot_key` with unit vectors and `axpy_value` with `p = 1`
    /// gives exactly what was stored, rounded to the cache's type.
    #[test]
    fn reads_give_the_stored_rows_rounded_to_the_type() {
        let c = config();
        let (kv_dim, hd) = (c.kv_dim(), c.head_dim);
        assert_eq!((kv_dim, hd), (200, 100));
        for mut cache in caches(&c, 8) {
            let (kv, simd) = (cache.kv_type(), cache.simd);
            for layer in 0..c.n_layers {
                for pos in 0..8 {
                    cache.store(
                        layer,
                        pos,
                        &row(pos, kv_dim, layer as f32),
                        &row(pos, kv_dim, 9.0 + layer as f32),
                    );
                }
            }
            let round = |x: f32| if kv == KvType::F16 { f16::from_f32(x).to_f32() } else { x };
            for layer in 0..c.n_layers {
                for pos in 0..8 {
                    let (k, v) = (row(pos, kv_dim, layer as f32), row(pos, kv_dim, 9.0 + layer as f32));
                    for head in 0..2 {
                        let o = head * hd;
                        let mut out = vec![0f32; hd];
                        cache.axpy_value(layer, pos, o, 1.0, &mut out);
                        let want: Vec<f32> = v[o..o + hd].iter().map(|&x| round(x)).collect();
                        assert_eq!(out, want, "{kv} (simd {simd}) layer {layer} pos {pos} head {head}");
                        for d in [0, 7, 8, 15, 16, 63, 64, 95, 96, 99] {
                            let mut q = vec![0f32; hd];
                            q[d] = 1.0;
                            assert_eq!(
                                cache.dot_key(layer, pos, o, &q),
                                round(k[o + d]),
                                "{kv} (simd {simd}) {d}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The f16 dot products and axpys (portable and AVX2) equal the f32 ones on the
    /// rounded rows, to rounding (they sum in another order, the AVX2 axpy fuses).
    #[test]
    fn f16_arithmetic_is_f32_arithmetic_on_rounded_values() {
        let c = config();
        let kv_dim = c.kv_dim();
        let mut all = caches(&c, 4);
        let rounded = |r: Vec<f32>| r.into_iter().map(|x| f16::from_f32(x).to_f32()).collect::<Vec<_>>();
        for pos in 0..4 {
            let (k, v) = (row(pos, kv_dim, 1.0), row(pos, kv_dim, 2.0));
            all[0].store(0, pos, &rounded(k.clone()), &rounded(v.clone()));
            for half in &mut all[1..] {
                half.store(0, pos, &k, &v);
            }
        }
        // Lengths that exercise the 16-, 8- and 1-element steps of each path.
        for (o, len) in [(0, 100), (100, 100), (3, 16), (17, 8), (40, 7), (0, 200)] {
            let q = row(99, len, 3.0);
            for pos in 0..4 {
                let exact = all[0].dot_key(0, pos, o, &q);
                let mut y = q.clone();
                all[0].axpy_value(0, pos, o, 0.3, &mut y);
                for half in &all[1..] {
                    let a = half.dot_key(0, pos, o, &q);
                    let scale = q.iter().map(|x| x.abs()).sum::<f32>() * 200.0;
                    assert!((a - exact).abs() <= 1e-6 * scale, "simd {}: {a} vs {exact}", half.simd);
                    let mut x = q.clone();
                    half.axpy_value(0, pos, o, 0.3, &mut x);
                    let scale = y.iter().fold(1f32, |m, v| m.max(v.abs()));
                    for (x, y) in x.iter().zip(&y) {
                        assert!((x - y).abs() <= 1e-6 * scale, "simd {}: {x} vs {y}", half.simd);
                    }
                }
            }
        }
    }
}
