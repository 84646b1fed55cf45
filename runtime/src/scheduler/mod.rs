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

impl Scheduler {
    /// The runtime's driver (I/O events and timers).
    pub(crate) fn driver(&self) -> &crate::driver::SharedDriver {
        match self {
            Scheduler::Current(s) => s.driver(),
            Scheduler::Multi(s) => s.driver(),
        }
    }
}
