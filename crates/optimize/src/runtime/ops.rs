//! The op sets of the two runtimes, named the way [`crate::inspect`] names
//! a model's ops (`Op` for the default ONNX domain, `domain:Op` otherwise).
//!
//! tract's set is its ONNX op register, read at run time; tract looks ops
//! up by type alone, whatever their domain. ONNX Runtime's set is the list
//! `scripts/ort_ops.py` wrote from the installed package (its CPU kernels
//! plus ONNX function ops), compiled in so a console can check a model
//! against a device's runtime without loading the library.

use std::collections::BTreeSet;
use std::sync::OnceLock;

const ORT_OPS: &str = include_str!("ort_ops.txt");

/// The op type without its domain.
pub fn op_type(op: &str) -> &str {
    op.rsplit_once(':').map(|(_, t)| t).unwrap_or(op)
}

/// tract's ONNX ops (types, no domains).
pub fn tract_ops() -> &'static BTreeSet<String> {
    static OPS: OnceLock<BTreeSet<String>> = OnceLock::new();
    OPS.get_or_init(|| tract_onnx::onnx().op_register.0.keys().cloned().collect())
}

/// ONNX Runtime's CPU ops (domain-qualified outside the default domain).
pub fn ort_ops() -> &'static BTreeSet<String> {
    static OPS: OnceLock<BTreeSet<String>> = OnceLock::new();
    OPS.get_or_init(|| {
        ORT_OPS.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
    })
}

/// Whether tract runs `op` (it ignores the domain).
pub fn tract_supports(op: &str) -> bool {
    tract_ops().contains(op_type(op))
}

/// Whether ONNX Runtime's CPU provider runs `op`.
pub fn ort_supports(op: &str) -> bool {
    let ops = ort_ops();
    ops.contains(op) || op.strip_prefix("ai.onnx:").is_some_and(|t| ops.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sets_know_the_ops_that_tell_the_runtimes_apart() {
        for op in ["MatMul", "Gemm", "Conv", "DynamicQuantizeLinear", "MatMulInteger", "QLinearMatMul", "Softmax"] {
            assert!(tract_supports(op) && ort_supports(op), "{op}");
        }
        assert!(ort_supports("com.microsoft:QLinearAdd"));
        assert!(!tract_supports("com.microsoft:QLinearAdd"), "tract has no QLinearAdd");
        assert!(!ort_supports("NoSuchOp") && !tract_supports("NoSuchOp"));
        assert!(ort_ops().len() > 250, "{}", ort_ops().len());
    }
}
