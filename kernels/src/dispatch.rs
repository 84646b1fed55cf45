//! Kernel path selection and the dispatched GEMV / GEMM entry points.
//!
//! A [`Path`] names an instruction-set path. [`Kernels`] holds the one chosen for a
//! process or a test: [`Kernels::from_env`] reads `TERN_KERNEL_PATH`
//! (`auto` or unset: the best path this CPU supports; `scalar`, `avx2`, `avx512vnni`,
//! `neon`, `neondot`: force that path, an error if this CPU cannot run it),
//! [`Kernels::detect`] picks the best supported path, [`Kernels::with_path`] forces one. [`global`] caches
//! `from_env` once per process, and the free functions here go through it.
//!
//! Detection (run time, `std::arch`): `Avx512Vnni` needs `avx512f`, `avx512bw`,
//! `avx512vl` and `avx512vnni` (and `avx2` + `fma`, which every such CPU has); `Avx2` needs `avx2` and `fma`; `Neon` is `neon` on
//! aarch64; `NeonDot` needs `neon` and `dotprod`; `Scalar` is always available.
//!
//! # Status of the ternary GEMV / GEMM paths
//!
//! | path | implementation | tested |
//! | --- | --- | --- |
//! | `Scalar` | portable Rust, the reference ([`crate::scalar::ternary`]) | everywhere |
//! | `Avx2` | `maddubs` on 32-byte blocks, `i16` accumulation widened every 16 blocks; GEMM tiles of 2 rows × 4 tokens (each decoded weight block feeds 4 tokens, each activation vector 2 rows) | on AVX2 machines (the development machine) |
//! | `Avx512Vnni` | `vpdpbusd` on 256-bit vectors (`_mm256_dpbusd_epi32`) into `i32` lanes, same tiling | **the instruction is untested here** (no AVX-512 on the development machine, nor in QEMU): the equivalence tests run it automatically where the CPU has it; its tile code is tested everywhere with an exact AVX2 emulation of `vpdpbusd` (unit tests in `x86::vnni`) |
//! | `Neon` | `smull` / `smlal` into `i16`, widened with `sadalp` every block; same tiling | under QEMU only (`tools/cross-aarch64.sh`, `-cpu cortex-a72` and `max`): no aarch64 hardware here |
//! | `NeonDot` | `sdot` (`asm!`: `vdotq_s32` is unstable), same tiling | under QEMU only (`-cpu max`) |
//!
//! [`Kernels::path`] reports the path selected, [`Kernels::effective_path`] the code
//! that actually runs (today always the selected path: every path a CPU supports is
//! implemented for its architecture). Every path produces the same integers as
//! [`crate::scalar::ternary::gemv_i32`] / [`crate::scalar::ternary::gemm_i32`] and
//! bit-identical f32 results to [`crate::scalar::ternary::gemv`] /
//! [`crate::scalar::ternary::gemm`] (per-tensor and per-block scales: the SIMD paths
//! compute the exact integer dots and then perform the scalar path's float operations
//! in the same order).
//!
//! # The dense (output head) products
//!
//! | matrix | activations | scalar path | x86 SIMD paths (`Avx2`, `Avx512Vnni`) | aarch64 (`Neon`, `NeonDot`) |
//! | --- | --- | --- | --- | --- |
//! | `Q8_0`, `Q4_0` | `Q8_0` blocks ([`Q8Acts`]), as ggml's `vec_dot_q8_0_q8_0` / `vec_dot_q4_0_q8_0` | [`crate::scalar::dense_q8`] | AVX2 integer dots per block (`x86/dense_q8.rs`) | NEON / `sdot` integer dots per block (`aarch64/dense_q8.rs`) |
//! | `Q6_K` | `Q8_0` blocks ([`Q8Acts`]), as ggml's `vec_dot_q6_K_q8_K` but with a float step per 32 values | [`crate::scalar::dense_q8`] | AVX2 integer dots per 16-value sub-block, scaled in integers (`x86/dense_q6k.rs`) | NEON / `sdot` integer dots per sub-block (`aarch64/dense_q6k.rs`) |
//! | `F16` | f32 | [`crate::scalar::dense`] | AVX2 + F16C + FMA (`x86/dense_f16.rs`) | the scalar code |
//! | `F32`, `BF16` | f32 | [`crate::scalar::dense`] | the scalar code | the scalar code |
//!
//! The x86 SIMD column: `Avx512Vnni` runs the AVX2 head kernels (every such CPU has
//! AVX2, FMA and F16C); only the ternary kernels have VNNI versions.
//!
//! `Q8_0` / `Q4_0` / `Q6_K`: the SIMD results are bit-identical to the scalar path's,
//! whatever the batch size or row split (exact integer dot per 32-value activation
//! block, then the same fused multiply-add per block in the same order). `F16`: equal to
//! the scalar path to f32 rounding, not bit for bit. [`Kernels::dense_gemv`] /
//! [`Kernels::dense_gemm`] take f32 activations for every format and, for `Q8_0` /
//! `Q4_0` / `Q6_K` ([`Kernels::dense_uses_q8`]), quantize them first; a caller that
//! splits one product into parts quantizes once with [`Kernels::quantize_q8`] and calls
//! [`Kernels::dense_gemv_q8`] / [`Kernels::dense_gemm_q8`] per part.
//!
//! NEON: rustup cannot add the `aarch64-unknown-linux-gnu` target on the development
//! machine (no network), so the aarch64 build uses Debian's Rust and its arm64 standard
//! library, and the tests run under QEMU user-mode emulation: `tools/cross-aarch64.sh`
//! runs the whole kernels suite with `-cpu max` (both NEON paths) and `-cpu cortex-a72`
//! (no `dotprod`: `Neon` only). That checks results, not speed: the NEON paths have not
//! been timed on real hardware.

