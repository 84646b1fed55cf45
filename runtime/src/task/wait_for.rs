//! [`wait_for`] (a time limit, asyncio's name) and the join/select combinators.

use std::future::IntoFuture;
use std::time::Duration;

pub use tern_reactor::time::{Elapsed, Timeout};

/// Runs `future` with a time limit: `Ok(output)` if it completes within
/// `duration`, `Err(Elapsed)` otherwise (the future is then dropped with the
/// returned [`Timeout`]). The same as [`tern_reactor::time::timeout`], under
/// asyncio's name.
///
/// ```
/// use std::time::Duration;
/// use tern_runtime::task::wait_for;
///
/// tern_runtime::Runtime::new().unwrap().block_on(async {
///     assert_eq!(wait_for(Duration::from_secs(1), async { 5 }).await, Ok(5));
///     let never = std::future::pending::<()>();
///     assert!(wait_for(Duration::from_millis(5), never).await.is_err());
/// });
/// ```
///
/// # Join and select
///
/// tern does not define its own combinators: the `futures` crate's work with any
/// executor, tern's included.
///
/// - **Join** (wait for all): `futures::join!(a, b)` for a fixed number of
///   futures, `futures::future::join_all(iter)` for many, `try_join!` /
///   `try_join_all` to stop at the first `Err`. They run the futures concurrently
///   inside the current task; use [`JoinSet`](super::JoinSet) or a
///   [`Nursery`](super::Nursery) to run them in parallel as tasks.
/// - **Select** (first one wins, the rest are dropped): `futures::select!` (its
///   futures must be fused and `Unpin`; use `futures::FutureExt::fuse` and
///   `std::pin::pin!`), `futures::future::select(a, b)` (gives back the loser),
///   `select_all` for many.
///
/// ```
/// use std::time::Duration;
/// use futures::future::{join_all, select, Either};
/// use futures::FutureExt;
/// use tern_reactor::time::sleep;
///
/// tern_runtime::Runtime::new().unwrap().block_on(async {
///     let (a, b) = futures::join!(async { 1 }, async { 2 });
///     assert_eq!(a + b, 3);
///
///     let all = join_all((0..3).map(|i| async move { i * 2 })).await;
///     assert_eq!(all, vec![0, 2, 4]);
///
///     let slow = std::pin::pin!(sleep(Duration::from_secs(5)));
///     let fast = std::pin::pin!(async { "fast" });
///     match select(slow, fast).await {
///         Either::Right((v, _slow)) => assert_eq!(v, "fast"),
///         Either::Left(_) => unreachable!(),
///     }
///
///     let mut tick = std::pin::pin!(sleep(Duration::from_millis(1)).fuse());
///     let mut never = std::pin::pin!(std::future::pending::<()>().fuse());
///     let winner = futures::select! {
///         _ = tick => "tick",
///         _ = never => "never",
///     };
///     assert_eq!(winner, "tick");
/// });
/// ```
///
/// # Panics
/// When the current runtime has no timer (a [`Builder`](crate::Builder) without
/// `enable_time`), or outside a runtime.
#[track_caller]
pub fn wait_for<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    tern_reactor::time::timeout(duration, future)
}
