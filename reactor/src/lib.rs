//! tern's reactor: the `mio` event loop, readiness and wakers, the hierarchical
//! timer wheel and the network types. It holds no executor: any executor can
//! drive it, and `tern-runtime` wires it into its workers.
//!
//! So far it holds the timer wheel's data structure, [`time::Wheel`]; the event
//! loop, the async timer layer and the network types come with the rest of the
//! reactor issue (see `docs/architecture.md`).
#![warn(missing_docs)]

pub mod time;
