//! Feeds arbitrary bytes to `GgufFile::from_bytes` and touches every tensor's data and
//! every metadata value: any panic or out-of-bounds read is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_inference::gguf::GgufFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = GgufFile::from_bytes(data.to_vec()) {
        let mut sum = 0u64;
        for t in f.tensor_views() {
            if let Ok(d) = t.data() {
                sum = d.iter().fold(sum, |s, &b| s.wrapping_add(u64::from(b)));
            }
            assert!(f.tensor(t.name()).is_some());
        }
        for (key, value) in f.metadata().iter() {
            sum = sum.wrapping_add(value.type_description().len() as u64);
            assert!(f.metadata().get(key).is_some());
        }
        std::hint::black_box(sum);
    }
});
