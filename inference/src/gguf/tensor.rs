//! Tensor descriptions: [`TensorType`] (a known [`GgmlType`] or a raw id),
//! [`TensorInfo`] (one tensor-info record, validated) and [`TensorView`] (info + data).

use std::fmt;

use tern_kernels::GgmlType;

use super::error::GgufError;

/// Most dimensions a ggml tensor has (`GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;

/// Longest tensor name in bytes (`GGML_MAX_NAME` is 64 including the NUL).
pub const MAX_TENSOR_NAME: usize = 63;

/// A tensor's ggml type: one `tern-kernels` understands, or the raw id of one it does not.
/// Unknown types do not fail [`crate::gguf::GgufFile::open`] (a file may carry tensors
/// tern never reads), but their data size is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorType {
    /// A type with a `tern-kernels` format.
    Known(GgmlType),
    /// Any other ggml type id, as found in the file.
    Unknown(u32),
}

impl TensorType {
    /// The type for a ggml type id.
    pub fn from_id(id: u32) -> TensorType {
        match GgmlType::from_id(id) {
            Ok(t) => TensorType::Known(t),
            Err(_) => TensorType::Unknown(id),
        }
    }

    /// The ggml type id.
    pub fn id(self) -> u32 {
        match self {
            TensorType::Known(t) => t.id(),
            TensorType::Unknown(id) => id,
        }
    }
}

impl From<GgmlType> for TensorType {
    fn from(t: GgmlType) -> TensorType {
        TensorType::Known(t)
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorType::Known(t) => write!(f, "{t:?} (id {})", t.id()),
            TensorType::Unknown(id) => write!(f, "unknown (id {id})"),
        }
    }
}

/// One tensor-info record, checked against the file at open time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub(crate) name: String,
    pub(crate) shape: Vec<u64>,
    pub(crate) ggml_type: TensorType,
    pub(crate) n_elements: u64,
    /// Offset relative to the data section, as stored.
    pub(crate) offset: u64,
    /// Absolute byte range in the file; `end` is `None` for unknown types.
    pub(crate) start: usize,
    pub(crate) end: Option<usize>,
}

impl TensorInfo {
    /// The tensor name (`"blk.0.attn_q.weight"`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Dimensions, innermost (`ne0`, contiguous) first, as ggml stores them: a weight
    /// with `rows` outputs and `cols` inputs is `[cols, rows]`. At most [`MAX_DIMS`].
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// The ggml type.
    pub fn ggml_type(&self) -> TensorType {
        self.ggml_type
    }

    /// Product of the dimensions (1 for zero dimensions).
    pub fn n_elements(&self) -> u64 {
        self.n_elements
    }

    /// Offset of the data relative to the start of the data section, as stored.
    pub fn relative_offset(&self) -> u64 {
        self.offset
    }

    /// Absolute byte offset of the data in the file.
    pub fn file_offset(&self) -> u64 {
        self.start as u64
    }

    /// Size of the data in bytes ([`GgmlType::tensor_bytes`]); `None` for unknown types.
    pub fn byte_len(&self) -> Option<usize> {
        self.end.map(|e| e - self.start)
    }
}

/// A tensor's description and its bytes in the file (memory-mapped or shared).
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    pub(crate) info: &'a TensorInfo,
    pub(crate) file: &'a [u8],
}

impl<'a> TensorView<'a> {
    /// The description.
    pub fn info(&self) -> &'a TensorInfo {
        self.info
    }

    /// See [`TensorInfo::name`].
    pub fn name(&self) -> &'a str {
        &self.info.name
    }

    /// See [`TensorInfo::shape`].
    pub fn shape(&self) -> &'a [u64] {
        &self.info.shape
    }

    /// See [`TensorInfo::ggml_type`].
    pub fn ggml_type(&self) -> TensorType {
        self.info.ggml_type
    }

    /// See [`TensorInfo::n_elements`].
    pub fn n_elements(&self) -> u64 {
        self.info.n_elements
    }

    /// The tensor's bytes: exactly [`GgmlType::tensor_bytes`]`(n_elements)` (for `I2_S`
    /// `n / 4 + 32`, the packed values and the 32-byte scale trailer).
    ///
    /// Errors: [`GgufError::UnknownTensorType`] for a type `tern-kernels` does not know
    /// (its size cannot be computed). Ranges were checked at open, so nothing else fails.
    pub fn data(&self) -> Result<&'a [u8], GgufError> {
        match self.info.end {
            // In bounds and ordered: checked when the file was opened.
            Some(end) => Ok(&self.file[self.info.start..end]),
            None => Err(GgufError::UnknownTensorType {
                name: self.info.name.clone(),
                type_id: self.info.ggml_type.id(),
            }),
        }
    }
}
