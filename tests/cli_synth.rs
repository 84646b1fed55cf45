//! `tern synth` writes a GGUF model that tern loads and runs; bad shapes are refused.

use std::process::Command;

use tern::inference::model::Model;

#[test]
fn synth_tiny_writes_a_loadable_model() {
    let path = std::env::temp_dir().join(format!("tern-synth-{}.gguf", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["synth", "--shape", "tiny", "--seed", "7", "-o"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let model = Model::load(&path).unwrap();
    let ids = model.generate(&[1, 2, 3], 4).unwrap();
    assert_eq!(ids.len(), 4);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn synth_rejects_an_unknown_shape() {
    let out = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["synth", "--shape", "huge", "-o", "/nonexistent/x.gguf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown --shape"));
}
