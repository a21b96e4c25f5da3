//! The model profiles shipped in `assets/profiles/` are what `inspect`
//! computes from the shipped ONNX files (so the README's estimates are
//! about the real graphs, not hand-typed numbers).

use edgefleet_core::ModelProfile;
use std::path::PathBuf;

fn assets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets")
}

#[test]
fn shipped_profiles_match_inspect() {
    for name in ["mlp_digits", "cnn_digits"] {
        let computed = edgefleet_optimize::inspect_path(&assets().join(format!("models/{name}.onnx"))).unwrap();
        let text = std::fs::read_to_string(assets().join(format!("profiles/{name}.json"))).unwrap();
        let mut shipped = ModelProfile::from_json(&text).unwrap();
        assert!(shipped.accuracy.is_some_and(|a| a > 0.9), "{name}: accuracy recorded");
        shipped.accuracy = None;
        assert_eq!(shipped, computed, "{name}: regenerate with `edgefleet inspect assets/models/{name}.onnx --json`");
    }
}
