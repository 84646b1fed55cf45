//! Ternary kernel benches: GEMV GB/s of packed weights beside the memory-read bandwidth
//! measured in the same run, and GEMM GMAC/s, per kernel path.
//!
//! ```text
//! cargo bench -p tern-benches --bench kernels                 # about 3 minutes
//! cargo bench -p tern-benches --bench kernels -- gemv/2560x   # a subset
//! cargo bench -p tern-benches --bench kernels -- --test       # each once, as a smoke test
//! ```
//!
//! Groups (criterion ids):
//!
//! - `mem_read/{1,2}t`: summing a 256 MiB `u64` buffer (larger than the 32 MiB L3) with an
//!   auto-vectorized loop; 2 threads each sum half. `Throughput::Bytes`.
//! - `gemv/{rows}x{cols}/{path}/{1,2}t/{hot,streamed}`: f32 GEMV, per-tensor scale.
//!   `hot`: the same matrix every call (L2 / L3 resident); `streamed`: a ring of copies
//!   totalling at least 96 MiB, the next copy each call, so the weights come from DRAM as
//!   in real decoding. `Throughput::Bytes` = packed weight bytes. With 2 threads the rows
//!   are split in halves; the helper is a scoped thread started once per sample and kept
//!   in lockstep by a spin barrier (the kernels own no threads).
//! - `gemm/{rows}x{cols}/{path}/n{n}`: f32 GEMM, 1 thread, hot, n = 1, 4, 16, 64;
//!   `Throughput::Elements` = multiply-adds (`rows × cols × n`), so criterion's
//!   "elem/s" reads as MAC/s.
//!
//! - `head_gemv/32000x2560/{f16,q8_0,q4_0,q6k}/{path}`: the dense output-head GEMV (f32
//!   activations in; `Q8_0` / `Q4_0` / `Q6_K` quantize them to `Q8_0` blocks inside the
//!   call and take integer dots) per head encoding, 1 thread, at a 32000-token vocabulary
//!   (the 2B4T head is 128256 × 2560; this keeps the bench short). The matrix (164, 87,
//!   46, 67 MB) does not fit in cache, so each call streams it. `Throughput::Bytes` =
//!   matrix bytes. (`Q6_K` heads are random valid super-blocks: the crate has no `Q6_K`
//!   encoder, and the kernels' speed does not depend on the values.)
//! - `head_gemm16/32000x2560/{f16,q8_0,q4_0,q6k}/{path}`: the dense output-head GEMM for 16
//!   tokens (a batched decode step of 16 sequences; f32 activations in, quantized inside
//!   the call as for `head_gemv`), 1 thread. `Throughput::Elements` = multiply-adds (`rows × cols × 16`).
//!
//! Paths: every path this CPU runs with its own code (`scalar`, `avx2`, and
//! `avx512vnni` where the CPU has it); for `Q6_K` heads also `f32-dequant`, the scalar
//! f32-activation product (`tern_kernels::scalar::dense`) that `Q6_K` heads ran on
//! before their Q8-activation kernels. `benches/src/bin/kernels_table.rs` prints the same
//! measurements as one table.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tern_kernels::formats::{float, q4_0, q6_k, q8_0};
use tern_kernels::scalar::dense;
use tern_kernels::{DenseMatrix, GgmlType, Kernels, Path, QuantizedActs, QuantizedBatch, TernaryMatrix};

const READ_BYTES: usize = 256 << 20;
const RING_BYTES: usize = 96 << 20;
/// BitNet b1.58 2B4T's projection shapes and a small in-cache one.
const SHAPES: [(usize, usize); 5] = [(256, 1024), (2560, 2560), (640, 2560), (6912, 2560), (2560, 6912)];
const GEMM_SHAPES: [(usize, usize); 2] = [(2560, 2560), (6912, 2560)];

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .without_plots()
}

fn paths() -> Vec<Kernels> {
    Path::ALL.into_iter().filter(|p| p.is_implemented()).filter_map(|p| Kernels::with_path(p).ok()).collect()
}

/// One turn of a wait loop: no `pause` (on a KVM guest pause loops can deschedule the
/// vCPU for milliseconds), and a yield now and then.
#[inline(always)]
fn spin(n: &mut u32) {
    *n += 1;
    if *n & 4095 == 0 {
        std::thread::yield_now();
    }
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
}

