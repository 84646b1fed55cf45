//! The two schedulers behind a `Handle`.

pub(crate) mod current_thread;
pub mod multi_thread;

use std::sync::Arc;

#[derive(Clone)]
pub(crate) enum Scheduler {
    Current(Arc<current_thread::Shared>),
    Multi(Arc<multi_thread::Shared>),
}
