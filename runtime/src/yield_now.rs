//! `yield_now`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields to the scheduler once: the task is requeued behind the tasks already
/// waiting (never into the LIFO slot), then resumes.
///
/// "Already waiting" means the worker's local queue plus, when tasks wait in the
/// global injector (spawned or woken from outside the runtime), the worker's fair
/// share of them (injector length / workers + 1), which it moves ahead of the
/// yielding task. On the current-thread scheduler that is every waiting task.
///
/// ```
/// tern_runtime::Runtime::new_current_thread().block_on(async {
///     tern_runtime::yield_now().await;
/// });
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Waking ourselves while running sets NOTIFIED; the harness then requeues
        // the task with `Schedule::yield_now`, at the back of the queue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
