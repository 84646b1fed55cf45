//! Ternary kernel throughput per path, as one table, beside the machine's memory-read
//! bandwidth measured in the same run.
//!
//! ```text
//! cargo run --release -p tern-benches --bin kernels_table            # about 1-2 minutes
//! cargo run --release -p tern-benches --bin kernels_table -- --quick # shorter timings
//! ```
//!
//! - **read bandwidth**: summing a 256 MiB `u64` buffer (8 independent accumulators, an
//!   auto-vectorized loop), 1 thread and 2 threads (each half the buffer).
//! - **GEMV, hot**: the same matrix every call (it stays in L2 / L3).
//! - **GEMV, streamed**: a ring of copies of the matrix totalling at least 96 MiB (3× this
//!   machine's 32 MiB L3), the next copy each call: the weights come from DRAM, as in
//!   decoding a real model. GB/s counts the packed weight bytes (2 bits per weight).
//! - 2 threads: the rows split in halves, one half per thread; the helper thread is a
//!   scoped thread started once per measurement and kept in lockstep by a spin barrier,
//!   so no thread start is timed.
//! - **GEMM**: GMAC/s (`rows × cols × n` multiply-adds per call) at n = 1, 4, 16, 64 on
//!   the streamed ring; "n=16 / GEMV" is `16 × t(GEMV) / t(GEMM n=16)`: tokens served
//!   per weight byte moved, relative to GEMV.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tern_kernels::{Kernels, Path, QuantizedActs, QuantizedBatch, TernaryMatrix};

const READ_BYTES: usize = 256 << 20;
const RING_BYTES: usize = 96 << 20;

/// (rows, cols, what).
const SHAPES: [(usize, usize, &str); 5] = [
    (256, 1024, "small, in L2"),
    (2560, 2560, "attn q/o"),
    (640, 2560, "attn k/v"),
    (6912, 2560, "ffn up/gate"),
    (2560, 6912, "ffn down"),
];