/// Runs `work(thread, iteration)` for 2 untimed + `iters` timed iterations on `threads`
/// threads in lockstep; returns the time of the timed ones.
fn lockstep(threads: usize, iters: u64, work: &(dyn Fn(usize, usize) + Sync)) -> Duration {
    let (warm, total) = (2, 2 + iters as usize);
    let go = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for tid in 1..threads {
            let (go, done) = (&go, &done);
            s.spawn(move || {
                for i in 0..total {
                    let mut n = 0;
                    while go.load(Ordering::Acquire) <= i {
                        spin(&mut n);
                    }
                    work(tid, i);
                    done.fetch_add(1, Ordering::Release);
                }
            });
        }
        let mut t0 = Instant::now();
        for i in 0..total {
            if i == warm {
                t0 = Instant::now();
            }
            go.store(i + 1, Ordering::Release);
            work(0, i);
            let mut n = 0;
            while done.load(Ordering::Acquire) < (threads - 1) * (i + 1) {
                spin(&mut n);
            }
        }
        t0.elapsed()
    })
}

/// xorshift64*: bench inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

fn random_matrix(rng: &mut Rng, rows: usize, cols: usize) -> TernaryMatrix {
    let v: Vec<i8> = (0..rows * cols).map(|_| (rng.next() % 3) as i8 - 1).collect();
    TernaryMatrix::from_values(rows, cols, &v, 0.5).unwrap()
}

fn split(rows: usize, threads: usize, tid: usize) -> std::ops::Range<usize> {
    let per = rows.div_ceil(threads);
    (tid * per).min(rows)..((tid + 1) * per).min(rows)
}

fn sum_u64(buf: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    for c in buf.chunks_exact(8) {
        for (a, v) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(*v);
        }
    }
    acc.iter().fold(0, |a, b| a.wrapping_add(*b))
}

fn mem_read(c: &mut Criterion) {
    let buf: Vec<u64> = (0..READ_BYTES / 8).map(|i| i as u64).collect();
    let mut g = c.benchmark_group("mem_read");
    g.throughput(Throughput::Bytes(READ_BYTES as u64));
    for threads in [1, 2] {
        let part = buf.len() / threads;
        g.bench_function(format!("{threads}t"), |b| {
            b.iter_custom(|iters| {
                lockstep(threads, iters, &|tid, _| {
                    black_box(sum_u64(&buf[tid * part..(tid + 1) * part]));
                })
            })
        });
    }
    g.finish();
}

fn gemv(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (rows, cols) in SHAPES {
        let m = random_matrix(&mut rng, rows, cols);
        let bytes = m.blocks().len() * 32;
        let ring: Vec<TernaryMatrix> = (0..RING_BYTES.div_ceil(bytes)).map(|_| m.clone()).collect();
        let xf: Vec<f32> = (0..cols).map(|_| rng.f32()).collect();
        let x = QuantizedActs::from_f32(&xf);
        let mut g = c.benchmark_group(format!("gemv/{rows}x{cols}"));
        g.throughput(Throughput::Bytes(bytes as u64));
        for k in paths() {
            for threads in [1, 2] {
                let outs: Vec<Mutex<Vec<f32>>> =
                    (0..threads).map(|t| Mutex::new(vec![0f32; split(rows, threads, t).len()])).collect();
                for (mode, mats) in [("hot", std::slice::from_ref(&m)), ("streamed", &ring[..])] {
                    g.bench_function(format!("{}/{threads}t/{mode}", k.path().name()), |b| {
                        b.iter_custom(|iters| {
                            lockstep(threads, iters, &|tid, i| {
                                let mut o = outs[tid].lock().unwrap();
                                let w = &mats[i % mats.len()];
                                k.gemv(w, x.view(), split(rows, threads, tid), &mut o).unwrap();
                            })
                        })
                    });
                }
            }
        }
        g.finish();
    }
}

fn gemm(c: &mut Criterion) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for (rows, cols) in GEMM_SHAPES {
        let m = random_matrix(&mut rng, rows, cols);
        let xs: Vec<f32> = (0..64 * cols).map(|_| rng.f32()).collect();
        let mut g = c.benchmark_group(format!("gemm/{rows}x{cols}"));
        for k in paths() {
            for n in [1usize, 4, 16, 64] {
                let mut batch = QuantizedBatch::new(n, cols);
                batch.quantize(&xs[..n * cols]).unwrap();
                let mut out = vec![0f32; n * rows];
                g.throughput(Throughput::Elements((rows * cols * n) as u64));
                g.bench_function(format!("{}/n{n}", k.path().name()), |b| {
                    b.iter(|| k.gemm(&m, &batch, 0..rows, black_box(&mut out)).unwrap())
                });
            }
        }
        g.finish();
    }
}

