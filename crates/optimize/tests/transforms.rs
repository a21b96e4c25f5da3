//! Every transformation on the shipped models: the result is well formed,
//! runs in tract, and predicts close to the original on the held-out data.

#![allow(clippy::unwrap_used)] // test helpers: a failure should panic

use edgefleet_core::OptimizationKind as K;
use edgefleet_optimize::evaluate::{compare_outputs, predict_all};
use edgefleet_optimize::transform::{self, weight_sparsity};
use edgefleet_optimize::{EvalData, OptimizeError, Runner, apply_recipe, decode_model, encode_model, inspect_model};
use std::path::PathBuf;
use tract_onnx::pb;

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models").join(name)
}

fn load(name: &str) -> pb::ModelProto {
    decode_model(&std::fs::read(asset(name)).unwrap()).unwrap()
}

fn eval_data() -> EvalData {
    EvalData::from_path(&asset("digits_eval.csv")).unwrap()
}

/// Agreement with the original's top-1 and the largest output difference.
fn against_original(original: &pb::ModelProto, result: &pb::ModelProto) -> (f64, f64) {
    let data = eval_data();
    // The result must survive a trip through bytes, like a written file.
    let result = decode_model(&encode_model(result)).unwrap();
    let a = predict_all(&Runner::from_proto(original.clone()).unwrap(), &data.rows).unwrap();
    let b = predict_all(&Runner::from_proto(result).unwrap(), &data.rows).unwrap();
    compare_outputs(&a, &b).unwrap()
}

fn ops(m: &pb::ModelProto) -> Vec<String> {
    m.graph.as_ref().unwrap().node.iter().map(|n| n.op_type.clone()).collect()
}

#[test]
fn int8_quantizes_weights_per_channel_and_stays_close() {
    // The MLP outputs probabilities, the CNN logits (magnitudes up to ~20).
    for (name, tolerance) in [("mlp_digits.onnx", 0.05), ("cnn_digits.onnx", 0.5)] {
        let m = load(name);
        let q = transform::int8(&m).unwrap();
        assert!(ops(&q).iter().any(|o| o == "DequantizeLinear"), "{name}");
        let (before, after) = (inspect_model(&m, "a").unwrap(), inspect_model(&q, "b").unwrap());
        assert!(
            after.weights_bytes * 3 < before.weights_bytes,
            "{name}: {} -> {}",
            before.weights_bytes,
            after.weights_bytes
        );
        let (agree, diff) = against_original(&m, &q);
        assert!(agree >= 0.99, "{name}: agreement {agree}");
        assert!(diff < tolerance, "{name}: max diff {diff}");
    }
}

#[test]
fn int8_below_opset_13_uses_cast_and_mul() {
    let mut m = load("mlp_digits.onnx");
    m.opset_import[0].version = 11;
    let q = transform::int8(&m).unwrap();
    assert!(!ops(&q).iter().any(|o| o == "DequantizeLinear"));
    assert_eq!(ops(&q).iter().filter(|o| *o == "Cast").count(), 3);
    let (agree, _) = against_original(&m, &q);
    assert!(agree >= 0.99, "{agree}");
}

#[test]
fn int8_handles_shared_weights_and_initializers_listed_as_inputs() {
    // Share fc2's weight with a second, parallel MatMul whose output is added in.
    let mut m = load("mlp_digits.onnx");
    let g = m.graph.as_mut().unwrap();
    let pos = g.node.iter().position(|n| n.name == "fc2_MatMul").unwrap();
    let mut twin = g.node[pos].clone();
    twin.name = "fc2_twin".into();
    twin.output = vec!["fc2.twin".into()];
    g.node.insert(pos + 1, twin);
    let add = g.node.iter_mut().find(|n| n.name == "fc2_Add").unwrap();
    add.input[1] = "fc2.twin".into();
    // Old-IR style: every initializer also listed as an input.
    let listed: Vec<pb::ValueInfoProto> =
        g.initializer.iter().map(|t| pb::ValueInfoProto { name: t.name.clone(), ..Default::default() }).collect();
    g.input.extend(listed);
    let q = transform::int8(&m).unwrap();
    let g = q.graph.as_ref().unwrap();
    assert_eq!(ops(&q).iter().filter(|o| *o == "DequantizeLinear").count(), 3, "a shared weight is quantized once");
    assert!(g.input.iter().all(|i| !i.name.ends_with(".weight")), "rewritten weights leave the input list");
    assert!(g.input.iter().any(|i| i.name == "fc1.bias"), "untouched initializers stay listed");
    let (agree, _) = against_original(&m, &q);
    assert!(agree >= 0.99, "{agree}");
}