use std::ops::Range;
use std::sync::OnceLock;

use crate::dense::DenseMatrix;
use crate::error::KernelError;
use crate::quant::{ActsView, QuantizedBatch};
use crate::quant_q8::Q8Acts;
use crate::scalar;
use crate::ternary::TernaryMatrix;

/// The environment variable that forces a kernel path.
pub const ENV_VAR: &str = "TERN_KERNEL_PATH";

/// An instruction-set path for the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// Portable Rust, the reference.
    Scalar,
    /// x86-64 AVX2 (+ FMA): `maddubs` on 32-byte blocks.
    Avx2,
    /// x86-64 AVX-512 with VNNI (`vpdpbusd`).
    Avx512Vnni,
    /// aarch64 NEON (Advanced SIMD) without the dot-product extension: `smull` /
    /// `smlal` into `i16`, widened with `sadalp`.
    Neon,
    /// aarch64 NEON with the dot-product extension (`FEAT_DotProd`): `sdot`.
    NeonDot,
}

impl Path {
    /// Every path, best last.
    pub const ALL: [Path; 5] = [Path::Scalar, Path::Neon, Path::NeonDot, Path::Avx2, Path::Avx512Vnni];

    /// The lower-case name used by `TERN_KERNEL_PATH`.
    pub fn name(self) -> &'static str {
        match self {
            Path::Scalar => "scalar",
            Path::Avx2 => "avx2",
            Path::Avx512Vnni => "avx512vnni",
            Path::Neon => "neon",
            Path::NeonDot => "neondot",
        }
    }

    /// Parses a `TERN_KERNEL_PATH` name (case-insensitive, surrounding spaces ignored).
    ///
    /// Errors: [`KernelError::UnknownPath`].
    pub fn from_name(name: &str) -> Result<Path, KernelError> {
        let n = name.trim().to_ascii_lowercase();
        Path::ALL
            .into_iter()
            .find(|p| p.name() == n)
            .ok_or_else(|| KernelError::UnknownPath(name.to_string()))
    }

    /// Whether this CPU can run the path (run-time detection).
    pub fn is_supported(self) -> bool {
        match self {
            Path::Scalar => true,
            Path::Avx2 => {
                #[cfg(target_arch = "x86_64")]
                {
                    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    false
                }
            }
            Path::Avx512Vnni => {
                #[cfg(target_arch = "x86_64")]
                {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                        && std::arch::is_x86_feature_detected!("avx512f")
                        && std::arch::is_x86_feature_detected!("avx512bw")
                        && std::arch::is_x86_feature_detected!("avx512vl")
                        && std::arch::is_x86_feature_detected!("avx512vnni")
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    false
                }
            }
            Path::Neon => {
                #[cfg(target_arch = "aarch64")]
                {
                    std::arch::is_aarch64_feature_detected!("neon")
                }
                #[cfg(not(target_arch = "aarch64"))]
                {
                    false
                }
            }
            Path::NeonDot => {
                #[cfg(target_arch = "aarch64")]
                {
                    std::arch::is_aarch64_feature_detected!("neon")
                        && std::arch::is_aarch64_feature_detected!("dotprod")
                }
                #[cfg(not(target_arch = "aarch64"))]
                {
                    false
                }
            }
        }
    }

    /// The best path this CPU supports.
    pub fn detect() -> Path {
        Path::ALL.into_iter().rev().find(|p| p.is_supported()).unwrap_or(Path::Scalar)
    }

    /// Whether the path has its own ternary GEMV / GEMM implementation in this build
    /// (`Scalar`; `Avx2` / `Avx512Vnni` on x86-64; `Neon` / `NeonDot` on aarch64).
    pub fn is_implemented(self) -> bool {
        match self {
            Path::Scalar => true,
            Path::Avx2 | Path::Avx512Vnni => cfg!(target_arch = "x86_64"),
            Path::Neon | Path::NeonDot => cfg!(target_arch = "aarch64"),
        }
    }
}

