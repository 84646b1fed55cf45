//! Task memory: the size of tern's task allocation, and the heap bytes each
//! parked task costs on tern, tokio and async-executor, measured with a
//! counting global allocator.
//!
//! For each runtime (1 worker thread): start and shut down one runtime of that
//! kind unmeasured (one-time lazy initialisation), start another, let it settle,
//! record the heap in use, spawn 100,000 tasks that stay pending forever (in
//! chunks of 1,000, waiting until each chunk has been polled once), record the
//! heap again, then shut the runtime down and record what is left compared
//! with before it was built (a leak check). The per-task figure is the heap
//! delta divided by the task count, so it includes everything the runtime
//! allocates per task (task cell, ownership-list / slab entries, queue growth),
//! not only the task cell.
//!
//! Run with `cargo run --release -p tern-benches --bin task_size`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tern_benches::{parked_task, ratio, spawn_parked, AsyncExecutorRt, BenchRuntime, TernRt, TokioRt};

/// Wraps the system allocator and keeps two running totals of the bytes
/// currently allocated: as requested (`Layout::size`) and as reported by
/// `malloc_usable_size` (what glibc actually set aside, size-class rounding
/// included, malloc's own chunk header excluded).
struct Counting;

static REQUESTED: AtomicIsize = AtomicIsize::new(0);
static USABLE: AtomicIsize = AtomicIsize::new(0);

fn usable_size(ptr: *mut u8) -> isize {
    // SAFETY: `ptr` is a live block returned by the system allocator (glibc's
    // malloc family on Linux), which is what `malloc_usable_size` accepts.
    unsafe { libc::malloc_usable_size(ptr.cast()) as isize }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the counters are only
// bookkeeping and never influence what is returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's (non-zero-size) layout.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            REQUESTED.fetch_add(layout.size() as isize, Relaxed);
            USABLE.fetch_add(usable_size(ptr), Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's (non-zero-size) layout.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            REQUESTED.fetch_add(layout.size() as isize, Relaxed);
            USABLE.fetch_add(usable_size(ptr), Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        REQUESTED.fetch_sub(layout.size() as isize, Relaxed);
        USABLE.fetch_sub(usable_size(ptr), Relaxed);
        // SAFETY: `ptr` was allocated by `System` (through us) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_usable = usable_size(ptr);
        // SAFETY: `ptr` was allocated by `System` (through us) with `layout`;
        // the caller upholds `realloc`'s contract for `new_size`.
        let new_ptr = unsafe { System.realloc(ptr, layout, new_size) };
        if !new_ptr.is_null() {
            REQUESTED.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
            USABLE.fetch_add(usable_size(new_ptr) - old_usable, Relaxed);
        }
        new_ptr
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const TASKS: usize = 100_000;
const CHUNK: usize = 1_000;

#[derive(Clone, Copy)]
struct Heap {
    requested: isize,
    usable: isize,
}

fn heap() -> Heap {
    Heap { requested: REQUESTED.load(Relaxed), usable: USABLE.load(Relaxed) }
}

struct Row {
    name: &'static str,
    requested_per_task: f64,
    usable_per_task: f64,
    left_after_shutdown: isize,
}

fn measure<R: BenchRuntime>() -> Row {
    // A first runtime of this kind, started and shut down unmeasured, so one-time
    // lazy initialisation (thread-locals, globals) does not count as a leak.
    let warm_up = R::with_workers(1);
    warm_up.block_on(<R::Spawner as tern_benches::Spawner>::spawn(&warm_up.spawner(), async {}));
    warm_up.shutdown();

    let start = heap();
    let rt = R::with_workers(1);
    let spawner = rt.spawner();
    // Let the worker start and park, and warm the spawn path once (a task that
    // completes, so nothing of it stays allocated).
    rt.block_on(<R::Spawner as tern_benches::Spawner>::spawn(&spawner, async {}));
    thread::sleep(Duration::from_millis(100));

    let before = heap();
    spawn_parked(&spawner, TASKS, CHUNK);
    thread::sleep(Duration::from_millis(100));
    let parked = heap();

    drop(spawner);
    rt.shutdown();
    thread::sleep(Duration::from_millis(100));
    let after = heap();

    Row {
        name: R::NAME,
        requested_per_task: (parked.requested - before.requested) as f64 / TASKS as f64,
        usable_per_task: (parked.usable - before.usable) as f64 / TASKS as f64,
        left_after_shutdown: after.requested - start.requested,
    }
}

fn tern_size_of<F>(_: &F) -> usize
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tern_runtime::task_allocation_size::<F>()
}

fn main() {
    let trivial = tern_size_of(&async {});
    let parked = tern_size_of(&parked_task(Arc::default()));
    println!(
        "tern task_allocation_size: `async {{}}` = {trivial} B; the parked task used below = {parked} B"
    );
    println!();
    println!(
        "{TASKS} tasks parked on a never-ready future, 1 worker thread, heap delta / {TASKS} (counting global allocator)"
    );
    println!();

    let rows = [measure::<TernRt>(), measure::<TokioRt>(), measure::<AsyncExecutorRt>()];
    let tern = &rows[0];

    println!(
        "| {:<15} | {:>21} | {:>24} | {:>21} | {:>13} | {:>23} |",
        "runtime",
        "task allocation (B)",
        "heap B/task (requested)",
        "heap B/task (usable)",
        "vs tern (req)",
        "left after shutdown (B)"
    );
    println!("|{:-<17}|{:->23}|{:->26}|{:->23}|{:->15}|{:->25}|", "", "", "", "", "", "");
    for row in &rows {
        let alloc = if row.name == "tern" { parked.to_string() } else { "not exposed".to_string() };
        println!(
            "| {:<15} | {:>21} | {:>24.1} | {:>21.1} | {:>13} | {:>23} |",
            row.name,
            alloc,
            row.requested_per_task,
            row.usable_per_task,
            ratio(row.requested_per_task, tern.requested_per_task),
            row.left_after_shutdown
        );
    }
    println!();
    for row in &rows[1..] {
        println!(
            "tern / {}: {} (requested bytes), {} (usable bytes)  [< 1 means tern uses less]",
            row.name,
            ratio(tern.requested_per_task, row.requested_per_task),
            ratio(tern.usable_per_task, row.usable_per_task)
        );
    }
}
