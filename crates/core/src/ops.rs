//! Which ONNX operators a device's runtime can run.
//!
//! Devices that do not report their own op list run the default runtime,
//! tract-onnx 0.23; [`DEFAULT_RUNTIME_OPS`] is the op types its ONNX loader
//! registers. A model that uses any other op fails to load there, so the fit
//! estimator refuses it up front.

use crate::device::Device;

/// ONNX op types tract-onnx 0.23.9 (default features, which include
/// `transformers`) can load, sorted (byte order) for binary search.
///
/// Derived from the op registry, not copied from code:
///
/// ```text
/// cd ~/.cargo/registry/src/*/tract-onnx-0.23.9/src/ops/
/// find . -name '*.rs' -print0 | xargs -0 cat | tr '\n' ' ' \
///   | grep -oE 'reg\.insert\(\s*"[A-Za-z0-9_]+"' | grep -oE '"[A-Za-z0-9_]+"' \
///   | tr -d '"' | LC_ALL=C sort -u
/// ```
///
/// (The `tr` joins lines so a `reg.insert(` split over two lines is found.)
pub const DEFAULT_RUNTIME_OPS: &[&str] = &[
    "Abs",
    "Acos",
    "Acosh",
    "Add",
    "And",
    "ArgMax",
    "ArgMin",
    "ArrayFeatureExtractor",
    "Asin",
    "Asinh",
    "Atan",
    "Atanh",
    "Attention",
    "AveragePool",
    "BatchNormalization",
    "BiasGelu",
    "BitShift",
    "BitwiseAnd",
    "BitwiseNot",
    "BitwiseOr",
    "BitwiseXor",
    "BlackmanWindow",
    "Cast",
    "CastLike",
    "CategoryMapper",
    "Ceil",
    "Celu",
    "Clip",
    "Compress",
    "Concat",
    "Constant",
    "ConstantLike",
    "ConstantOfShape",
    "Conv",
    "ConvInteger",
    "ConvTranspose",
    "Cos",
    "Cosh",
    "CumSum",
    "DFT",
    "DepthToSpace",
    "DequantizeLinear",
    "Div",
    "Dropout",
    "DynamicQuantizeLinear",
    "Einsum",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "EyeLike",
    "FastGelu",
    "Flatten",
    "Floor",
    "GRU",
    "Gather",
    "GatherBlockQuantized",
    "GatherElements",
    "GatherND",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalLpPool",
    "GlobalMaxPool",
    "Greater",
    "GreaterOrEqual",
    "GridSample",
    "GroupNormalization",
    "GroupQueryAttention",
    "HammingWindow",
    "HannWindow",
    "HardSigmoid",
    "HardSwish",
    "Hardmax",
    "Identity",
    "If",
    "InstanceNormalization",
    "IsInf",
    "IsNaN",
    "LRN",
    "LSTM",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "LinearClassifier",
    "LinearRegressor",
    "Log",
    "LogSoftmax",
    "LpNormalization",
    "MatMul",
    "MatMulInteger",
    "MatMulNBits",
    "Max",
    "MaxPool",
    "Mean",
    "MeanVarianceNormalization",
    "MelWeightMatrix",
    "Min",
    "Mish",
    "Mod",
    "Mul",
    "MultiHeadAttention",
    "Multinomial",
    "Neg",
    "NonMaxSuppression",
    "NonZero",
    "Normalizer",
    "Not",
    "OneHot",
    "Or",
    "PRelu",
    "Pad",
    "ParametricSoftplus",
    "Pow",
    "QLinearConv",
    "QLinearMatMul",
    "QuantizeLinear",
    "QuickGelu",
    "RMSNormalization",
    "RNN",
    "RandomNormal",
    "RandomNormalLike",
    "RandomUniform",
    "RandomUniformLike",
    "Range",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Resize",
    "RotaryEmbedding",
    "Round",
    "Rsqrt",
    "STFT",
    "ScaledTanh",
    "Scan",
    "Scatter",
    "ScatterElements",
    "ScatterND",
    "Selu",
    "Shape",
    "Shrink",
    "Sigmoid",
    "Sign",
    "SimplifiedLayerNormalization",
    "Sin",
    "Sinh",
    "Size",
    "SkipLayerNormalization",
    "SkipSimplifiedLayerNormalization",
    "Slice",
    "Softmax",
    "Softplus",
    "Softsign",
    "SpaceToDepth",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Swish",
    "Tan",
    "Tanh",
    "ThresholdedRelu",
    "Tile",
    "TopK",
    "Transpose",
    "TreeEnsembleClassifier",
    "Trilu",
    "Unsqueeze",
    "Where",
    "Xor",
];

/// A short name for the default runtime, for messages.
pub const DEFAULT_RUNTIME_NAME: &str = "tract-onnx 0.23";

/// True when the default runtime can load `op`.
pub fn is_default_runtime_op(op: &str) -> bool {
    DEFAULT_RUNTIME_OPS.binary_search(&op).is_ok()
}

/// The ops of `model_ops` the device's runtime cannot run, sorted and
/// without duplicates. Uses `device.runtime_ops` when the device reported
/// them, else [`DEFAULT_RUNTIME_OPS`].
pub fn unsupported_ops(model_ops: &[String], device: &Device) -> Vec<String> {
    let mut missing: Vec<String> = match &device.runtime_ops {
        Some(ops) => model_ops.iter().filter(|op| !ops.iter().any(|o| o == *op)).cloned().collect(),
        None => model_ops.iter().filter(|op| !is_default_runtime_op(op)).cloned().collect(),
    };
    missing.sort();
    missing.dedup();
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceType;

    fn ops(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_list_is_sorted_and_unique_for_binary_search() {
        assert!(DEFAULT_RUNTIME_OPS.windows(2).all(|w| w[0] < w[1]));
        assert!(DEFAULT_RUNTIME_OPS.len() > 150, "{}", DEFAULT_RUNTIME_OPS.len());
    }

    #[test]
    fn common_ops_are_in_the_default_runtime() {
        for op in ["Gemm", "MatMul", "Conv", "Relu", "Softmax", "MatMulInteger", "DequantizeLinear", "Reshape"] {
            assert!(is_default_runtime_op(op), "{op}");
        }
        assert!(!is_default_runtime_op("Loop"));
        assert!(!is_default_runtime_op("gemm"));
    }

    #[test]
    fn default_runtime_reports_only_unknown_ops_once() {
        let d = Device::new("d", DeviceType::EdgeServer, 8, 16384, 256.0);
        let model = ops(&["Gemm", "FancyOp", "Relu", "FancyOp", "Loop"]);
        assert_eq!(unsupported_ops(&model, &d), ops(&["FancyOp", "Loop"]));
        assert!(unsupported_ops(&ops(&["Gemm", "Relu"]), &d).is_empty());
    }

    #[test]
    fn device_list_overrides_the_default() {
        let mut d = Device::new("d", DeviceType::IotSensor, 1, 256, 1.0);
        d.runtime_ops = Some(ops(&["Gemm", "Relu"]));
        assert_eq!(unsupported_ops(&ops(&["Gemm", "Softmax", "Relu"]), &d), ops(&["Softmax"]));
        d.runtime_ops = Some(Vec::new());
        assert_eq!(unsupported_ops(&ops(&["Relu"]), &d), ops(&["Relu"]));
    }
}