#[test]
fn int8_dynamic_computes_in_integers() {
    let m = load("mlp_digits.onnx");
    let q = transform::int8_dynamic(&m).unwrap();
    assert_eq!(ops(&q).iter().filter(|o| *o == "MatMulInteger").count(), 3);
    assert!(!ops(&q).iter().any(|o| o == "MatMul"));
    let (agree, diff) = against_original(&m, &q);
    assert!(agree >= 0.98, "agreement {agree}");
    assert!(diff < 0.2, "max diff {diff}");
    // tract's optimized plan really holds integer matmuls.
    let plan = Runner::from_proto(q).unwrap().plan_ops(1).unwrap();
    println!("int8-dynamic plan: {plan:?}");
    assert!(plan.iter().any(|op| op.starts_with("DynamicQuantizeLinear")), "{plan:?}");
    assert!(plan.iter().any(|op| op == "OffsetU8asI8"), "the u8 activations feed an i8 kernel: {plan:?}");
    // The CNN's Gemms are rewritten, its Conv stays float.
    let c = load("cnn_digits.onnx");
    let cq = transform::int8_dynamic(&c).unwrap();
    assert_eq!(ops(&cq).iter().filter(|o| *o == "MatMulInteger").count(), 2);
    assert!(ops(&cq).contains(&"Conv".to_string()));
    let (agree, _) = against_original(&c, &cq);
    assert!(agree >= 0.98, "cnn agreement {agree}");
}

#[test]
fn int8_dynamic_refuses_old_opsets() {
    let mut m = load("mlp_digits.onnx");
    m.opset_import[0].version = 10;
    assert!(matches!(transform::int8_dynamic(&m), Err(OptimizeError::Unsupported(_))));
}

#[test]
fn fp16_halves_weight_storage() {
    for name in ["mlp_digits.onnx", "cnn_digits.onnx"] {
        let m = load(name);
        let h = transform::fp16(&m).unwrap();
        let (before, after) = (inspect_model(&m, "a").unwrap(), inspect_model(&h, "b").unwrap());
        assert_eq!(after.weights_bytes * 2, before.weights_bytes, "{name}");
        let (agree, diff) = against_original(&m, &h);
        assert_eq!(agree, 1.0, "{name}");
        assert!(diff < 1e-2, "{name}: {diff}");
    }
}

#[test]
fn prune_reaches_the_sparsity_and_shrinks_only_the_compressed_size() {
    let m = load("mlp_digits.onnx");
    let p = transform::prune(&m, 0.5).unwrap();
    let s = weight_sparsity(&p).unwrap();
    assert!((s - 0.5).abs() < 0.01, "sparsity {s}");
    assert!(weight_sparsity(&m).unwrap() < 0.01);
    let (raw_a, raw_b) = (encode_model(&m), encode_model(&p));
    assert_eq!(raw_a.len(), raw_b.len());
    let z = |b: &[u8]| edgefleet_optimize::evaluate::zstd_size(b, 19).unwrap();
    assert!(z(&raw_b) < z(&raw_a) * 8 / 10, "{} vs {}", z(&raw_b), z(&raw_a));
    let (agree, _) = against_original(&m, &p);
    assert!(agree >= 0.95, "{agree}");
    assert!(matches!(transform::prune(&m, 1.5), Err(OptimizeError::BadInput(_))));
}

#[test]
fn structured_pruning_really_shrinks_tensors_and_flops() {
    for (name, hidden) in [
        (
            "mlp_digits.onnx",
            vec![("fc1.weight", 1, 64), ("fc2.weight", 0, 64), ("fc2.weight", 1, 32), ("fc3.weight", 0, 32)],
        ),
        (
            "cnn_digits.onnx",
            vec![("conv1.weight", 0, 4), ("fc1.weight", 1, 64), ("fc1.weight", 0, 16), ("fc2.weight", 1, 16)],
        ),
    ] {
        let m = load(name);
        let p = transform::prune_structured(&m, 0.5).unwrap();
        let g = p.graph.as_ref().unwrap();
        for (init, axis, size) in hidden {
            let t = g.initializer.iter().find(|t| t.name == init).unwrap();
            assert_eq!(t.dims[axis], size, "{name}: {init} dims {:?}", t.dims);
        }
        let (before, after) = (inspect_model(&m, "a").unwrap(), inspect_model(&p, "b").unwrap());
        assert!(
            after.flops_per_sample * 10 < before.flops_per_sample * 6,
            "{name}: {} -> {}",
            before.flops_per_sample,
            after.flops_per_sample
        );
        assert!(after.params < before.params);
        // Half the units gone and no fine-tuning: the CNN (only 8 channels)
        // suffers much more than the MLP; what is checked here is that the
        // smaller graph is consistent and runs.
        let (agree, _) = against_original(&m, &p);
        println!("{name}: prune-structured:0.5 agreement {agree}");
        assert!(agree >= if name.starts_with("mlp") { 0.8 } else { 0.2 }, "{name}: agreement {agree}");
    }
}

