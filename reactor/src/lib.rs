//! tern's reactor: the `mio` event loop, readiness and wakers, the hierarchical
//! timer wheel and the network types. It holds no executor: any executor can
//! drive it, and `tern-runtime` wires it into its workers.
//!
//! Empty until the reactor issue lands (see `docs/architecture.md`).
