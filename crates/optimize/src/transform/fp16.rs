//! `fp16`: store float weights as float16, with a `Cast` back to float so
//! the graph's arithmetic is unchanged. Storage only: tract folds the cast
//! at load, so memory and latency are those of the float model.
//!
//! Left in float32: initializers read by quantization ops (their scales
//! must stay float32), graph outputs, and any holding values outside
//! float16's range (±65504).

use super::weights::overridable;
use crate::error::{OptimizeError, Result};
use crate::proto::{GraphIndex, f16_tensor, fresh_name, graph, graph_mut, int_attr, node, taken_names, tensor_to_f32};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

const QUANT_OPS: [&str; 6] =
    ["DequantizeLinear", "QuantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "QLinearMatMul"];

/// Convert float weights to float16 storage.
pub fn fp16(model: &pb::ModelProto) -> Result<pb::ModelProto> {
    let mut out = model.clone();
    let g = graph_mut(&mut out)?;
    let ix = GraphIndex::new(g);
    let inputs = overridable(g);
    let mut taken = taken_names(g);
    let mut new_nodes = Vec::new();
    let mut converted = 0;
    for t in g.initializer.iter_mut() {
        if t.data_type != DataType::Float as i32 || inputs.contains(&t.name) || ix.outputs.contains(&t.name) {
            continue;
        }
        let readers = ix.consumers_of(&t.name);
        if readers.is_empty() || readers.iter().any(|&n| QUANT_OPS.contains(&g.node[n].op_type.as_str())) {
            continue;
        }
        let values = tensor_to_f32(t)?;
        if values.iter().any(|v| v.is_finite() && v.abs() > 65504.0) {
            continue;
        }
        let name = t.name.clone();
        let half_name = fresh_name(&mut taken, &format!("{name}_fp16"));
        *t = f16_tensor(&half_name, &t.dims, &values);
        let cast = fresh_name(&mut taken, &format!("{name}_Cast"));
        new_nodes.push(node("Cast", &cast, &[&half_name], &[&name], vec![int_attr("to", DataType::Float as i64)]));
        converted += 1;
    }
    if converted == 0 {
        return Err(OptimizeError::Unsupported("fp16: the model has no float32 weight left to convert".into()));
    }
    new_nodes.append(&mut g.node);
    g.node = new_nodes;
    g.value_info.clear();
    super::weights::tidy_inputs(g, graph(model)?);
    Ok(out)
}