/// Resolves a `TERN_KERNEL_PATH` value: `None`, empty or `auto` detect; a path name
/// must be supported by this CPU.
///
/// Errors: [`KernelError::UnknownPath`], [`KernelError::UnsupportedPath`].
pub fn resolve(value: Option<&str>) -> Result<Path, KernelError> {
    match value.map(str::trim) {
        None | Some("") => Ok(Path::detect()),
        Some(v) if v.eq_ignore_ascii_case("auto") => Ok(Path::detect()),
        Some(v) => {
            let p = Path::from_name(v)?;
            if p.is_supported() {
                Ok(p)
            } else {
                Err(KernelError::UnsupportedPath(p))
            }
        }
    }
}

/// Runs the ternary kernel `$f` on `$k`'s effective path.
macro_rules! simd {
    ($k:expr, $f:ident($($a:expr),*)) => {
        match $k.effective_path() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a `Kernels` only ever holds a path this CPU supports (every
            // constructor checks `Path::is_supported`), and `Avx2` support is run-time
            // detected `avx2` + `fma`, the features the AVX2 tile kernels enable.
            Path::Avx2 => unsafe { crate::simd::ternary::$f::<crate::x86::avx2::Avx2>($($a),*) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above; `Avx512Vnni` support is detected `avx2`, `fma`,
            // `avx512f`, `avx512bw`, `avx512vl` and `avx512vnni`, the VNNI kernels' features.
            Path::Avx512Vnni => unsafe { crate::simd::ternary::$f::<crate::x86::vnni::Vnni>($($a),*) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above; `Neon` support is detected `neon`, the feature the plain
            // NEON tile kernels enable.
            Path::Neon => unsafe { crate::simd::ternary::$f::<crate::aarch64::neon::Neon>($($a),*) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above; `NeonDot` support is detected `neon` and `dotprod`, the
            // features of the `sdot` tile kernels.
            Path::NeonDot => unsafe { crate::simd::ternary::$f::<crate::aarch64::dotprod::NeonDot>($($a),*) },
            _ => scalar::ternary::$f($($a),*),
        }
    };
}

/// A chosen kernel path and the entry points that run on it.
///
/// Invariant: the path is supported by this CPU (every constructor checks), which is
/// what makes running its SIMD code sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernels {
    path: Path,
}

impl Kernels {
    /// The best path this CPU supports.
    pub fn detect() -> Kernels {
        Kernels { path: Path::detect() }
    }

    /// The scalar reference path.
    pub fn scalar() -> Kernels {
        Kernels { path: Path::Scalar }
    }

    /// Forces `path`.
    ///
    /// Errors: [`KernelError::UnsupportedPath`] when this CPU cannot run it.
    pub fn with_path(path: Path) -> Result<Kernels, KernelError> {
        if path.is_supported() {
            Ok(Kernels { path })
        } else {
            Err(KernelError::UnsupportedPath(path))
        }
    }

    /// From `TERN_KERNEL_PATH` (see [`resolve`]). A value that is not valid Unicode
    /// counts as an unknown path.
    pub fn from_env() -> Result<Kernels, KernelError> {
        let value = std::env::var_os(ENV_VAR);
        let value = match &value {
            Some(v) => {
                Some(v.to_str().ok_or_else(|| KernelError::UnknownPath(v.to_string_lossy().into_owned()))?)
            }
            None => None,
        };
        resolve(value).map(|path| Kernels { path })
    }

    /// The selected path.
    pub fn path(&self) -> Path {
        self.path
    }

    /// The path whose code actually runs: the selected one if implemented, else
    /// `Scalar` (no such case today: every supported path is implemented).
    pub fn effective_path(&self) -> Path {
        if self.path.is_implemented() {
            self.path
        } else {
            Path::Scalar
        }
    }

    /// Ternary integer GEMV, see [`scalar::ternary::gemv_i32`].
    pub fn gemv_i32(
        &self,
        w: &TernaryMatrix,
        x: ActsView<'_>,
        rows: Range<usize>,
        out: &mut [i32],
    ) -> Result<(), KernelError> {
        simd!(self, gemv_i32(w, x, rows, out))
    }

    /// Ternary f32 GEMV, see [`scalar::ternary::gemv`].
    pub fn gemv(
        &self,
        w: &TernaryMatrix,
        x: ActsView<'_>,
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        simd!(self, gemv(w, x, rows, out))
    }

    /// Ternary integer GEMM, see [`scalar::ternary::gemm_i32`].
    pub fn gemm_i32(
        &self,
        w: &TernaryMatrix,
        xs: &QuantizedBatch,
        rows: Range<usize>,
        out: &mut [i32],
    ) -> Result<(), KernelError> {
        simd!(self, gemm_i32(w, xs, rows, out))
    }

    /// Ternary f32 GEMM, see [`scalar::ternary::gemm`].
    pub fn gemm(
        &self,
        w: &TernaryMatrix,
        xs: &QuantizedBatch,
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        simd!(self, gemm(w, xs, rows, out))
    }

    /// Whether the dense products of `w` run on `Q8_0`-block activations: `Q8_0`, `Q4_0`
    /// and `Q6_K` matrices, on every path (see the [module docs](self)).
    pub fn dense_uses_q8(&self, w: &DenseMatrix) -> bool {
        scalar::dense_q8::supports(w.ggml_type())
    }

    /// Quantizes `xs` (`n × cols` f32 activations, token-major) to `Q8_0` blocks for
    /// [`Kernels::dense_gemv_q8`] / [`Kernels::dense_gemm_q8`]; see [`Q8Acts`]. The same
    /// scalar code on every path (it is cheap next to a product).
    ///
    /// Errors: `cols` not a multiple of 32, `xs.len()` not a multiple of `cols`.
    pub fn quantize_q8(&self, xs: &[f32], cols: usize) -> Result<Q8Acts, KernelError> {
        Q8Acts::from_f32(xs, cols)
    }

    /// Dense (output head) GEMV with f32 activations. For `Q8_0` / `Q4_0` / `Q6_K`
    /// matrices ([`Kernels::dense_uses_q8`]) `x` is quantized to `Q8_0` blocks first (a
    /// small allocation per call) and the result is [`Kernels::dense_gemv_q8`]'s; every
    /// other format: [`scalar::dense::gemv`]'s definition.
    pub fn dense_gemv(
        &self,
        w: &DenseMatrix,
        x: &[f32],
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        if self.dense_uses_q8(w) {
            return self.dense_gemv_q8(w, &self.quantize_q8(x, w.cols())?, rows, out);
        }
        #[cfg(target_arch = "x86_64")]
        if self.path != Path::Scalar && crate::x86::dense_f16::applies(w) {
            // SAFETY: `applies` checked the matrix is F16 and the CPU has AVX2, FMA, F16C.
            return unsafe { crate::x86::dense_f16::gemv(w, x, rows, out) };
        }
        scalar::dense::gemv(w, x, rows, out)
    }

    /// Dense (output head) GEMM with f32 activations (`xs`: `n × cols`, token-major).
    /// For `Q8_0` / `Q4_0` / `Q6_K` matrices ([`Kernels::dense_uses_q8`]) `xs` is
    /// quantized to `Q8_0` blocks first (one allocation per call) and the result is
    /// [`Kernels::dense_gemm_q8`]'s; every other format: [`scalar::dense::gemm`]'s
    /// definition.
    pub fn dense_gemm(
        &self,
        w: &DenseMatrix,
        xs: &[f32],
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        if self.dense_uses_q8(w) {
            return self.dense_gemm_q8(w, &self.quantize_q8(xs, w.cols())?, rows, out);
        }
        #[cfg(target_arch = "x86_64")]
        if self.path != Path::Scalar && crate::x86::dense_f16::applies(w) {
            // SAFETY: `applies` checked the matrix is F16 and the CPU has AVX2, FMA, F16C.
            return unsafe { crate::x86::dense_f16::gemm(w, xs, rows, out) };
        }
        scalar::dense::gemm(w, xs, rows, out)
    }

    /// Dense GEMV of a `Q8_0` / `Q4_0` / `Q6_K` matrix with the single token of `x`, see
    /// [`scalar::dense_q8::gemv`].
    pub fn dense_gemv_q8(
        &self,
        w: &DenseMatrix,
        x: &Q8Acts,
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        #[cfg(target_arch = "x86_64")]
        if self.path != Path::Scalar && crate::x86::dense_q8::applies(w) {
            // SAFETY: `applies` checked the matrix is Q8_0, Q4_0 or Q6_K and the CPU has
            // AVX2, FMA, F16C.
            return unsafe { crate::x86::dense_q8::gemv(w, x, rows, out) };
        }
        #[cfg(target_arch = "aarch64")]
        if crate::aarch64::dense_q8::applies(self.path, w) {
            // SAFETY: `applies` checked the matrix is Q8_0, Q4_0 or Q6_K and the path is
            // `Neon` or `NeonDot`, which this CPU supports (a `Kernels` invariant).
            return unsafe { crate::aarch64::dense_q8::gemv(self.path, w, x, rows, out) };
        }
        scalar::dense_q8::gemv(w, x, rows, out)
    }

    /// Dense GEMM of a `Q8_0` / `Q4_0` / `Q6_K` matrix with every token of `xs`
    /// (token-major output), see [`scalar::dense_q8::gemm`].
    pub fn dense_gemm_q8(
        &self,
        w: &DenseMatrix,
        xs: &Q8Acts,
        rows: Range<usize>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        #[cfg(target_arch = "x86_64")]
        if self.path != Path::Scalar && crate::x86::dense_q8::applies(w) {
            // SAFETY: `applies` checked the matrix is Q8_0, Q4_0 or Q6_K and the CPU has
            // AVX2, FMA, F16C.
            return unsafe { crate::x86::dense_q8::gemm(w, xs, rows, out) };
        }
        #[cfg(target_arch = "aarch64")]
        if crate::aarch64::dense_q8::applies(self.path, w) {
            // SAFETY: as in `dense_gemv_q8`.
            return unsafe { crate::aarch64::dense_q8::gemm(self.path, w, xs, rows, out) };
        }
        scalar::dense_q8::gemm(w, xs, rows, out)
    }
}

static GLOBAL: OnceLock<Result<Kernels, KernelError>> = OnceLock::new();

/// The process-wide [`Kernels`], resolved from `TERN_KERNEL_PATH` on first use and
/// cached (later changes to the variable are not seen).
///
/// Errors: the variable names an unknown path or one this CPU cannot run (the same
/// error on every call).
pub fn global() -> Result<Kernels, KernelError> {
    GLOBAL.get_or_init(Kernels::from_env).clone()
}

/// [`Kernels::gemv`] on the [`global`] path.
pub fn gemv(
    w: &TernaryMatrix,
    x: ActsView<'_>,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    global()?.gemv(w, x, rows, out)
}

/// [`Kernels::gemv_i32`] on the [`global`] path.
pub fn gemv_i32(
    w: &TernaryMatrix,
    x: ActsView<'_>,
    rows: Range<usize>,
    out: &mut [i32],
) -> Result<(), KernelError> {
    global()?.gemv_i32(w, x, rows, out)
}

/// [`Kernels::gemm`] on the [`global`] path.
pub fn gemm(
    w: &TernaryMatrix,
    xs: &QuantizedBatch,
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    global()?.gemm(w, xs, rows, out)
}

/// [`Kernels::gemm_i32`] on the [`global`] path.
pub fn gemm_i32(
    w: &TernaryMatrix,
    xs: &QuantizedBatch,
    rows: Range<usize>,
    out: &mut [i32],
) -> Result<(), KernelError> {
    global()?.gemm_i32(w, xs, rows, out)
}

/// [`Kernels::dense_gemv`] on the [`global`] path.
pub fn dense_gemv(
    w: &DenseMatrix,
    x: &[f32],
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    global()?.dense_gemv(w, x, rows, out)
}

/// [`Kernels::dense_gemm`] on the [`global`] path.
pub fn dense_gemm(
    w: &DenseMatrix,
    xs: &[f32],
    rows: Range<usize>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    global()?.dense_gemm(w, xs, rows, out)
}
