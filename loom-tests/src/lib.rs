//! loom models of tern's concurrency protocols: see `tests/` and `README.md`.
//!
//! This library is empty; every model is an integration test compiled only with
//! `RUSTFLAGS="--cfg loom"`.
