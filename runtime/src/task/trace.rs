//! tokio-console-compatible task instrumentation (feature `tracing`).
//!
//! With the feature on, every task gets a span named `runtime.spawn` with target
//! `tokio::task`, and its wakers emit events with target `tokio::task::waker`.
//! The `tokio::` targets are deliberate: `console-subscriber` (and so
//! tokio-console) recognises tasks and waker operations by these exact span
//! names, targets and field names, whatever runtime emits them, and users'
//! `EnvFilter`s written for tokio (`tokio=trace`) keep working.
//!
//! Span fields: `kind` (`"task"` / `"blocking"`), `task.name` (only for named
//! tasks), `task.id` (tern's [`Id`](super::Id) as a number), `loc.file`,
//! `loc.line`, `loc.col` (where the task was spawned, via `#[track_caller]`).
//! Waker events: `op` (`"waker.wake"`, `"waker.wake_by_ref"`, `"waker.clone"`,
//! `"waker.drop"`) and `task.id`, which, as in tokio, is the *span*'s id
//! (`tracing::Id::into_u64`): that is how the console ties a waker operation
//! to its task.
//!
//! The span is stored in the task header only with the feature on; without it
//! every function here is an empty inline function and the task stays 64 bytes.

use super::raw::Header;

/// What kind of task a span describes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// An async task.
    Task,
    /// A blocking-pool job.
    Blocking,
}

/// Where and as what a task was spawned (empty without the feature).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpawnMeta {
    #[cfg(feature = "tracing")]
    kind: Kind,
    #[cfg(feature = "tracing")]
    location: &'static std::panic::Location<'static>,
}

impl SpawnMeta {
    /// Captures the caller's location (through every `#[track_caller]` frame).
    #[inline(always)]
    #[cfg_attr(feature = "tracing", track_caller)]
    pub(crate) fn new(kind: Kind) -> SpawnMeta {
        #[cfg(not(feature = "tracing"))]
        let _ = kind;
        SpawnMeta {
            #[cfg(feature = "tracing")]
            kind,
            #[cfg(feature = "tracing")]
            location: std::panic::Location::caller(),
        }
    }
}

#[cfg(feature = "tracing")]
mod imp {
    use super::{Header, Kind, SpawnMeta};
    use crate::task::Id;

    /// The span slot in the header.
    pub(crate) type Slot = std::cell::UnsafeCell<tracing::Span>;

    pub(crate) fn empty_slot() -> Slot {
        std::cell::UnsafeCell::new(tracing::Span::none())
    }

    /// Creates the task's span and stores it in its header.
    ///
    /// # Safety
    /// No poll, waker or deallocation of the task may have happened or run
    /// concurrently: call it between registration and the first schedule, while
    /// the caller holds the task's Notified and JoinHandle references. (Shutdown
    /// may cancel the task meanwhile; cancellation never touches the span.)
    pub(crate) unsafe fn install(header: &Header, meta: SpawnMeta, name: Option<&str>, id: Id) {
        let kind = match meta.kind {
            Kind::Task => "task",
            Kind::Blocking => "blocking",
        };
        let span = tracing::trace_span!(
            target: "tokio::task",
            parent: None,
            "runtime.spawn",
            kind = kind,
            task.name = name,
            task.id = id.as_u64(),
            loc.file = meta.location.file(),
            loc.line = meta.location.line(),
            loc.col = meta.location.column(),
        );
        // SAFETY: per the contract nobody else reads or writes the slot now, and
        // the queue hand-off of the first Notified publishes the write.
        unsafe { *header.span.get() = span };
    }

    fn span(header: &Header) -> &tracing::Span {
        // SAFETY: written once by `install` before any poll or waker exists, then
        // only read until the task is deallocated.
        unsafe { &*header.span.get() }
    }

    /// Enters the task's span for one poll.
    #[inline]
    pub(crate) fn enter(header: &Header) -> tracing::span::Entered<'_> {
        span(header).enter()
    }

    /// Emits a waker event for the task (while the caller's reference keeps it alive).
    #[inline]
    pub(crate) fn waker(header: &Header, op: &'static str) {
        if let Some(id) = span(header).id() {
            tracing::trace!(target: "tokio::task::waker", op = op, task.id = id.into_u64());
        }
    }
}

#[cfg(not(feature = "tracing"))]
mod imp {
    use super::Header;

    /// What `enter` returns without the feature: nothing.
    pub(crate) struct NotEntered;

    /// Nothing to enter without the feature.
    #[inline(always)]
    pub(crate) fn enter(_: &Header) -> NotEntered {
        NotEntered
    }

    /// No events without the feature.
    #[inline(always)]
    pub(crate) fn waker(_: &Header, _: &'static str) {}
}

pub(crate) use imp::*;