/// Runs `work(thread, iteration)` for `warm + iters` iterations on `threads` threads in
/// lockstep (all threads finish iteration i before any starts i + 1); returns the wall
/// time of the last `iters` (the helpers are running and warm when the clock starts).
fn lockstep(threads: usize, warm: usize, iters: usize, work: &(dyn Fn(usize, usize) + Sync)) -> Duration {
    let go = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let total = warm + iters;
    std::thread::scope(|s| {
        for tid in 1..threads {
            let (go, done) = (&go, &done);
            s.spawn(move || {
                for i in 0..total {
                    let mut n = 0u32;
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
            let mut n = 0u32;
            while done.load(Ordering::Acquire) < (threads - 1) * (i + 1) {
                spin(&mut n);
            }
        }
        t0.elapsed()
    })
}

/// One turn of a wait loop. No `pause` (`spin_loop`): on this KVM guest, pause loops
/// trigger pause-loop exits that deschedule the waiting vCPU for milliseconds. After a
/// while it yields, in case the thread it waits for shares its CPU.
#[inline(always)]
fn spin(n: &mut u32) {
    *n += 1;
    if *n & 4095 == 0 {
        std::thread::yield_now();
    }
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
}

/// Best (lowest) seconds per iteration over 5 runs of about `target` each: the
/// machine is shared, and interference only ever slows a run down.
fn time_per_iter(threads: usize, target: Duration, work: &(dyn Fn(usize, usize) + Sync)) -> f64 {
    let probe = lockstep(threads, 2, 3, work).as_secs_f64() / 3.0;
    let iters = ((target.as_secs_f64() / probe.max(1e-7)) as usize).clamp(3, 1_000_000);
    let v: Vec<f64> =
        (0..5).map(|_| lockstep(threads, 2, iters, work).as_secs_f64() / iters as f64).collect();
    v.into_iter().fold(f64::INFINITY, f64::min)
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

fn read_bandwidth(buf: &[u64], threads: usize, target: Duration) -> f64 {
    let part = buf.len() / threads;
    let t = time_per_iter(threads, target, &|tid, _| {
        black_box(sum_u64(&buf[tid * part..(tid + 1) * part]));
    });
    (part * threads * 8) as f64 / t / 1e9
}

/// xorshift64*: enough randomness for bench inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [-1, 1).
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

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let target = Duration::from_millis(if quick { 60 } else { 200 });
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let paths: Vec<Kernels> = Path::ALL
        .into_iter()
        .filter(|p| p.is_implemented())
        .filter_map(|p| Kernels::with_path(p).ok())
        .collect();
    println!(
        "paths: {:?} (detected best: {:?})",
        paths.iter().map(|k| k.path().name()).collect::<Vec<_>>(),
        Path::detect()
    );

    let buf: Vec<u64> = (0..READ_BYTES / 8).map(|i| i as u64).collect();
    let bw = [read_bandwidth(&buf, 1, target * 3), read_bandwidth(&buf, 2, target * 3)];
    drop(buf);
    println!("\nread bandwidth (256 MiB sum): 1 thread {:.1} GB/s, 2 threads {:.1} GB/s", bw[0], bw[1]);

    println!("\n## GEMV (GB/s of packed weights; % = of the read bandwidth with the same threads)\n");
    println!("| shape | weights | path | threads | hot GB/s | streamed GB/s | streamed % of read bw |");
    println!("|---|---:|---|---:|---:|---:|---:|");
    let mut gemm_rows = Vec::new();
    for &(rows, cols, what) in &SHAPES {
        let m = random_matrix(&mut rng, rows, cols);
        let bytes = m.blocks().len() * 32;
        let ring: Vec<TernaryMatrix> = (0..RING_BYTES.div_ceil(bytes)).map(|_| m.clone()).collect();
        let xf: Vec<f32> = (0..cols).map(|_| rng.f32()).collect();
        let x = QuantizedActs::from_f32(&xf);
        let xs16: Vec<f32> = (0..64 * cols).map(|_| rng.f32()).collect();
        for k in &paths {
            for threads in [1, 2] {
                let outs: Vec<std::sync::Mutex<Vec<f32>>> = (0..threads)
                    .map(|t| std::sync::Mutex::new(vec![0f32; split(rows, threads, t).len()]))
                    .collect();
                let gemv_on = |mats: &[TernaryMatrix]| {
                    time_per_iter(threads, target, &|tid, i| {
                        let mut o = outs[tid].lock().unwrap();
                        k.gemv(&mats[i % mats.len()], x.view(), split(rows, threads, tid), &mut o).unwrap();
                    })
                };
                let hot = gemv_on(std::slice::from_ref(&m));
                let cold = gemv_on(&ring);
                let gbs = |t: f64| bytes as f64 / t / 1e9;
                println!(
                    "| {rows}x{cols} ({what}) | {:.2} MiB | {} | {threads} | {:.1} | {:.1} | {:.0} % |",
                    bytes as f64 / (1 << 20) as f64,
                    k.path().name(),
                    gbs(hot),
                    gbs(cold),
                    100.0 * gbs(cold) / bw[threads - 1]
                );
                if rows >= 2560 && rows * cols >= 2560 * 2560 && (rows, cols) != (2560, 6912) {
                    let mut gm = Vec::new();
                    for n in [1usize, 4, 16, 64] {
                        let mut batch = QuantizedBatch::new(n, cols);
                        batch.quantize(&xs16[..n * cols]).unwrap();
                        let gouts: Vec<std::sync::Mutex<Vec<f32>>> = (0..threads)
                            .map(|t| std::sync::Mutex::new(vec![0f32; n * split(rows, threads, t).len()]))
                            .collect();
                        let t = time_per_iter(threads, target, &|tid, i| {
                            let mut o = gouts[tid].lock().unwrap();
                            k.gemm(&ring[i % ring.len()], &batch, split(rows, threads, tid), &mut o).unwrap();
                        });
                        gm.push(t);
                    }
                    gemm_rows.push((rows, cols, k.path().name(), threads, cold, gm));
                }
            }
        }
    }

    println!("\n## GEMM (streamed weights; GMAC/s; n=16 / GEMV = 16 t(GEMV) / t(GEMM n=16))\n");
    println!(
        "| shape | path | threads | GEMV GMAC/s | n=1 | n=4 | n=16 | n=64 | n=16 / GEMV per weight byte |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (rows, cols, path, threads, gemv_t, gm) in gemm_rows {
        let macs = (rows * cols) as f64;
        let g = |n: usize, t: f64| macs * n as f64 / t / 1e9;
        println!(
            "| {rows}x{cols} | {path} | {threads} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}x |",
            g(1, gemv_t),
            g(1, gm[0]),
            g(4, gm[1]),
            g(16, gm[2]),
            g(64, gm[3]),
            16.0 * gemv_t / gm[2]
        );
    }
}
