//! Models as the estimators see them: a [`ModelProfile`] computed from the
//! real ONNX graph by `edgefleet-optimize`, and the kinds of optimization.

use crate::device::DeviceType;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One dimension of a tensor shape: a number, or a symbol such as `N`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(i64),
    Symbolic(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbolic(s) => f.write_str(s),
        }
    }
}

/// A named graph input or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    pub name: String,
    /// ONNX element type name (`float`, `float16`, `int8`, …).
    pub elem_type: String,
    pub shape: Vec<Dim>,
}

impl TensorInfo {
    /// Elements per sample: the product of every fixed dimension after the
    /// first (batch) one; `None` if any of those is symbolic.
    pub fn elements_per_sample(&self) -> Option<u64> {
        self.shape.iter().skip(1).try_fold(1u64, |acc, d| match d {
            Dim::Fixed(n) if *n >= 0 => Some(acc * (*n as u64)),
            _ => None,
        })
    }
}

/// What the estimators need to know about a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelProfile {
    pub name: String,
    /// Number of weight parameters (elements of all initializers).
    pub params: u64,
    /// Bytes of weights as stored.
    pub weights_bytes: u64,
    /// Size of the model file; defaults to `weights_bytes` when unknown.
    #[serde(default)]
    pub file_bytes: u64,
    pub flops_per_sample: u64,
    pub peak_activation_bytes_per_sample: u64,
    /// Sorted, unique ONNX op types the graph uses.
    #[serde(default)]
    pub ops: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opset: Option<i64>,
    #[serde(default)]
    pub inputs: Vec<TensorInfo>,
    #[serde(default)]
    pub outputs: Vec<TensorInfo>,
    /// Device types the model is meant for; empty means any.
    #[serde(default)]
    pub target_device_types: Vec<DeviceType>,
    /// Top-1 accuracy in 0..=1 when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// How the work splits into the runtime's nodes and layers (what the
    /// latency estimate charges besides FLOPs); all zero when unknown.
    #[serde(default)]
    pub work: LayerWork,
}

/// The per-layer work of one sample besides its FLOPs, counted from the
/// graph by `edgefleet-optimize`: what makes a runtime spend more per FLOP
/// on narrow layers, convolutions and many small nodes than on a few wide
/// matrix products. All zero (the default) means "not counted" (profiles
/// made before these were): the estimator then charges FLOPs only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LayerWork {
    /// Nodes the runtime dispatches, one each per call: every node but the
    /// elementwise ones it fuses into a matrix product (bias, activation)
    /// and pure reshapes.
    pub nodes: u32,
    /// Rows of matrix products (`MatMul`, `Gemm`) per sample, summed over
    /// the layers: a dense layer of a flat input is one row; each row is
    /// packed and its outputs written.
    pub matmul_rows: u64,
    /// Convolutions: output pixels × (patch length + output channels) per
    /// sample, summed: the patch matrix built and the outputs written.
    pub conv_elements: u64,
    /// Elements read and written per sample by the other dispatched nodes
    /// (pooling, unfused elementwise ops, normalisations).
    pub elementwise_elements: u64,
    /// Rows of row-wise normalisations (`Softmax`, `LogSoftmax`) per
    /// sample: each costs far more than its elements.
    pub row_ops: u64,
}

impl LayerWork {
    /// Whether the graph was counted (a graph has at least one node).
    pub fn is_known(&self) -> bool {
        self.nodes > 0
    }
}

/// Why a profile was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProfileError {
    #[error("model profile JSON is malformed: {0}")]
    Malformed(String),
    #[error("model profile field `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl ModelProfile {
    /// Parse and validate a profile from JSON.
    pub fn from_json(text: &str) -> Result<ModelProfile, ProfileError> {
        let mut p: ModelProfile = serde_json::from_str(text).map_err(|e| ProfileError::Malformed(e.to_string()))?;
        if p.name.trim().is_empty() {
            return Err(ProfileError::Invalid { field: "name", reason: "must not be empty".into() });
        }
        if let Some(a) = p.accuracy
            && !(a.is_finite() && (0.0..=1.0).contains(&a))
        {
            return Err(ProfileError::Invalid {
                field: "accuracy",
                reason: format!("must be between 0 and 1, got {a}"),
            });
        }
        if p.file_bytes == 0 {
            p.file_bytes = p.weights_bytes;
        }
        Ok(p)
    }

    /// Bytes the model occupies on disk (file size, else weights).
    pub fn storage_bytes(&self) -> u64 {
        if self.file_bytes > 0 { self.file_bytes } else { self.weights_bytes }
    }
}

