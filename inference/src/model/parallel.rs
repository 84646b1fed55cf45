//! Matrix products split by output rows across the model's [`ComputePool`].
//!
//! A product is cut into parts of whole rows (about four per thread, so a slow
//! thread takes fewer); GEMV parts write straight into their rows of `out`. GEMM
//! output is token-major (`out[t · rows + r]`), so each part writes its rows for
//! every token into its own contiguous block (`n × part_rows`), and a final copy
//! moves the blocks into place. Small products (under [`MIN_SPLIT_WEIGHTS`]
//! weights) and a pool of one thread run on the caller, unsplit.

use std::ops::Range;

use parking_lot::Mutex;
use tern_kernels::{DenseMatrix, KernelError, Kernels, QuantizedBatch, TernaryMatrix};
use tern_runtime::compute::ComputePool;

/// Products with fewer weights than this are not split (the fork-join would cost
/// more than it saves).
pub(crate) const MIN_SPLIT_WEIGHTS: usize = 1 << 16;

/// Parts per thread: finer parts balance load when one thread starts late.
const PARTS_PER_THREAD: usize = 4;

/// Rows per part for a `rows × cols` product, or `None` to run it unsplit.
fn part_rows(pool: Option<&ComputePool>, rows: usize, cols: usize) -> Option<usize> {
    let threads = pool.map_or(1, ComputePool::threads);
    if threads < 2 || rows.saturating_mul(cols) < MIN_SPLIT_WEIGHTS || rows < 16 {
        return None;
    }
    let per = rows.div_ceil(threads * PARTS_PER_THREAD);
    Some(per.next_multiple_of(8).min(rows))
}

/// Runs `kernel(rows, out)` over row parts of a product with `n` tokens,
/// writing token-major `out` (`n × rows`).
fn split_rows<K>(
    pool: Option<&ComputePool>,
    rows: usize,
    cols: usize,
    n: usize,
    out: &mut [f32],
    kernel: K,
) -> Result<(), KernelError>
where
    K: Fn(Range<usize>, &mut [f32]) -> Result<(), KernelError> + Sync,
{
    let (Some(pool), Some(per)) = (pool, part_rows(pool, rows, cols)) else {
        return kernel(0..rows, out);
    };
    let failed = Mutex::new(None);
    let run = |part: usize, chunk: &mut [f32]| {
        let r0 = part * per;
        let r1 = (r0 + per).min(rows);
        if let Err(e) = kernel(r0..r1, chunk) {
            failed.lock().get_or_insert(e);
        }
    };
    if n == 1 {
        pool.par_chunks_mut(out, per, run);
    } else {
        // Part-major blocks, then back to token-major.
        let mut blocks = vec![0f32; n * rows];
        pool.par_chunks_mut(&mut blocks, n * per, run);
        for (part, block) in blocks.chunks(n * per).enumerate() {
            let r0 = part * per;
            let len = block.len() / n;
            for (t, src) in block.chunks_exact(len).enumerate() {
                out[t * rows + r0..t * rows + r0 + len].copy_from_slice(src);
            }
        }
    }
    failed.into_inner().map_or(Ok(()), Err)
}

/// `out = W · acts` for every token of `acts` (token-major `n × rows`): GEMV for
/// one token, GEMM otherwise, split across `pool`.
pub(crate) fn ternary(
    kernels: &Kernels,
    pool: Option<&ComputePool>,
    w: &TernaryMatrix,
    acts: &QuantizedBatch,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let n = acts.n_tokens();
    split_rows(pool, w.rows(), w.cols(), n, out, |rows, chunk| {
        if n == 1 {
            kernels.gemv(w, acts.token(0), rows, chunk)
        } else {
            kernels.gemm(w, acts, rows, chunk)
        }
    })
}

/// `out = W · xs` for the `xs.len() / cols` f32 tokens (the output head),
/// token-major, split across `pool`. A `Q8_0` / `Q4_0` / `Q6_K` head
/// ([`Kernels::dense_uses_q8`]) takes `Q8_0`-block activations: they are quantized once
/// here, before the split, not once per part.
pub(crate) fn dense(
    kernels: &Kernels,
    pool: Option<&ComputePool>,
    w: &DenseMatrix,
    xs: &[f32],
    out: &mut [f32],
) -> Result<(), KernelError> {
    if kernels.dense_uses_q8(w) {
        let acts = kernels.quantize_q8(xs, w.cols())?;
        let n = acts.n_tokens();
        return split_rows(pool, w.rows(), w.cols(), n, out, |rows, chunk| {
            if n == 1 {
                kernels.dense_gemv_q8(w, &acts, rows, chunk)
            } else {
                kernels.dense_gemm_q8(w, &acts, rows, chunk)
            }
        });
    }
    let n = xs.len() / w.cols().max(1);
    split_rows(pool, w.rows(), w.cols(), n, out, |rows, chunk| {
        if n == 1 {
            kernels.dense_gemv(w, xs, rows, chunk)
        } else {
            kernels.dense_gemm(w, xs, rows, chunk)
        }
    })
}
