//! Async synchronization primitives and channels (in progress).
//!
//! Channels: [`mpsc`], [`oneshot`], [`broadcast`], [`watch`], and the bounded
//! [`priority_queue`].

pub mod broadcast;
pub mod mpsc;
pub mod oneshot;
pub mod priority_queue;
pub mod watch;
