//! `HyperExecutor`: hyper's executor trait on a tern runtime (feature `hyper`).

use std::future::Future;

use crate::Handle;

/// [`hyper::rt::Executor`] that spawns hyper's background futures (HTTP/2 streams, client
/// connections) as tern tasks on one runtime.
///
/// With `tern_reactor::hyper::HyperTimer` and tern's network types (which implement
/// `hyper::rt::{Read, Write}`), hyper 1.x serves and calls over tern with no tokio runtime
/// in the dependency tree.
///
/// ```
/// let rt = tern_runtime::Runtime::new().unwrap();
/// let exec = tern_runtime::HyperExecutor::from_handle(rt.handle().clone());
/// let (tx, rx) = std::sync::mpsc::channel();
/// hyper::rt::Executor::execute(&exec, async move { tx.send(7).unwrap() });
/// assert_eq!(rx.recv().unwrap(), 7);
/// ```
#[derive(Clone, Debug)]
pub struct HyperExecutor {
    handle: Handle,
}

impl HyperExecutor {
    /// An executor on the current runtime.
    ///
    /// # Panics
    /// Outside a runtime context (see [`Handle::current`]).
    #[track_caller]
    pub fn new() -> HyperExecutor {
        HyperExecutor { handle: Handle::current() }
    }

    /// An executor on the runtime `handle` refers to.
    pub fn from_handle(handle: Handle) -> HyperExecutor {
        HyperExecutor { handle }
    }
}

impl Default for HyperExecutor {
    fn default() -> Self {
        HyperExecutor::new()
    }
}

impl<F> hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // Detached: hyper tracks its own background work.
        drop(self.handle.spawn(future));
    }
}
