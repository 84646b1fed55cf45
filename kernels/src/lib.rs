//! tern's ternary kernels: I2_S / TQ1_0 / TQ2_0 formats, activation quantization
//! and GEMV / GEMM with a scalar reference and SIMD paths. No async, no I/O.
//!
//! Empty until the kernels issue lands (see `docs/architecture.md`).
