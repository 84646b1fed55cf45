//! The portable scalar path: the reference every SIMD path must match.
//!
//! The functions here validate their arguments like the dispatched entry points in
//! [`crate::dispatch`] do, so they can be called directly in tests and comparisons.

pub mod dense;
pub mod dense_q8;
pub mod ternary;
