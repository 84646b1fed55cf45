use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn smoke_multi_and_current() {
    let v = tern_runtime::block_on(async {
        let hs: Vec<_> = (0..1000u64).map(|i| tern_runtime::spawn(async move { i })).collect();
        let mut s = 0;
        for h in hs {
            s += h.await.unwrap();
        }
        s
    });
    assert_eq!(v, 999 * 1000 / 2);
    let rt = tern_runtime::Runtime::new_current_thread();
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    rt.block_on(async move {
        for _ in 0..100 {
            let n = n2.clone();
            tern_runtime::spawn(async move {
                tern_runtime::yield_now().await;
                n.fetch_add(1, Ordering::SeqCst);
            })
            .await
            .unwrap();
        }
    });
    assert_eq!(n.load(Ordering::SeqCst), 100);
}
