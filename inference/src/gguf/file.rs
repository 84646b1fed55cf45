//! [`GgufFile`]: opens (memory-maps) and validates a GGUF v2 / v3 file.
//!
//! Layout (ggml `docs/gguf.md`, little-endian): magic `"GGUF"`, version `u32`,
//! tensor_count `u64`, metadata_kv_count `u64`; the key-value pairs (gguf string key,
//! `u32` value type, value); the tensor infos (name, `n_dims: u32`, `dims: [u64; n_dims]`,
//! ggml type `u32`, `offset: u64` relative to the data section); padding to
//! `general.alignment` (a `u32`, default 32, a power of two); the data section.
//!
//! Everything is validated in [`GgufFile::from_bytes`]: counts against the bytes left,
//! dimension products for overflow, each known tensor's byte range within the file,
//! alignment, overlaps, duplicate keys and names. After that, no accessor can fail
//! except on an unknown tensor type.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use super::error::GgufError;
use super::metadata::Metadata;
use super::parse::Cursor;
use super::tensor::{TensorInfo, TensorType, TensorView, MAX_DIMS, MAX_TENSOR_NAME};
use super::value::Value;
use super::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC};

/// Longest metadata key in bytes (the spec's limit).
pub const MAX_KEY_LEN: usize = 65535;

/// Fewest bytes one metadata pair takes: key length + value type + a 1-byte value.
const MIN_KV_BYTES: usize = 8 + 4 + 1;
/// Fewest bytes one tensor info takes: name length + n_dims + type + offset.
const MIN_TENSOR_INFO_BYTES: usize = 8 + 4 + 4 + 8;

/// The bytes behind a [`GgufFile`].
enum Storage {
    Mmap(memmap2::Mmap),
    Shared(Arc<[u8]>),
}

impl Deref for Storage {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Storage::Mmap(m) => m,
            Storage::Shared(b) => b,
        }
    }
}

/// A parsed, validated GGUF file; tensor data stays in the map (zero copy).
pub struct GgufFile {
    storage: Storage,
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("len", &self.storage.len())
            .field("version", &self.version)
            .field("alignment", &self.alignment)
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps and validates the file at `path`.
    ///
    /// The file must not be modified or truncated while the `GgufFile` lives (as with
    /// every mmap-based loader, llama.cpp included): that would change or revoke the
    /// mapped bytes under us.
    ///
    /// Errors: [`GgufError::Io`] if the file cannot be opened or mapped, otherwise as
    /// [`GgufFile::from_bytes`].
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let io = |source| GgufError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let storage = if len == 0 {
            Storage::Shared(Arc::from(Vec::new()))
        } else {
            // SAFETY: the map is read-only and we only ever read it as `&[u8]`. Rust's
            // aliasing guarantee holds only if no other process writes or truncates the file
            // while mapped; that is documented as the caller's obligation above (the
            // standard contract of mmap loaders, which cannot be enforced from here).
            Storage::Mmap(unsafe { memmap2::Mmap::map(&file) }.map_err(io)?)
        };
        GgufFile::parse(storage)
    }

    /// Parses and validates a GGUF file held in memory.
    ///
    /// Errors: [`GgufError::Truncated`] when a declared field runs past the end, and
    /// [`GgufError::Invalid`] for anything the format forbids; both name the part of the
    /// file (key or tensor) and the byte offset. Never panics, whatever the bytes.
    pub fn from_bytes(bytes: impl Into<Arc<[u8]>>) -> Result<GgufFile, GgufError> {
        GgufFile::parse(Storage::Shared(bytes.into()))
    }

    fn parse(storage: Storage) -> Result<GgufFile, GgufError> {
        let h = parse_headers(&storage)?;
        Ok(GgufFile {
            storage,
            version: h.version,
            alignment: h.alignment,
            data_offset: h.data_offset,
            metadata: h.metadata,
            tensors: h.tensors,
            by_name: h.by_name,
        })
    }

    /// The format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The alignment of the data section and of each tensor offset, in bytes.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute byte offset of the data section.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// The metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The tensor infos, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.storage
    }

    /// The tensor called `name`, if any.
    pub fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        self.by_name.get(name).map(|&i| self.view(&self.tensors[i]))
    }

    /// Views of every tensor, in file order.
    pub fn tensor_views(&self) -> impl Iterator<Item = TensorView<'_>> {
        self.tensors.iter().map(|t| self.view(t))
    }

    fn view<'a>(&'a self, info: &'a TensorInfo) -> TensorView<'a> {
        TensorView { info, file: &self.storage }
    }
}

struct Headers {
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
}

