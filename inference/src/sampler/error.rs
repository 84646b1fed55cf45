//! [`SamplingError`]: a sampling parameter out of range.

use std::fmt;

/// A [`SamplingParams`](super::SamplingParams) field out of its range, named so a user
/// (CLI flag, request field) can see which one.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SamplingError {
    /// `field` holds `value`, outside `expected`.
    InvalidParam {
        /// The field name (`"temperature"`, `"top_p"`, `"min_p"`, `"repeat_penalty"`).
        field: &'static str,
        /// The rejected value.
        value: f32,
        /// The accepted range, in words (`"0 < top_p <= 1"`).
        expected: &'static str,
    },
}

impl fmt::Display for SamplingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SamplingError::InvalidParam { field, value, expected } => {
                write!(f, "sampling parameter {field} = {value} is out of range (expected {expected})")
            }
        }
    }
}

impl std::error::Error for SamplingError {}
