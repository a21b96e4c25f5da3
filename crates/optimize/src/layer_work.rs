//! The per-layer work of one sample ([`LayerWork`]), counted from the graph
//! at batch 1: what a runtime spends besides FLOPs — one dispatch per node,
//! packing each row of a matrix product, building a convolution's patch
//! matrix, moving the elements of elementwise nodes, and row-wise
//! normalisations. The fit estimator charges each at a per-unit cost (see
//! the core crate's `FitConfig` and docs/design.md, "Estimator").

use crate::shapes::ShapeMap;
use edgefleet_core::LayerWork;
use std::collections::HashSet;
use tract_onnx::pb;

/// Count `g`'s per-layer work with the batch-1 `shapes`. Nodes whose shapes
/// are unknown add nothing but their dispatch.
pub fn layer_work(g: &pb::GraphProto, shapes: &ShapeMap) -> LayerWork {
    let numel = |name: Option<&String>| name.and_then(|n| shapes.get(n)).map(|f| f.len()).unwrap_or(0);
    let weights: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    // Outputs of matrix products and of the elementwise nodes the runtime
    // fuses into them (bias add, activation): those cost no dispatch.
    let mut fused: HashSet<&str> = HashSet::new();
    let mut w = LayerWork::default();
    for n in &g.node {
        let out = numel(n.output.first());
        let out_shape = n.output.first().and_then(|o| shapes.get(o)).map(|f| f.shape.as_slice()).unwrap_or(&[]);
        let last = |s: &[i64]| s.last().map(|&d| d.max(1) as u64).unwrap_or(1);
        let first_in = n.input.first().map(String::as_str).unwrap_or("");
        match n.op_type.as_str() {
            "MatMul" | "Gemm" | "MatMulInteger" | "QLinearMatMul" => {
                // Rows of the product: output elements ÷ output width.
                w.matmul_rows += out / last(out_shape);
                w.nodes += 1;
                fused.extend(n.output.first().map(String::as_str));
            }
            "Conv" | "ConvInteger" | "QLinearConv" => {
                let weight_index = if n.op_type == "QLinearConv" { 3 } else { 1 };
                let patch: u64 = n
                    .input
                    .get(weight_index)
                    .and_then(|s| shapes.get(s))
                    .map(|f| f.shape.iter().skip(1).map(|&d| d.max(0) as u64).product())
                    .unwrap_or(0);
                let channels = out_shape.get(1).map(|&d| d.max(1) as u64).unwrap_or(1);
                let pixels = out / channels;
                w.conv_elements += pixels * (patch + channels);
                w.nodes += 1;
                fused.extend(n.output.first().map(String::as_str));
            }
            op if FUSABLE.contains(&op)
                && fused.contains(first_in)
                && n.input.iter().skip(1).all(|i| weights.contains(i.as_str())) =>
            {
                fused.extend(n.output.first().map(String::as_str));
            }
            op if FREE.contains(&op) => {}
            op => {
                w.nodes += 1;
                w.elementwise_elements += out + numel(n.input.first());
                if matches!(op, "Softmax" | "LogSoftmax") {
                    w.row_ops += out / last(out_shape);
                }
            }
        }
    }
    // A graph runs at least one node (the default means "not counted").
    w.nodes = w.nodes.max(1);
    w
}

/// Elementwise ops a runtime fuses into the matrix product before them
/// when their other inputs are constants (tract does: bias, scale, ReLU).
const FUSABLE: [&str; 10] =
    ["Add", "Relu", "Mul", "Sub", "Div", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "BatchNormalization"];
/// Ops that only relabel a tensor's shape: no work, no dispatch.
const FREE: [&str; 6] = ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose"];

#[cfg(test)]
mod tests {
    use crate::inspect::inspect_path;
    use std::path::PathBuf;

    fn assets(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models").join(name)
    }

    #[test]
    fn an_mlp_and_a_cnn_are_counted_by_hand() {
        // 64-128-64-10: 3 × (MatMul, Add), 2 Relu, Softmax: the bias adds
        // and ReLUs fuse into the products, so 4 dispatches, one row per
        // layer; the Softmax moves 10 in + 10 out.
        let mlp = inspect_path(&assets("mlp_digits.onnx")).unwrap().work;
        assert_eq!(mlp.nodes, 4);
        assert_eq!(mlp.matmul_rows, 3);
        assert_eq!(mlp.conv_elements, 0);
        assert_eq!(mlp.elementwise_elements, 10 + 10);
        assert_eq!(mlp.row_ops, 1);
        // Conv 1→8, 3×3, padded on 8×8: 64 pixels × (9 + 8); Conv(+Relu),
        // MaxPool, Flatten (free), Gemm(+Relu), Gemm: 4 dispatches; the
        // pool reads 512 and writes 128.
        let cnn = inspect_path(&assets("cnn_digits.onnx")).unwrap().work;
        assert_eq!(cnn.nodes, 4);
        assert_eq!(cnn.elementwise_elements, 512 + 128);
        assert_eq!(cnn.conv_elements, 64 * (9 + 8));
        assert_eq!(cnn.matmul_rows, 2);
        assert_eq!(cnn.row_ops, 0);
    }
}
