//! The smallest tern program: start the runtime, spawn, await.
//!
//! `cargo run --release --example hello`

fn main() {
    let total = tern::runtime::block_on(async {
        let handles: Vec<_> = (1..=10u64).map(|i| tern::runtime::spawn(async move { i * i })).collect();
        let mut total = 0;
        for h in handles {
            total += h.await.expect("task panicked");
        }
        total
    });
    println!("sum of squares 1..=10 computed by 10 tasks: {total}");
}