fn parse_headers(buf: &[u8]) -> Result<Headers, GgufError> {
    let mut c = Cursor::new(buf);
    let magic = c.take(4)?;
    if magic != MAGIC {
        return Err(c.invalid(0, format!("magic is {magic:02x?}, expected \"GGUF\": not a GGUF file")));
    }
    let version = c.u32()?;
    match version {
        2 | 3 => {}
        1 => return Err(c.invalid(4, "GGUF version 1 is not supported (re-convert the model)")),
        v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
            return Err(c.invalid(4, "big-endian GGUF files are not supported"))
        }
        v => return Err(c.invalid(4, format!("unsupported GGUF version {v} (supported: 2, 3)"))),
    }
    let tensor_count = c.u64()?;
    let kv_count = c.u64()?;
    // Cheap early bound: both sections must fit in what is left.
    let min = u128::from(tensor_count) * MIN_TENSOR_INFO_BYTES as u128
        + u128::from(kv_count) * MIN_KV_BYTES as u128;
    if min > c.remaining() as u128 {
        return Err(c.invalid(
            8,
            format!(
                "{tensor_count} tensors and {kv_count} metadata keys need at least {min} bytes, \
                 only {} left: the counts are corrupt or the file is truncated",
                c.remaining()
            ),
        ));
    }
    let kv_count = c.check_count(kv_count, MIN_KV_BYTES, "metadata key")?;

    let mut metadata = Metadata::new();
    let mut alignment = DEFAULT_ALIGNMENT;
    for i in 0..kv_count {
        c.ctx = format!("metadata key #{i}");
        let at = c.pos();
        let key = c.string(MAX_KEY_LEN, "key")?;
        c.ctx = format!("metadata key \"{key}\"");
        let ty = c.value_type()?;
        let value_at = c.pos();
        let value = c.value(ty, 0)?;
        if key == ALIGNMENT_KEY {
            alignment = match value {
                Value::U32(a) if a.is_power_of_two() => u64::from(a),
                Value::U32(a) => {
                    return Err(c.invalid(value_at, format!("alignment {a} is not a power of two")))
                }
                ref v => {
                    return Err(c.invalid(value_at, format!("must be a u32, found {}", v.type_description())))
                }
            };
        }
        if metadata.insert(key, value).is_err() {
            return Err(c.invalid(at, "duplicate metadata key"));
        }
    }

    c.ctx = "tensor infos".to_string();
    let tensor_count = c.check_count(tensor_count, MIN_TENSOR_INFO_BYTES, "tensor")?;
    let mut tensors = Vec::with_capacity(tensor_count);
    let mut info_offsets = Vec::with_capacity(tensor_count);
    let mut by_name = HashMap::with_capacity(tensor_count);
    for i in 0..tensor_count {
        c.ctx = format!("tensor #{i}");
        let at = c.pos();
        let name = c.string(MAX_TENSOR_NAME, "tensor name")?;
        c.ctx = format!("tensor \"{name}\"");
        let dims_at = c.pos();
        let n_dims = c.u32()?;
        if n_dims as usize > MAX_DIMS {
            return Err(c.invalid(dims_at, format!("{n_dims} dimensions, ggml allows at most {MAX_DIMS}")));
        }
        let mut shape = Vec::with_capacity(n_dims as usize);
        let mut n_elements: u64 = 1;
        for _ in 0..n_dims {
            let d_at = c.pos();
            let d = c.u64()?;
            if d > i64::MAX as u64 {
                return Err(c.invalid(d_at, format!("dimension {d} exceeds i64::MAX")));
            }
            n_elements = n_elements.checked_mul(d).ok_or_else(|| {
                c.invalid(d_at, format!("element count overflows: shape so far {shape:?} times {d}"))
            })?;
            shape.push(d);
        }
        if n_elements > i64::MAX as u64 {
            return Err(c.invalid(dims_at, format!("element count {n_elements} exceeds i64::MAX")));
        }
        let ggml_type = TensorType::from_id(c.u32()?);
        let off_at = c.pos();
        let offset = c.u64()?;
        if offset % alignment != 0 {
            return Err(c.invalid(
                off_at,
                format!("data offset {offset} is not a multiple of the alignment {alignment}"),
            ));
        }
        if by_name.insert(name.clone(), i).is_some() {
            return Err(c.invalid(at, "duplicate tensor name"));
        }
        tensors.push(TensorInfo { name, shape, ggml_type, n_elements, offset, start: 0, end: None });
        info_offsets.push(off_at);
    }

    // The data section starts at the next multiple of the alignment.
    let end_of_infos = c.pos() as u64;
    let data_offset = end_of_infos
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| c.invalid(c.pos(), "data section offset overflows"))?;
    let file_len = buf.len() as u64;
    for (t, &off_at) in tensors.iter_mut().zip(&info_offsets) {
        let ctx = format!("tensor \"{}\"", t.name);
        let fail = |reason: String| GgufError::invalid(ctx.clone(), off_at, reason);
        let start = data_offset.checked_add(t.offset).filter(|&s| s <= file_len).ok_or_else(|| {
            fail(format!(
                "data offset {} starts past the end of the file ({file_len} bytes); is the file truncated?",
                t.offset
            ))
        })?;
        // start <= file_len, so it fits usize.
        t.start = start as usize;
        if let TensorType::Known(ty) = t.ggml_type {
            let n = usize::try_from(t.n_elements)
                .map_err(|_| fail(format!("{} elements do not fit this machine's usize", t.n_elements)))?;
            let bytes =
                ty.tensor_bytes(n).map_err(|e| fail(format!("{ty:?} with shape {:?}: {e}", t.shape)))?;
            let end = (bytes as u64).checked_add(start).filter(|&e| e <= file_len).ok_or_else(|| {
                fail(format!(
                    "data [{start}, {start} + {bytes}) runs past the end of the file ({file_len} bytes); \
                     is the file truncated?"
                ))
            })?;
            t.end = Some(end as usize);
        }
    }

    // Overlap check over the known-size tensors, in data order.
    let mut order: Vec<usize> = (0..tensors.len()).filter(|&i| tensors[i].end.is_some()).collect();
    order.sort_by_key(|&i| (tensors[i].start, tensors[i].end));
    for w in order.windows(2) {
        let (a, b) = (&tensors[w[0]], &tensors[w[1]]);
        if a.end.unwrap_or(a.start) > b.start {
            return Err(GgufError::invalid(
                format!("tensor \"{}\"", b.name),
                info_offsets[w[1]],
                format!("data overlaps tensor \"{}\"", a.name),
            ));
        }
    }

    Ok(Headers { version, alignment, data_offset, metadata, tensors, by_name })
}
