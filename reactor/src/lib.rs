//! tern's reactor: the `mio` event loop, readiness and wakers, the hierarchical
//! timer wheel and the network types. It holds no executor: any executor can
//! drive it, and `tern-runtime` wires it into its workers.
//!
//! So far: the I/O driver over `mio` ([`io::Driver`], [`io::Registration`]), the
//! hierarchical timer wheel ([`time::Wheel`]) and the async timers on it
//! ([`time::sleep`], [`time::timeout`], [`time::interval`], driven through
//! [`time::Handle`]). Each is driven by hand (`io::Driver::turn`,
//! `time::Handle::process`); wiring them into the runtime's workers, the network
//! types and the hyper / futures-io adapters come with the rest of the reactor
//! issue (see `docs/architecture.md`).
#![warn(missing_docs)]

#[cfg(feature = "hyper")]
pub mod hyper;
pub mod io;
mod loom;
pub mod net;
pub mod time;
