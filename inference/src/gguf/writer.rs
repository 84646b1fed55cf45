//! [`GgufWriter`]: builds a GGUF v3 (or v2) file from metadata and raw tensor bytes.
//!
//! For `tern synth` and test fixtures. Whatever it accepts, [`crate::gguf::GgufFile`]
//! reads back: it enforces the reader's limits (key and name lengths, array depth,
//! [`MAX_DIMS`], tensor sizes for known types) when items are added.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use super::error::GgufError;
use super::file::MAX_KEY_LEN;
use super::metadata::Metadata;
use super::parse::MAX_ARRAY_DEPTH;
use super::tensor::{TensorType, MAX_DIMS, MAX_TENSOR_NAME};
use super::value::{Array, Value};
use super::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC};

struct PendingTensor {
    name: String,
    shape: Vec<u64>,
    ty: TensorType,
    data: Vec<u8>,
}

/// Collects metadata and tensors, then writes a GGUF file.
///
/// ```
/// use tern_inference::gguf::{GgufFile, GgufWriter};
/// use tern_kernels::GgmlType;
///
/// let mut w = GgufWriter::new();
/// w.add("general.architecture", "bitnet-b1.58").unwrap();
/// w.add_tensor("x", &[2], GgmlType::F32, [1f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>())
///     .unwrap();
/// let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
/// assert_eq!(f.metadata().get_str("general.architecture").unwrap(), "bitnet-b1.58");
/// assert_eq!(f.tensor("x").unwrap().data().unwrap().len(), 8);
/// ```
pub struct GgufWriter {
    version: u32,
    metadata: Metadata,
    tensors: Vec<PendingTensor>,
    names: HashSet<String>,
}

impl Default for GgufWriter {
    fn default() -> GgufWriter {
        GgufWriter::new()
    }
}

impl GgufWriter {
    /// An empty version-3 file with the default alignment (32).
    pub fn new() -> GgufWriter {
        GgufWriter { version: 3, metadata: Metadata::new(), tensors: Vec::new(), names: HashSet::new() }
    }

    /// Sets the format version (2 or 3; they differ only in the version field).
    pub fn set_version(&mut self, version: u32) -> Result<(), GgufError> {
        if version != 2 && version != 3 {
            return Err(GgufError::input(format!("version {version}: only 2 and 3 can be written")));
        }
        self.version = version;
        Ok(())
    }

    /// Sets `general.alignment` (a power of two), replacing any earlier value.
    pub fn set_alignment(&mut self, alignment: u32) -> Result<(), GgufError> {
        if !alignment.is_power_of_two() {
            return Err(GgufError::input(format!("alignment {alignment} is not a power of two")));
        }
        self.metadata.set(ALIGNMENT_KEY, Value::U32(alignment));
        Ok(())
    }

    fn alignment(&self) -> u64 {
        match self.metadata.get(ALIGNMENT_KEY) {
            Some(Value::U32(a)) => u64::from(*a),
            _ => DEFAULT_ALIGNMENT,
        }
    }

    /// Adds a metadata pair. Errors on a duplicate key, a key over 65535 bytes, arrays
    /// nested deeper than the reader accepts, or a `general.alignment` that is not a
    /// power-of-two `u32`.
    pub fn add(&mut self, key: &str, value: impl Into<Value>) -> Result<(), GgufError> {
        let value = value.into();
        if key.len() > MAX_KEY_LEN {
            return Err(GgufError::input(format!("key of {} bytes exceeds {MAX_KEY_LEN}", key.len())));
        }
        if let Value::Array(a) = &value {
            if depth(a) > MAX_ARRAY_DEPTH {
                return Err(GgufError::input(format!(
                    "\"{key}\": arrays nested deeper than {MAX_ARRAY_DEPTH}"
                )));
            }
        }
        if key == ALIGNMENT_KEY && !matches!(value, Value::U32(a) if a.is_power_of_two()) {
            return Err(GgufError::input(format!("\"{key}\" must be a power-of-two u32")));
        }
        self.metadata
            .insert(key.to_string(), value)
            .map_err(|_| GgufError::input(format!("duplicate metadata key \"{key}\"")))
    }