/// The output-head shape of [`head_gemv`]: a 32000-token vocabulary at 2B4T's width.
const HEAD_SHAPE: (usize, usize) = (32000, 2560);

/// A random `rows × cols` head in format `ty`, encoded row by row (no full f32 copy of
/// the matrix); `Q6_K`: random bytes (every pattern is a valid super-block) with
/// `d = 2^-10`.
fn head_matrix(ty: GgmlType, rows: usize, cols: usize, rng: &mut Rng) -> DenseMatrix {
    if ty == GgmlType::Q6K {
        let mut bytes: Vec<u8> =
            (0..rows * cols / q6_k::BLOCK_VALUES * q6_k::BLOCK_BYTES).map(|_| rng.next() as u8).collect();
        for sb in bytes.chunks_exact_mut(q6_k::BLOCK_BYTES) {
            sb[208..210].copy_from_slice(&0x1400u16.to_le_bytes());
        }
        return DenseMatrix::new(ty, rows, cols, bytes).unwrap();
    }
    let mut row = vec![0f32; cols];
    let mut bytes = Vec::new();
    for _ in 0..rows {
        row.iter_mut().for_each(|v| *v = rng.f32());
        bytes.extend(match ty {
            GgmlType::F16 => float::f32_to_f16_bytes(&row),
            GgmlType::Q8_0 => q8_0::quantize(&row).unwrap(),
            _ => q4_0::quantize(&row).unwrap(),
        });
    }
    DenseMatrix::new(ty, rows, cols, bytes).unwrap()
}

fn head_gemv(c: &mut Criterion) {
    let (rows, cols) = HEAD_SHAPE;
    let mut rng = Rng(0x6a09_e667_f3bc_c908);
    let x: Vec<f32> = (0..cols).map(|_| rng.f32()).collect();
    let mut out = vec![0f32; rows];
    let mut g = c.benchmark_group(format!("head_gemv/{rows}x{cols}"));
    for ty in [GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q6K] {
        let m = head_matrix(ty, rows, cols, &mut rng);
        g.throughput(Throughput::Bytes(ty.tensor_bytes(rows * cols).unwrap() as u64));
        let name = format!("{ty:?}").to_ascii_lowercase();
        for k in paths() {
            g.bench_function(format!("{name}/{}", k.path().name()), |b| {
                b.iter(|| k.dense_gemv(&m, black_box(&x), 0..rows, black_box(&mut out)).unwrap())
            });
        }
        if ty == GgmlType::Q6K {
            // What `Q6_K` heads ran on before they had Q8-activation kernels.
            g.bench_function(format!("{name}/f32-dequant"), |b| {
                b.iter(|| dense::gemv(&m, black_box(&x), 0..rows, black_box(&mut out)).unwrap())
            });
        }
    }
    g.finish();
}

/// Tokens per call in [`head_gemm16`]: a batched decode step of 16 sequences.
const HEAD_GEMM_TOKENS: usize = 16;

fn head_gemm16(c: &mut Criterion) {
    let (rows, cols) = HEAD_SHAPE;
    let n = HEAD_GEMM_TOKENS;
    let mut rng = Rng(0xbb67_ae85_84ca_a73b);
    let xs: Vec<f32> = (0..n * cols).map(|_| rng.f32()).collect();
    let mut out = vec![0f32; n * rows];
    let mut g = c.benchmark_group(format!("head_gemm16/{rows}x{cols}"));
    g.throughput(Throughput::Elements((rows * cols * n) as u64));
    for ty in [GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q6K] {
        let m = head_matrix(ty, rows, cols, &mut rng);
        let name = format!("{ty:?}").to_ascii_lowercase();
        for k in paths() {
            g.bench_function(format!("{name}/{}", k.path().name()), |b| {
                b.iter(|| k.dense_gemm(&m, black_box(&xs), 0..rows, black_box(&mut out)).unwrap())
            });
        }
        if ty == GgmlType::Q6K {
            // As in `head_gemv`.
            g.bench_function(format!("{name}/f32-dequant"), |b| {
                b.iter(|| dense::gemm(&m, black_box(&xs), 0..rows, black_box(&mut out)).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = kernels;
    config = config();
    targets = mem_read, gemv, gemm, head_gemv, head_gemm16
}
criterion_main!(kernels);