/// The optimizations `edgefleet-optimize` performs on a graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OptimizationKind {
    /// Per-channel symmetric int8 weights + DequantizeLinear (storage only).
    Int8,
    /// DynamicQuantizeLinear + MatMulInteger: integer compute.
    Int8Dynamic,
    /// QDQ int8 with activation ranges calibrated on sample rows (the
    /// evaluation data): integer compute where the runtime fuses QDQ.
    Int8Static,
    /// float16 weight storage.
    Fp16,
    /// Magnitude pruning to the given sparsity (0..1).
    Prune { sparsity: f64 },
    /// Remove the weakest hidden units / channels (0..1 of them).
    PruneStructured { ratio: f64 },
    /// Concrete batch size and shapes, constant folding.
    FixShapes { batch: u32 },
}

impl fmt::Display for OptimizationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimizationKind::Int8 => f.write_str("int8"),
            OptimizationKind::Int8Dynamic => f.write_str("int8-dynamic"),
            OptimizationKind::Int8Static => f.write_str("int8-static"),
            OptimizationKind::Fp16 => f.write_str("fp16"),
            OptimizationKind::Prune { sparsity } => write!(f, "prune:{sparsity}"),
            OptimizationKind::PruneStructured { ratio } => write!(f, "prune-structured:{ratio}"),
            OptimizationKind::FixShapes { batch } => write!(f, "fix-shapes:{batch}"),
        }
    }
}

/// Why a recipe step could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("bad recipe step `{step}`: {reason}")]
pub struct RecipeParseError {
    pub step: String,
    pub reason: String,
}

impl std::str::FromStr for OptimizationKind {
    type Err = RecipeParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| RecipeParseError { step: s.to_owned(), reason: reason.to_owned() };
        let (head, arg) = match s.split_once(':') {
            Some((h, a)) => (h.trim(), Some(a.trim())),
            None => (s.trim(), None),
        };
        let ratio = |a: Option<&str>| -> Result<f64, RecipeParseError> {
            let a = a.ok_or_else(|| err("needs a ratio, e.g. prune:0.5"))?;
            let r: f64 = a.parse().map_err(|_| err("the ratio must be a number"))?;
            if (0.0..1.0).contains(&r) { Ok(r) } else { Err(err("the ratio must be in [0, 1)")) }
        };
        match head {
            "int8" => Ok(OptimizationKind::Int8),
            "int8-dynamic" => Ok(OptimizationKind::Int8Dynamic),
            "int8-static" => Ok(OptimizationKind::Int8Static),
            "fp16" => Ok(OptimizationKind::Fp16),
            "prune" => Ok(OptimizationKind::Prune { sparsity: ratio(arg)? }),
            "prune-structured" => Ok(OptimizationKind::PruneStructured { ratio: ratio(arg)? }),
            "fix-shapes" => {
                let batch = match arg {
                    None => 1,
                    Some(a) => a.parse().map_err(|_| err("the batch must be a whole number"))?,
                };
                if batch == 0 {
                    return Err(err("the batch must be at least 1"));
                }
                Ok(OptimizationKind::FixShapes { batch })
            }
            _ => Err(err(
                "known steps: int8, int8-dynamic, int8-static, fp16, prune:R, prune-structured:R, fix-shapes[:B]",
            )),
        }
    }
}

/// Parse a comma-separated recipe (`int8,prune:0.5`).
pub fn parse_recipe(text: &str) -> Result<Vec<OptimizationKind>, RecipeParseError> {
    text.split(',').filter(|s| !s.trim().is_empty()).map(str::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_parses_and_displays() {
        let r = parse_recipe("int8, prune:0.5,fix-shapes:8").unwrap();
        assert_eq!(
            r,
            vec![
                OptimizationKind::Int8,
                OptimizationKind::Prune { sparsity: 0.5 },
                OptimizationKind::FixShapes { batch: 8 }
            ]
        );
        assert_eq!(r[1].to_string(), "prune:0.5");
        assert!(parse_recipe("int4").is_err());
        assert!(parse_recipe("prune:1.5").is_err());
    }

    #[test]
    fn dims_serialize_as_numbers_or_strings() {
        let t = TensorInfo {
            name: "x".into(),
            elem_type: "float".into(),
            shape: vec![Dim::Symbolic("N".into()), Dim::Fixed(64)],
        };
        assert_eq!(serde_json::to_string(&t.shape).unwrap(), r#"["N",64]"#);
        assert_eq!(t.elements_per_sample(), Some(64));
    }
}
