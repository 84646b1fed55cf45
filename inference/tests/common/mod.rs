//! Helpers shared by the fixture tests: typed reads of the fixtures' JSON
//! (`serde_json`), and the logits comparison metric.

#![allow(dead_code)]

pub use serde_json::Value as Json;

/// Parses a whole JSON document (test fixtures only: panics on malformed input).
pub fn parse(text: &str) -> Json {
    serde_json::from_str(text).expect("fixture JSON")
}

/// Typed reads that panic with the value when the fixture has another shape.
pub trait Read {
    /// A number.
    fn f64(&self) -> f64;
    /// A non-negative integer.
    fn usize(&self) -> usize;
    /// An array.
    fn arr(&self) -> &[Json];
    /// An array of token ids.
    fn ids(&self) -> Vec<u32>;
    /// A string.
    fn str(&self) -> &str;
}

impl Read for Json {
    fn f64(&self) -> f64 {
        self.as_f64().unwrap_or_else(|| panic!("JSON: expected a number, found {self}"))
    }

    fn usize(&self) -> usize {
        self.as_u64().unwrap_or_else(|| panic!("JSON: expected a non-negative integer, found {self}"))
            as usize
    }

    fn arr(&self) -> &[Json] {
        self.as_array().unwrap_or_else(|| panic!("JSON: expected an array, found {self}"))
    }

    fn str(&self) -> &str {
        self.as_str().unwrap_or_else(|| panic!("JSON: expected a string, found {self}"))
    }

    fn ids(&self) -> Vec<u32> {
        self.arr().iter().map(|v| u32::try_from(v.usize()).expect("token id fits u32")).collect()
    }
}

/// `max |a - b| / max |b|` over the vector (`b` the reference).
pub fn max_rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff = a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).abs()).fold(0.0, f64::max);
    let scale = b.iter().map(|&y| (y as f64).abs()).fold(0.0, f64::max);
    diff / scale
}
