//! [`Metadata`]: the key-value section, in file order, with typed getters.
//!
//! Getters return [`GgufError::MissingKey`] for an absent key and
//! [`GgufError::TypeMismatch`] (naming the key, the wanted and the found type) for a
//! key of another type. The `_or` getters return the default only for an absent key;
//! a key of the wrong type is still an error (a silently ignored `f32` epsilon stored
//! as `f64` would be a wrong model, not a missing setting).

use std::collections::HashMap;

use super::error::GgufError;
use super::value::{Array, Value};

/// The metadata key-value pairs of a GGUF file. Keys are unique.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    entries: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

impl Metadata {
    /// Empty metadata.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// Adds `key`; returns the value back if the key is already present.
    pub(crate) fn insert(&mut self, key: String, value: Value) -> Result<(), Value> {
        if self.index.contains_key(&key) {
            return Err(value);
        }
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
        Ok(())
    }

    /// Replaces or adds `key`.
    pub(crate) fn set(&mut self, key: &str, value: Value) {
        match self.index.get(key) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                let _ = self.insert(key.to_string(), value);
            }
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(key, value)` pairs in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    fn require(&self, key: &str) -> Result<&Value, GgufError> {
        self.get(key).ok_or_else(|| GgufError::MissingKey { key: key.to_string() })
    }

    /// The string value of `key`.
    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        match self.require(key)? {
            Value::String(s) => Ok(s),
            v => Err(mismatch(key, "string", v)),
        }
    }

    /// The string value of `key`, or `default` if the key is absent.
    pub fn get_str_or<'a>(&'a self, key: &str, default: &'a str) -> Result<&'a str, GgufError> {
        if self.contains_key(key) {
            self.get_str(key)
        } else {
            Ok(default)
        }
    }

    /// The array value of `key` (any element type).
    pub fn get_array(&self, key: &str) -> Result<&Array, GgufError> {
        match self.require(key)? {
            Value::Array(a) => Ok(a),
            v => Err(mismatch(key, "array", v)),
        }
    }

    /// Any non-negative integer value of `key` (`u8` ... `i64`) as `u64`: for counts
    /// whose width differs between converters. Errors on floats, strings, negatives.
    pub fn get_uint(&self, key: &str) -> Result<u64, GgufError> {
        let v = self.require(key)?;
        v.as_u64_lossless().ok_or_else(|| mismatch(key, "non-negative integer", v))
    }

    /// [`Metadata::get_uint`], or `default` if the key is absent.
    pub fn get_uint_or(&self, key: &str, default: u64) -> Result<u64, GgufError> {
        if self.contains_key(key) {
            self.get_uint(key)
        } else {
            Ok(default)
        }
    }
}

fn mismatch(key: &str, expected: &'static str, found: &Value) -> GgufError {
    GgufError::TypeMismatch { key: key.to_string(), expected, found: found.type_description() }
}

macro_rules! scalar_getters {
    ($($t:ty => $variant:ident, $get:ident, $get_or:ident, $name:literal;)*) => {
        impl Metadata {
            $(
                #[doc = concat!("The `", $name, "` value of `key`.")]
                pub fn $get(&self, key: &str) -> Result<$t, GgufError> {
                    match self.require(key)? {
                        Value::$variant(v) => Ok(*v),
                        v => Err(mismatch(key, $name, v)),
                    }
                }

                #[doc = concat!("The `", $name, "` value of `key`, or `default` if the key is absent.")]
                pub fn $get_or(&self, key: &str, default: $t) -> Result<$t, GgufError> {
                    if self.contains_key(key) { self.$get(key) } else { Ok(default) }
                }
            )*
        }
    };
}

scalar_getters! {
    u8 => U8, get_u8, get_u8_or, "u8";
    i8 => I8, get_i8, get_i8_or, "i8";
    u16 => U16, get_u16, get_u16_or, "u16";
    i16 => I16, get_i16, get_i16_or, "i16";
    u32 => U32, get_u32, get_u32_or, "u32";
    i32 => I32, get_i32, get_i32_or, "i32";
    f32 => F32, get_f32, get_f32_or, "f32";
    bool => Bool, get_bool, get_bool_or, "bool";
    u64 => U64, get_u64, get_u64_or, "u64";
    i64 => I64, get_i64, get_i64_or, "i64";
    f64 => F64, get_f64, get_f64_or, "f64";
}

macro_rules! array_getters {
    ($($t:ty => $as:ident, $get:ident, $name:literal;)*) => {
        impl Metadata {
            $(
                #[doc = concat!("The elements of `key`, an array of `", $name, "`.")]
                pub fn $get(&self, key: &str) -> Result<&[$t], GgufError> {
                    let v = self.require(key)?;
                    match v {
                        Value::Array(a) => a.$as().ok_or_else(|| mismatch(key, concat!("array of ", $name), v)),
                        _ => Err(mismatch(key, concat!("array of ", $name), v)),
                    }
                }
            )*
        }
    };
}

array_getters! {
    u8 => as_u8, get_u8_array, "u8";
    i8 => as_i8, get_i8_array, "i8";
    u16 => as_u16, get_u16_array, "u16";
    i16 => as_i16, get_i16_array, "i16";
    u32 => as_u32, get_u32_array, "u32";
    i32 => as_i32, get_i32_array, "i32";
    f32 => as_f32, get_f32_array, "f32";
    bool => as_bool, get_bool_array, "bool";
    String => as_strings, get_str_array, "string";
    u64 => as_u64, get_u64_array, "u64";
    i64 => as_i64, get_i64_array, "i64";
    f64 => as_f64, get_f64_array, "f64";
}
