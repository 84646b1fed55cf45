//! The two schedulers behind a `Handle`.

mod core_context;
pub(crate) mod current_thread;
pub mod multi_thread;

use std::sync::Arc;

pub(crate) use core_context::CoreContext;

#[derive(Clone)]
pub(crate) enum Scheduler {
    Current(Arc<current_thread::Shared>),
    Multi(Arc<multi_thread::Shared>),
}
