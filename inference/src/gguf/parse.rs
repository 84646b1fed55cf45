//! The byte-level reader: a bounds-checked little-endian [`Cursor`] and metadata value
//! decoding. Every read checks the remaining length first; every count is bounded by the
//! bytes left before anything is allocated, so a hostile count costs an error, not memory.

use super::error::GgufError;
use super::value::{Array, Value, ValueType};

/// Deepest array nesting accepted (an array at depth 1 holding arrays is depth 2, ...).
pub const MAX_ARRAY_DEPTH: usize = 8;

/// Reads little-endian fields from a byte slice, tracking the offset and a context
/// (`"metadata key \"general.name\""`) for error messages.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    pub(crate) ctx: String,
}

macro_rules! read_le {
    ($($name:ident: $t:ty;)*) => {
        $(
            pub(crate) fn $name(&mut self) -> Result<$t, GgufError> {
                let b = self.take(std::mem::size_of::<$t>())?;
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                Ok(<$t>::from_le_bytes(a))
            }
        )*
    };
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0, ctx: "header".to_string() }
    }

    /// Current byte offset.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left after the current offset.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// A [`GgufError::Invalid`] at byte `offset` in the current context.
    pub(crate) fn invalid(&self, offset: usize, reason: impl Into<String>) -> GgufError {
        GgufError::invalid(self.ctx.clone(), offset, reason)
    }

    fn truncated(&self, needed: u64) -> GgufError {
        GgufError::Truncated {
            context: self.ctx.clone(),
            offset: self.pos as u64,
            needed,
            available: self.remaining() as u64,
        }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(self.truncated(n as u64));
        }
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    read_le! {
        u8: u8;
        i8: i8;
        u16: u16;
        i16: i16;
        u32: u32;
        i32: i32;
        f32: f32;
        u64: u64;
        i64: i64;
        f64: f64;
    }

    /// Errors (truncation) unless `count` items of at least `min_size` bytes each fit in
    /// the remaining bytes; returns `count` as `usize`. Call before allocating `count` items.
    pub(crate) fn check_count(&self, count: u64, min_size: usize, what: &str) -> Result<usize, GgufError> {
        let needed = u128::from(count) * min_size as u128;
        if needed > self.remaining() as u128 {
            return Err(self.invalid(
                self.pos,
                format!(
                    "{what} count {count} needs at least {needed} bytes but only {} are left: \
                     the count is corrupt or the file is truncated",
                    self.remaining()
                ),
            ));
        }
        // needed <= remaining <= usize::MAX, and min_size >= 1, so count fits usize.
        Ok(count as usize)
    }

    /// A gguf string (`u64` length + UTF-8 bytes) of at most `max_len` bytes.
    pub(crate) fn string(&mut self, max_len: usize, what: &str) -> Result<String, GgufError> {
        let at = self.pos;
        let len = self.u64()?;
        if len > max_len as u64 {
            return Err(self.invalid(at, format!("{what} length {len} exceeds the limit of {max_len} bytes")));
        }
        if len > self.remaining() as u64 {
            return Err(self.truncated(len));
        }
        let bytes = self.take(len as usize)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => Err(self.invalid(at, format!("{what} is not valid UTF-8 ({e})"))),
        }
    }

    /// A value type id.
    pub(crate) fn value_type(&mut self) -> Result<ValueType, GgufError> {
        let at = self.pos;
        let id = self.u32()?;
        ValueType::from_id(id)
            .ok_or_else(|| self.invalid(at, format!("unknown metadata value type id {id} (known: 0..=12)")))
    }

    /// One metadata value of type `ty`; `depth` is the array nesting so far (0 at top level).
    pub(crate) fn value(&mut self, ty: ValueType, depth: usize) -> Result<Value, GgufError> {
        Ok(match ty {
            ValueType::U8 => Value::U8(self.u8()?),
            ValueType::I8 => Value::I8(self.i8()?),
            ValueType::U16 => Value::U16(self.u16()?),
            ValueType::I16 => Value::I16(self.i16()?),
            ValueType::U32 => Value::U32(self.u32()?),
            ValueType::I32 => Value::I32(self.i32()?),
            ValueType::F32 => Value::F32(self.f32()?),
            ValueType::Bool => Value::Bool(self.bool()?),
            ValueType::String => Value::String(self.string(usize::MAX, "string value")?),
            ValueType::Array => Value::Array(self.array(depth + 1)?),
            ValueType::U64 => Value::U64(self.u64()?),
            ValueType::I64 => Value::I64(self.i64()?),
            ValueType::F64 => Value::F64(self.f64()?),
        })
    }

    fn bool(&mut self) -> Result<bool, GgufError> {
        let at = self.pos;
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.invalid(at, format!("bool byte is {b}, must be 0 or 1"))),
        }
    }

    /// An array (element type, count, elements) at nesting `depth` (1 = top-level array).
    fn array(&mut self, depth: usize) -> Result<Array, GgufError> {
        if depth > MAX_ARRAY_DEPTH {
            return Err(self.invalid(self.pos, format!("arrays nested deeper than {MAX_ARRAY_DEPTH} levels")));
        }
        let elem = self.value_type()?;
        let count = self.u64()?;
        let n = self.check_count(count, elem.min_size(), &format!("array of {}", elem.name()))?;
        macro_rules! numeric {
            ($variant:ident, $t:ty) => {{
                let size = std::mem::size_of::<$t>();
                // n * size <= remaining, checked by check_count.
                let bytes = self.take(n * size)?;
                Array::$variant(
                    bytes
                        .chunks_exact(size)
                        .map(|c| {
                            let mut a = [0u8; std::mem::size_of::<$t>()];
                            a.copy_from_slice(c);
                            <$t>::from_le_bytes(a)
                        })
                        .collect(),
                )
            }};
        }
        Ok(match elem {
            ValueType::U8 => Array::U8(self.take(n)?.to_vec()),
            ValueType::I8 => Array::I8(self.take(n)?.iter().map(|&b| b as i8).collect()),
            ValueType::U16 => numeric!(U16, u16),
            ValueType::I16 => numeric!(I16, i16),
            ValueType::U32 => numeric!(U32, u32),
            ValueType::I32 => numeric!(I32, i32),
            ValueType::F32 => numeric!(F32, f32),
            ValueType::U64 => numeric!(U64, u64),
            ValueType::I64 => numeric!(I64, i64),
            ValueType::F64 => numeric!(F64, f64),
            ValueType::Bool => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.bool()?);
                }
                Array::Bool(v)
            }
            ValueType::String => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.string(usize::MAX, "string array element")?);
                }
                Array::String(v)
            }
            ValueType::Array => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.array(depth + 1)?);
                }
                Array::Array(v)
            }
        })
    }
}