    /// Adds a tensor: `shape` innermost first (ggml `ne0` first), `data` its raw bytes in
    /// the file format of `ty`. For a known type `data` must be exactly
    /// [`tern_kernels::GgmlType::tensor_bytes`] long; an unknown type id takes any bytes.
    pub fn add_tensor(
        &mut self,
        name: &str,
        shape: &[u64],
        ty: impl Into<TensorType>,
        data: impl Into<Vec<u8>>,
    ) -> Result<(), GgufError> {
        let (ty, data) = (ty.into(), data.into());
        let bad = |reason: String| GgufError::input(format!("tensor \"{name}\": {reason}"));
        if name.len() > MAX_TENSOR_NAME {
            return Err(bad(format!("name longer than {MAX_TENSOR_NAME} bytes")));
        }
        if shape.len() > MAX_DIMS {
            return Err(bad(format!("{} dimensions, at most {MAX_DIMS}", shape.len())));
        }
        let n = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= i64::MAX as u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| bad(format!("element count of shape {shape:?} overflows")))?;
        if let TensorType::Known(t) = ty {
            let want = t.tensor_bytes(n).map_err(|e| bad(format!("{t:?} with shape {shape:?}: {e}")))?;
            if want != data.len() {
                return Err(bad(format!(
                    "{t:?} with shape {shape:?} takes {want} bytes, got {}",
                    data.len()
                )));
            }
        }
        if !self.names.insert(name.to_string()) {
            return Err(bad("duplicate tensor name".to_string()));
        }
        self.tensors.push(PendingTensor { name: name.to_string(), shape: shape.to_vec(), ty, data });
        Ok(())
    }

    /// The whole file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, GgufError> {
        let align = self.alignment() as usize;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in self.metadata.iter() {
            put_str(&mut out, key);
            out.extend_from_slice(&value.value_type().id().to_le_bytes());
            put_value(&mut out, value);
        }
        let mut offset = 0usize;
        for t in &self.tensors {
            put_str(&mut out, &t.name);
            out.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
            for d in &t.shape {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.ty.id().to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            offset = (offset + t.data.len())
                .checked_next_multiple_of(align)
                .ok_or_else(|| GgufError::input("total tensor size overflows"))?;
        }
        pad(&mut out, align);
        for t in &self.tensors {
            out.extend_from_slice(&t.data);
            pad(&mut out, align);
        }
        Ok(out)
    }

    /// Writes the file to `w`.
    pub fn write_to(&self, mut w: impl Write) -> std::io::Result<()> {
        let bytes = self.to_bytes().map_err(std::io::Error::other)?;
        w.write_all(&bytes)
    }

    /// Writes the file at `path` (created or truncated).
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<(), GgufError> {
        let path = path.as_ref();
        let bytes = self.to_bytes()?;
        std::fs::write(path, bytes).map_err(|source| GgufError::Io { path: path.to_path_buf(), source })
    }
}

fn depth(a: &Array) -> usize {
    match a {
        Array::Array(v) => 1 + v.iter().map(depth).max().unwrap_or(0),
        _ => 1,
    }
}

fn pad(out: &mut Vec<u8>, align: usize) {
    let n = out.len().next_multiple_of(align);
    out.resize(n, 0);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => put_str(out, s),
        Value::Array(a) => put_array(out, a),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

fn put_array(out: &mut Vec<u8>, a: &Array) {
    out.extend_from_slice(&a.elem_type().id().to_le_bytes());
    out.extend_from_slice(&(a.len() as u64).to_le_bytes());
    macro_rules! each {
        ($v:expr) => {
            for x in $v {
                out.extend_from_slice(&x.to_le_bytes());
            }
        };
    }
    match a {
        Array::U8(v) => out.extend_from_slice(v),
        Array::I8(v) => each!(v),
        Array::U16(v) => each!(v),
        Array::I16(v) => each!(v),
        Array::U32(v) => each!(v),
        Array::I32(v) => each!(v),
        Array::F32(v) => each!(v),
        Array::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        Array::String(v) => v.iter().for_each(|s| put_str(out, s)),
        Array::Array(v) => v.iter().for_each(|x| put_array(out, x)),
        Array::U64(v) => each!(v),
        Array::I64(v) => each!(v),
        Array::F64(v) => each!(v),
    }
}