#[test]
fn fix_shapes_sets_the_batch_and_folds_constants() {
    let m = load("mlp_digits.onnx");
    let f = transform::fix_shapes(&m, 4).unwrap();
    let runner = Runner::from_proto(f.clone()).unwrap();
    assert_eq!(runner.fixed_batch(), Some(4));
    let prof = inspect_model(&f, "f").unwrap();
    assert_eq!(prof.inputs[0].shape, vec![edgefleet_core::Dim::Fixed(4), edgefleet_core::Dim::Fixed(64)]);
    assert_eq!(prof.outputs[0].shape, vec![edgefleet_core::Dim::Fixed(4), edgefleet_core::Dim::Fixed(10)]);
    let (agree, diff) = against_original(&m, &f);
    assert_eq!(agree, 1.0);
    assert!(diff < 1e-5);

    // A constant subgraph (Transpose of a weight, a Constant node) folds away.
    let mut c = load("mlp_digits.onnx");
    let g = c.graph.as_mut().unwrap();
    let w = g.initializer.iter_mut().find(|t| t.name == "fc3.weight").unwrap();
    let values = edgefleet_optimize::proto::tensor_to_f32(w).unwrap();
    let (r, k) = (w.dims[0] as usize, w.dims[1] as usize);
    let transposed: Vec<f32> = (0..r * k).map(|i| values[(i % r) * k + i / r]).collect();
    *w = edgefleet_optimize::proto::f32_tensor("fc3.weight_t", &[k as i64, r as i64], &transposed);
    g.node.insert(0, edgefleet_optimize::proto::node("Transpose", "t", &["fc3.weight_t"], &["fc3.weight"], vec![]));
    let f = transform::fix_shapes(&c, 1).unwrap();
    assert!(!ops(&f).contains(&"Transpose".to_string()), "{:?}", ops(&f));
    let (agree, diff) = against_original(&m, &f);
    assert_eq!(agree, 1.0);
    assert!(diff < 1e-5);
    // A batch the input already fixes otherwise is refused.
    assert!(matches!(transform::fix_shapes(&f, 2), Err(OptimizeError::BadInput(_))));
}

#[test]
fn recipes_compose_in_a_fixed_order() {
    let m = load("cnn_digits.onnx");
    let r = apply_recipe(&m, &[K::Int8, K::PruneStructured { ratio: 0.25 }, K::Fp16]).unwrap();
    let o = ops(&r);
    assert!(o.contains(&"DequantizeLinear".to_string()) && o.contains(&"Cast".to_string()), "{o:?}");
    let (agree, _) = against_original(&m, &r);
    assert!(agree >= 0.9, "{agree}");
    let r = apply_recipe(&m, &[K::Int8Dynamic, K::Int8]).unwrap();
    assert!(ops(&r).contains(&"MatMulInteger".to_string()) && ops(&r).contains(&"DequantizeLinear".to_string()));
    assert!(matches!(apply_recipe(&m, &[K::Int8, K::Int8]), Err(OptimizeError::BadInput(_))));
}

/// Units whose output is always zero: pruning exactly them changes nothing.
#[test]
fn structured_pruning_removes_dead_units_without_changing_outputs() {
    use edgefleet_optimize::proto::{f32_tensor, tensor_to_f32};
    // (model, ratio, [(weight, bias, elements per unit, units along axis 0?, dead units)])
    type DeadLayer<'a> = (&'a str, &'a str, usize, bool, Vec<usize>);
    let cases: [(&str, f64, Vec<DeadLayer>); 2] = [
        // fc1 [64, 128]: unit = column. Ratio 1/128 removes one fc1 unit and no fc2 unit.
        ("mlp_digits.onnx", 1.0 / 128.0, vec![("fc1.weight", "fc1.bias", 128, false, vec![3])]),
        // conv [8,1,3,3]: unit = 9 values; fc1 [32, 128] (transB): unit = row of 128.
        // Ratio 1/8 removes one conv channel and four fc1 units.
        (
            "cnn_digits.onnx",
            0.125,
            vec![
                ("conv1.weight", "conv1.bias", 9, true, vec![3]),
                ("fc1.weight", "fc1.bias", 128, true, vec![0, 5, 9, 31]),
            ],
        ),
    ];
    for (name, ratio, layers) in cases {
        let mut m = load(name);
        let g = m.graph.as_mut().unwrap();
        for (weight, bias, per_unit, rows, dead) in layers {
            let w = g.initializer.iter_mut().find(|t| t.name == weight).unwrap();
            let mut v = tensor_to_f32(w).unwrap();
            for (i, x) in v.iter_mut().enumerate() {
                let unit = if rows { i / per_unit } else { i % per_unit };
                if dead.contains(&unit) {
                    *x = 0.0;
                }
            }
            *w = f32_tensor(weight, &w.dims.clone(), &v);
            let b = g.initializer.iter_mut().find(|t| t.name == bias).unwrap();
            let mut bv = tensor_to_f32(b).unwrap();
            for &d in &dead {
                bv[d] = -1.0; // Relu(0·x − 1) = 0
            }
            *b = f32_tensor(bias, &b.dims.clone(), &bv);
        }
        let p = transform::prune_structured(&m, ratio + 1e-9).unwrap();
        let (agree, diff) = against_original(&m, &p);
        assert_eq!(agree, 1.0, "{name}");
        assert!(diff < 1e-4, "{name}: {diff}");
    }
}
