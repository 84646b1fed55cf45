//! `task::Builder`: spawn with options.

use std::future::Future;
use std::sync::Arc;

use super::JoinHandle;
use crate::Handle;

/// Spawns a task with a name (visible in panics via [`super::JoinError`] and in
/// [`crate::Handle::task_name`]).
///
/// ```
/// let rt = tern_runtime::Runtime::new_current_thread();
/// rt.block_on(async {
///     let h = tern_runtime::task::Builder::new().name("worker-1").spawn(async { 7 });
///     assert_eq!(h.await.unwrap(), 7);
/// });
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<Arc<str>>,
}

impl Builder {
    /// A builder with no name set.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The task's name.
    pub fn name(mut self, name: &str) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Spawns on the current runtime.
    ///
    /// # Panics
    /// Outside a runtime context (see [`Handle::current`]).
    #[cfg_attr(feature = "tracing", track_caller)]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_on(future, &Handle::current())
    }

    /// Spawns on the runtime behind `handle`.
    #[cfg_attr(feature = "tracing", track_caller)]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.spawn_named(future, self.name)
    }
}
