//! GGUF reader / writer tests: hand-built spec fixtures, round trips, alignment, and
//! hostile input (truncation at every byte, random flips, absurd counts).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_inference::gguf::{Array, GgufError, GgufFile, GgufWriter, TensorType, Value, ValueType};
use tern_kernels::GgmlType;

// ---- allocation tracking: the largest single allocation made on this thread ----

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; only records the requested size in a
// const-initialised thread-local `Cell` (no allocation, no destructor).
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(layout.size())));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(new_size)));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Runs `f`, returning its result and the largest single allocation it made.
fn largest_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let r = f();
    (r, LARGEST.with(|l| l.get()))
}

// ---- hand-built bytes, written from the spec text, not with GgufWriter ----

#[derive(Default)]
struct B(Vec<u8>);

impl B {
    fn header(version: u32, tensors: u64, kvs: u64) -> B {
        let mut b = B::default();
        b.raw(b"GGUF").u32(version).u64(tensors).u64(kvs);
        b
    }
    fn raw(&mut self, b: &[u8]) -> &mut B {
        self.0.extend_from_slice(b);
        self
    }
    fn u8(&mut self, v: u8) -> &mut B {
        self.raw(&[v])
    }
    fn u32(&mut self, v: u32) -> &mut B {
        self.raw(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> &mut B {
        self.raw(&v.to_le_bytes())
    }
    fn str(&mut self, s: &str) -> &mut B {
        self.u64(s.len() as u64).raw(s.as_bytes())
    }
    /// A key and its value type id (the value follows).
    fn key(&mut self, k: &str, ty: u32) -> &mut B {
        self.str(k).u32(ty)
    }
    fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> &mut B {
        self.str(name).u32(dims.len() as u32);
        for &d in dims {
            self.u64(d);
        }
        self.u32(ty).u64(offset)
    }
    fn pad(&mut self, align: usize) -> &mut B {
        let n = self.0.len().next_multiple_of(align);
        self.0.resize(n, 0);
        self
    }
}

fn parse(b: &[u8]) -> Result<GgufFile, GgufError> {
    GgufFile::from_bytes(b.to_vec())
}

/// The spec fixture: 3 keys (string, u32, array of i32), an F32 [4, 2] tensor and an
/// I2_S [128, 1] tensor, default alignment, no trailing padding.
fn fixture(version: u32) -> Vec<u8> {
    let mut b = B::header(version, 2, 3);
    b.key("general.architecture", 8).str("bitnet-b1.58");
    b.key("test.u32", 4).u32(7);
    b.key("test.arr", 9).u32(5).u64(3).u32(1).u32((-2i32) as u32).u32(3);
    b.tensor("a", &[4, 2], 0, 0);
    b.tensor("w", &[128, 1], 36, 32);
    b.pad(32);
    for i in 0..8 {
        b.raw(&(i as f32).to_le_bytes());
    }
    for i in 0..64u8 {
        b.u8(i);
    }
    b.0
}

#[test]
fn hand_built_fixture_v2_and_v3() {
    for version in [2, 3] {
        let bytes = fixture(version);
        let f = parse(&bytes).unwrap();
        assert_eq!(f.version(), version);
        assert_eq!(f.alignment(), 32);
        assert_eq!(f.data_offset() % 32, 0);
        let m = f.metadata();
        assert_eq!(m.len(), 3);
        assert_eq!(m.get_str("general.architecture").unwrap(), "bitnet-b1.58");
        assert_eq!(m.get_u32("test.u32").unwrap(), 7);
        assert_eq!(m.get_i32_array("test.arr").unwrap(), &[1, -2, 3]);
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["general.architecture", "test.u32", "test.arr"]);

        let names: Vec<_> = f.tensors().iter().map(|t| t.name()).collect();
        assert_eq!(names, ["a", "w"]);
        let a = f.tensor("a").unwrap();
        assert_eq!(a.shape(), &[4, 2]);
        assert_eq!(a.n_elements(), 8);
        assert_eq!(a.ggml_type(), TensorType::Known(GgmlType::F32));
        let floats: Vec<f32> =
            a.data().unwrap().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(floats, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let w = f.tensor("w").unwrap();
        assert_eq!(w.ggml_type(), TensorType::Known(GgmlType::I2S));
        // I2_S: n / 4 packed bytes + the 32-byte scale trailer.
        assert_eq!(w.data().unwrap().len(), 128 / 4 + 32);
        assert_eq!(w.data().unwrap(), &(0..64u8).collect::<Vec<_>>()[..]);
        assert!(f.tensor("missing").is_none());
    }
}

fn every_value() -> Vec<(&'static str, Value)> {
    vec![
        ("t.u8", Value::U8(200)),
        ("t.i8", Value::I8(-100)),
        ("t.u16", Value::U16(60000)),
        ("t.i16", Value::I16(-30000)),
        ("t.u32", Value::U32(4_000_000_000)),
        ("t.i32", Value::I32(-2_000_000_000)),
        ("t.f32", Value::F32(1.5e-5)),
        ("t.bool", Value::Bool(true)),
        ("t.string", Value::String("héllo ✓".into())),
        ("t.u64", Value::U64(u64::MAX)),
        ("t.i64", Value::I64(i64::MIN)),
        ("t.f64", Value::F64(-2.5e300)),
        ("a.u8", Value::Array(vec![1u8, 2, 255].into())),
        ("a.i8", Value::Array(vec![-1i8, 0, 1].into())),
        ("a.u16", Value::Array(vec![1u16, 65535].into())),
        ("a.i16", Value::Array(vec![-1i16, 7].into())),
        ("a.u32", Value::Array(vec![1u32, 2, 3].into())),
        ("a.i32", Value::Array(vec![-1i32, 1].into())),
        ("a.f32", Value::Array(vec![0.5f32, -0.25].into())),
        ("a.bool", Value::Array(vec![true, false, true].into())),
        ("a.string", Value::Array(vec!["a", "", "Ġthe"].into())),
        ("a.u64", Value::Array(vec![u64::MAX, 0].into())),
        ("a.i64", Value::Array(vec![i64::MIN, 5].into())),
        ("a.f64", Value::Array(vec![1e-300f64].into())),
        ("a.empty", Value::Array(Vec::<u32>::new().into())),
        (
            "a.nested",
            Value::Array(Array::Array(vec![
                Array::U32(vec![1, 2]),
                Array::String(vec!["x".into()]),
                Array::Array(vec![Array::F32(vec![]), Array::Bool(vec![false])]),
                Array::Array(vec![]),
            ])),
        ),
    ]
}

#[test]
fn round_trip_every_value_type() {
    for version in [2, 3] {
        let mut w = GgufWriter::new();
        w.set_version(version).unwrap();
        for (k, v) in every_value() {
            w.add(k, v).unwrap();
        }
        let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
        assert_eq!(f.version(), version);
        let got: Vec<(&str, Value)> = f.metadata().iter().map(|(k, v)| (k, v.clone())).collect();
        assert_eq!(got, every_value());
        let m = f.metadata();
        assert_eq!(m.get_u8("t.u8").unwrap(), 200);
        assert_eq!(m.get_i8("t.i8").unwrap(), -100);
        assert_eq!(m.get_u16("t.u16").unwrap(), 60000);
        assert_eq!(m.get_i16("t.i16").unwrap(), -30000);
        assert_eq!(m.get_u32("t.u32").unwrap(), 4_000_000_000);
        assert_eq!(m.get_i32("t.i32").unwrap(), -2_000_000_000);
        assert_eq!(m.get_f32("t.f32").unwrap(), 1.5e-5);
        assert!(m.get_bool("t.bool").unwrap());
        assert_eq!(m.get_str("t.string").unwrap(), "héllo ✓");
        assert_eq!(m.get_u64("t.u64").unwrap(), u64::MAX);
        assert_eq!(m.get_i64("t.i64").unwrap(), i64::MIN);
        assert_eq!(m.get_f64("t.f64").unwrap(), -2.5e300);
        assert_eq!(m.get_str_array("a.string").unwrap(), ["a", "", "Ġthe"]);
        assert_eq!(m.get_f32_array("a.f32").unwrap(), [0.5, -0.25]);
        assert_eq!(m.get_bool_array("a.bool").unwrap(), [true, false, true]);
        assert_eq!(m.get_array("a.nested").unwrap().elem_type(), ValueType::Array);
        assert_eq!(m.get_array("a.nested").unwrap().len(), 4);
        assert_eq!(m.get_uint("t.u8").unwrap(), 200);
        assert_eq!(m.get_u32_or("absent", 9).unwrap(), 9);
        assert_eq!(m.get_str_or("absent", "d").unwrap(), "d");
    }
}

#[test]
fn type_mismatch_names_key_and_types() {
    let mut w = GgufWriter::new();
    w.add("general.name", "tiny").unwrap();
    w.add("bitnet.eps", 1e-5f64).unwrap();
    w.add("toks", Array::I32(vec![1])).unwrap();
    w.add("neg", -1i32).unwrap();
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    let m = f.metadata();
    let e = m.get_u32("general.name").unwrap_err();
    assert!(
        matches!(&e, GgufError::TypeMismatch { key, expected: "u32", found } if key == "general.name" && found == "string")
    );
    assert!(e.to_string().contains("general.name"), "{e}");
    // `_or` defaults only for absent keys, not for the wrong type.
    let e = m.get_f32_or("bitnet.eps", 1e-6).unwrap_err();
    assert!(e.to_string().contains("bitnet.eps") && e.to_string().contains("f64"), "{e}");
    let e = m.get_str_array("toks").unwrap_err();
    assert!(e.to_string().contains("toks") && e.to_string().contains("array of i32"), "{e}");
    assert!(matches!(m.get_u32("nope"), Err(GgufError::MissingKey { key }) if key == "nope"));
    assert!(m.get_uint("neg").is_err());
}

fn f32_bytes(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
}

#[test]
fn alignment_default_and_custom() {
    for align in [None, Some(1u32), Some(8), Some(64), Some(4096)] {
        let mut w = GgufWriter::new();
        if let Some(a) = align {
            w.set_alignment(a).unwrap();
        }
        w.add("x", 1u8).unwrap();
        w.add_tensor("t0", &[3], GgmlType::F32, f32_bytes(3)).unwrap();
        w.add_tensor("t1", &[5, 1], GgmlType::F32, f32_bytes(5)).unwrap();
        let i2s = tern_kernels::formats::i2s::pack(&[1i8; 256], 0.5).unwrap();
        w.add_tensor("t2", &[256], GgmlType::I2S, i2s.clone()).unwrap();
        let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
        let a = u64::from(align.unwrap_or(32));
        assert_eq!(f.alignment(), a);
        assert_eq!(f.data_offset() % a, 0);
        for t in f.tensors() {
            assert_eq!(t.file_offset() % a, 0, "{}", t.name());
            assert_eq!(t.relative_offset() % a, 0);
        }
        assert_eq!(f.tensor("t0").unwrap().data().unwrap(), f32_bytes(3));
        assert_eq!(f.tensor("t1").unwrap().data().unwrap(), f32_bytes(5));
        assert_eq!(f.tensor("t2").unwrap().data().unwrap(), i2s);
    }
    assert!(GgufWriter::new().set_alignment(48).is_err());
    assert!(GgufWriter::new().add("general.alignment", 0u32).is_err());
}

#[test]
fn custom_alignment_hand_built_and_bad_alignment() {
    let build = |align_ty: u32, align: u32| {
        let mut b = B::header(3, 1, 1);
        b.key("general.alignment", align_ty).u32(align);
        b.tensor("t", &[2], 0, 0);
        b.pad(align.max(1) as usize);
        b.raw(&f32_bytes(2));
        b.0
    };
    let f = parse(&build(4, 128)).unwrap();
    assert_eq!(f.alignment(), 128);
    assert_eq!(f.data_offset(), 128);
    assert_eq!(f.tensor("t").unwrap().data().unwrap(), f32_bytes(2));
    for bytes in [build(4, 48), build(4, 0), build(5, 32)] {
        let e = parse(&bytes).unwrap_err().to_string();
        assert!(e.contains("general.alignment"), "{e}");
    }
    // A tensor offset that is not a multiple of the alignment.
    let mut b = B::header(3, 1, 0);
    b.tensor("t", &[2], 0, 4).pad(32).raw(&[0; 64]);
    let e = parse(&b.0).unwrap_err().to_string();
    assert!(e.contains("\"t\"") && e.contains("alignment"), "{e}");
}

#[test]
fn unknown_tensor_types_are_kept_as_raw_ids() {
    let mut w = GgufWriter::new();
    // Id 3 is ggml's Q4_1 (20 bytes per 32 values), which tern does not read.
    w.add_tensor("q4", &[32], TensorType::Unknown(3), vec![7u8; 20]).unwrap();
    w.add_tensor("f", &[2], GgmlType::F32, f32_bytes(2)).unwrap();
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    let q = f.tensor("q4").unwrap();
    assert_eq!(q.ggml_type(), TensorType::Unknown(3));
    assert_eq!(q.ggml_type().id(), 3);
    assert_eq!(q.info().byte_len(), None);
    let e = q.data().unwrap_err();
    assert!(matches!(&e, GgufError::UnknownTensorType { name, type_id: 3 } if name == "q4"));
    assert_eq!(f.tensor("f").unwrap().data().unwrap(), f32_bytes(2));
    assert_eq!(TensorType::from_id(36), TensorType::Known(GgmlType::I2S));
}

#[test]
fn truncation_at_every_byte_is_an_error() {
    for version in [2, 3] {
        let bytes = fixture(version);
        for len in 0..bytes.len() {
            let r = parse(&bytes[..len]);
            assert!(r.is_err(), "version {version}: truncated to {len} bytes parsed");
        }
        assert!(parse(&bytes).is_ok());
    }
    // Cut inside the "test.arr" value and inside the info of tensor "w".
    for (len, name) in [(120, "\"test.arr\""), (200, "\"w\"")] {
        let e = parse(&fixture(3)[..len]).unwrap_err();
        assert!(matches!(e, GgufError::Truncated { .. }), "{e}");
        assert!(e.to_string().contains(name) && e.to_string().contains("byte"), "{e}");
    }
    let bytes = fixture(3);
    let e = parse(&bytes[..bytes.len() - 1]).unwrap_err().to_string();
    assert!(e.contains("\"w\"") && e.contains("end of the file"), "{e}");
}

fn touch(f: &GgufFile) -> u64 {
    let mut sum = 0u64;
    for t in f.tensor_views() {
        if let Ok(d) = t.data() {
            sum = sum.wrapping_add(d.iter().map(|&b| u64::from(b)).sum::<u64>());
        }
    }
    for (_, v) in f.metadata().iter() {
        sum = sum.wrapping_add(v.type_description().len() as u64);
    }
    sum
}

#[test]
fn random_byte_flips_never_panic() {
    let mut w = GgufWriter::new();
    for (k, v) in every_value() {
        w.add(k, v).unwrap();
    }
    w.add_tensor("a", &[4, 2], GgmlType::F32, f32_bytes(8)).unwrap();
    w.add_tensor("b", &[256], GgmlType::I2S, vec![0u8; 256 / 4 + 32]).unwrap();
    w.add_tensor("c", &[32], GgmlType::Q8_0, vec![0u8; 34]).unwrap();
    let good = w.to_bytes().unwrap();
    let mut hand = fixture(3);
    let mut rng = StdRng::seed_from_u64(0x6775_6766);
    let mut ok = 0;
    for i in 0..4000 {
        let base: &[u8] = if i % 2 == 0 { &good } else { &hand };
        let mut bytes = base.to_vec();
        for _ in 0..rng.random_range(1..=4) {
            let at = rng.random_range(0..bytes.len());
            bytes[at] = match rng.random_range(0..4) {
                0 => 0xff,
                1 => 0,
                _ => rng.random(),
            };
        }
        let (r, largest) = largest_alloc(|| parse(&bytes).map(|f| touch(&f)));
        ok += usize::from(r.is_ok());
        assert!(largest < 1 << 20, "flip {i} allocated {largest} bytes at once");
    }
    assert!(ok > 0);
    hand.clear();
    assert!(parse(&hand).is_err());
}

#[test]
fn absurd_counts_fail_fast_without_allocating() {
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    cases.push(("tensor_count", B::header(3, u64::MAX, 0).0));
    cases.push(("kv_count", B::header(3, 0, u64::MAX).0));
    cases.push(("both", B::header(3, u64::MAX / 2, u64::MAX / 2).0));
    let mut b = B::header(3, 0, 1);
    b.u64(u64::MAX).raw(b"abc");
    cases.push(("key len", b.0));
    let mut b = B::header(3, 0, 1);
    b.key("s", 8).u64(1 << 60).raw(b"abc");
    cases.push(("string len", b.0));
    for (elem, count) in [(0u32, u64::MAX), (0, 1 << 40), (8, u64::MAX / 8), (9, 1 << 50), (12, u64::MAX)] {
        let mut b = B::header(3, 0, 1);
        b.key("arr", 9).u32(elem).u64(count).raw(&[0; 64]);
        cases.push(("array count", b.0));
    }
    let mut b = B::header(3, 0, 1);
    b.key("deep", 9);
    for _ in 0..100 {
        b.u32(9).u64(1);
    }
    cases.push(("nesting", b.0));
    let mut b = B::header(3, 1, 0);
    b.str("t").u32(u32::MAX);
    cases.push(("n_dims", b.0));
    let mut b = B::header(3, 1, 0);
    b.tensor("t", &[1 << 40, 1 << 40], 0, 0);
    cases.push(("dims overflow", b.0));
    let mut b = B::header(3, 1, 0);
    b.tensor("t", &[1 << 40], 0, 0);
    cases.push(("data past end", b.0));
    let mut b = B::header(3, 1, 0);
    b.tensor("t", &[4], 0, u64::MAX - 31);
    cases.push(("offset overflow", b.0));
    let mut b = B::header(3, 0, 1);
    b.key("s", 8).u64(2).raw(&[0xff, 0xfe]);
    cases.push(("utf8", b.0));
    let mut b = B::header(3, 0, 1);
    b.key("b", 7).u8(2);
    cases.push(("bool byte", b.0));
    let mut b = B::header(3, 0, 1);
    b.key("x", 13).u32(0);
    cases.push(("value type", b.0));

    for (what, bytes) in cases {
        let start = std::time::Instant::now();
        let (r, largest) = largest_alloc(|| parse(&bytes));
        let e = r.expect_err(what);
        assert!(largest < 64 * 1024, "{what}: allocated {largest} bytes at once");
        assert!(start.elapsed().as_secs() < 1, "{what}: slow");
        assert!(e.to_string().contains("byte"), "{what}: {e}");
    }
}

#[test]
fn duplicates_overlaps_and_header_errors() {
    let mut b = B::header(3, 0, 2);
    b.key("k", 4).u32(1).key("k", 4).u32(2);
    let e = parse(&b.0).unwrap_err().to_string();
    assert!(e.contains("\"k\"") && e.contains("duplicate"), "{e}");

    let mut b = B::header(3, 2, 0);
    b.tensor("t", &[8], 0, 0).tensor("t", &[8], 0, 32).pad(32).raw(&[0; 64]);
    let e = parse(&b.0).unwrap_err().to_string();
    assert!(e.contains("\"t\"") && e.contains("duplicate"), "{e}");

    let mut b = B::header(3, 2, 0);
    b.tensor("x", &[16], 0, 0).tensor("y", &[8], 0, 32).pad(32).raw(&[0; 64]);
    let e = parse(&b.0).unwrap_err().to_string();
    assert!(e.contains("overlaps"), "{e}");

    // I2_S needs a multiple of 128 values.
    let mut b = B::header(3, 1, 0);
    b.tensor("w", &[100], 36, 0).pad(32).raw(&[0; 64]);
    let e = parse(&b.0).unwrap_err().to_string();
    assert!(e.contains("\"w\"") && e.contains("I2S"), "{e}");

    let mut bad_magic = fixture(3);
    bad_magic[0] = b'g';
    assert!(parse(&bad_magic).unwrap_err().to_string().contains("not a GGUF file"));
    for (v, msg) in
        [(1u32, "version 1"), (3u32.swap_bytes(), "big-endian"), (4, "unsupported GGUF version 4")]
    {
        let mut bytes = fixture(3);
        bytes[4..8].copy_from_slice(&v.to_le_bytes());
        let e = parse(&bytes).unwrap_err().to_string();
        assert!(e.contains(msg), "{e}");
    }

    // The writer refuses what the reader would reject.
    let mut w = GgufWriter::new();
    w.add("k", 1u8).unwrap();
    assert!(w.add("k", 2u8).is_err());
    w.add_tensor("t", &[2], GgmlType::F32, f32_bytes(2)).unwrap();
    assert!(w.add_tensor("t", &[2], GgmlType::F32, f32_bytes(2)).is_err());
    assert!(w.add_tensor("u", &[3], GgmlType::F32, f32_bytes(2)).is_err());
    assert!(w.add_tensor("v", &[1, 1, 1, 1, 1], GgmlType::F32, f32_bytes(1)).is_err());
    assert!(w.add_tensor(&"n".repeat(64), &[1], GgmlType::F32, f32_bytes(1)).is_err());
    assert!(w.set_version(1).is_err());
}

#[test]
fn open_maps_a_file() {
    let dir = std::env::temp_dir().join(format!("tern-gguf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.gguf");
    let mut w = GgufWriter::new();
    w.add("general.architecture", "bitnet-b1.58").unwrap();
    w.add_tensor("t", &[4], GgmlType::F32, f32_bytes(4)).unwrap();
    w.write_file(&path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.tensor("t").unwrap().data().unwrap(), f32_bytes(4));
    assert_eq!(f.bytes(), &w.to_bytes().unwrap()[..]);

    let empty = dir.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(GgufFile::open(&empty), Err(GgufError::Truncated { .. })));
    let e = GgufFile::open(dir.join("missing.gguf")).unwrap_err();
    assert!(matches!(e, GgufError::Io { .. }) && e.to_string().contains("missing.gguf"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();

    // from_bytes takes anything that converts into Arc<[u8]>.
    let shared: Arc<[u8]> = Arc::from(fixture(2));
    assert!(GgufFile::from_bytes(shared).is_ok());
}
