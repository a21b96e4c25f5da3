//! The model file of a rollout: its hash, the default name and version
//! derived from it, and the size of one sample input for the health check.

use crate::error::{FleetError, Result};
use std::path::Path;

pub use edgefleet_core::default_version;

/// What the rollout knows about its file before touching any device.
#[derive(Debug, Clone)]
pub(crate) struct ModelFile {
    pub sha256: String,
    pub size_bytes: u64,
    /// Floats in one sample, when the graph declares a fixed sample shape.
    pub features: Option<usize>,
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let io_err = |source| FleetError::Io { path: path.display().to_string(), source };
    let file = std::fs::File::open(path).map_err(io_err)?;
    edgefleet_core::sha256_reader(std::io::BufReader::with_capacity(256 * 1024, file)).map_err(io_err)
}

/// The name a model gets when none is given: the file stem.
pub fn default_model_name(path: &Path) -> Result<String> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| FleetError::BadInput(format!("{} has no usable file name", path.display())))?;
    check_segment("name", stem)?;
    Ok(stem.to_owned())
}

/// The agent's rule for model names and versions (`edgefleet_core::names`),
/// checked here so bad names fail before any upload.
pub(crate) fn check_segment(kind: &str, value: &str) -> Result<()> {
    edgefleet_core::check_segment(kind, value).map_err(|e| {
        FleetError::BadInput(format!(
            "model {} `{}` is not allowed: {}",
            e.kind,
            e.value,
            edgefleet_core::names::SEGMENT_RULE
        ))
    })
}

/// Read, hash and decode the file (blocking: call from `spawn_blocking`).
/// A file that is missing or not ONNX is bad input.
pub(crate) fn examine(path: &Path) -> Result<ModelFile> {
    let meta = std::fs::metadata(path)
        .map_err(|e| FleetError::BadInput(format!("cannot read the model file {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(FleetError::BadInput(format!("{} is not a file", path.display())));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| FleetError::BadInput(format!("cannot read the model file {}: {e}", path.display())))?;
    let sha256 = edgefleet_core::sha256_hex(&bytes);
    let proto = edgefleet_optimize::decode_model(&bytes)
        .map_err(|e| FleetError::BadInput(format!("{} is not a valid ONNX model: {e}", path.display())))?;
    let features = proto.graph.as_ref().and_then(|g| {
        let inputs = edgefleet_optimize::runner::real_inputs(g);
        let [input] = inputs.as_slice() else { return None };
        let dims = edgefleet_optimize::runner::value_dims(input);
        let sample = dims.get(1..)?;
        sample.iter().try_fold(1usize, |acc, d| d.and_then(|n| usize::try_from(n).ok()).map(|n| acc * n))
    });
    Ok(ModelFile { sha256, size_bytes: meta.len(), features })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assets() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models")
    }

    #[test]
    fn names_and_versions_follow_the_agent_rules() {
        assert_eq!(default_model_name(Path::new("/x/mlp_digits.onnx")).unwrap(), "mlp_digits");
        assert!(default_model_name(Path::new("/x/bad name.onnx")).is_err());
        assert!(default_model_name(Path::new("/x/.hidden")).is_err());
        assert_eq!(default_version(&"ab".repeat(32)), "abababababab");
        assert!(check_segment("version", "1.0-rc_2").is_ok());
        assert!(check_segment("version", "../x").is_err());
    }

    #[test]
    fn examine_reads_the_sample_size_and_refuses_non_onnx() {
        let mlp = examine(&assets().join("mlp_digits.onnx")).unwrap();
        assert_eq!(mlp.features, Some(64));
        assert_eq!(mlp.sha256, sha256_file(&assets().join("mlp_digits.onnx")).unwrap());
        let cnn = examine(&assets().join("cnn_digits.onnx")).unwrap();
        assert_eq!(cnn.features, Some(64), "1×8×8 per sample");

        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.onnx");
        std::fs::write(&junk, b"\xff\xff\xff not protobuf").unwrap();
        let err = examine(&junk).unwrap_err();
        assert!(matches!(err, FleetError::BadInput(_)) && err.to_string().contains("not a valid ONNX"), "{err}");
        let err = examine(&dir.path().join("missing.onnx")).unwrap_err();
        assert!(err.to_string().contains("cannot read the model file"), "{err}");
    }
}
