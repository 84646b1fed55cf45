//! Token sampling ([`Sampler`]) and stop strings over streamed text ([`StopMatcher`]).
//!
//! | file | one job |
//! | --- | --- |
//! | `params.rs` | [`SamplingParams`]: temperature, top-k, top-p, min-p, repetition penalty, seed; validation |
//! | `error.rs` | [`SamplingError`] |
//! | `rng.rs` | the seeded generator (xoshiro256++ seeded through SplitMix64), the same on every platform |
//! | `chain.rs` | [`Sampler`]: the chain penalties → top-k → top-p → min-p → temperature → draw |
//! | `stop.rs` | [`StopMatcher`] / [`StopOutcome`]: stop strings split across decoded chunks |
//!
//! ```
//! use tern_inference::sampler::{Sampler, SamplingParams, StopMatcher, StopOutcome};
//!
//! let mut sampler = Sampler::new(SamplingParams { seed: Some(42), ..SamplingParams::default() })?;
//! let token = sampler.sample(&[0.1, 2.0, -1.0, 1.9], &[]);
//! assert!(token == 1 || token == 3);
//!
//! let mut stops = StopMatcher::new(vec!["\n\n".into()]);
//! assert_eq!(stops.push("Hello\n"), StopOutcome::Continue("Hello".into()));
//! assert_eq!(stops.push("\nworld"), StopOutcome::Stop("".into()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chain;
mod error;
mod params;
mod rng;
mod stop;

pub use chain::Sampler;
pub use error::SamplingError;
pub use params::SamplingParams;
pub use stop::{StopMatcher, StopOutcome};
