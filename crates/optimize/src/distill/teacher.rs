//! The teacher: a single-input float classifier, checked up front and run
//! on the rows to produce the logits the student learns from. A teacher
//! that ends in Softmax gives probabilities; their logarithms are logits up
//! to a per-row constant, which softmax at any temperature ignores, so the
//! soft labels are exact either way.

use super::{DistillError, Result};
use crate::evaluate::predict_all;
use crate::proto::{decode_model, elem_type_name};
use crate::runner::{Runner, real_inputs, top_class, value_dims};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// A loaded teacher model.
#[derive(Debug)]
pub struct Teacher {
    pub name: String,
    pub input_name: String,
    pub output_name: String,
    /// Shape of one sample (the input without its batch dimension).
    pub sample_shape: Vec<usize>,
    /// Output classes.
    pub classes: usize,
    pub params: u64,
    pub size_bytes: u64,
    /// The widest layer (largest weight dimension other than the input
    /// features), which caps the widths a search tries.
    pub width: usize,
    runner: Runner,
}

/// The teacher's answers on every row.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherOutputs {
    /// Logits, one row of `classes` values per sample.
    pub logits: Vec<Vec<f32>>,
    /// Top-1 class per sample.
    pub top1: Vec<usize>,
    /// Whether the model outputs probabilities (it ends in Softmax).
    pub probabilities: bool,
}

impl Teacher {
    /// Load and check a teacher from ONNX bytes. It runs on tract
    /// (`Runner::from_proto`), like the students it is compared with; to run
    /// it on another [`crate::Runtime`], this is the one place to pass it
    /// (`Runner::load(runtime, proto)`), and `measure` is where the students
    /// would follow.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Teacher> {
        let proto = decode_model(bytes).map_err(DistillError::Teacher)?;
        let graph = proto.graph.as_ref().ok_or_else(|| DistillError::TeacherOutput("the file has no graph".into()))?;
        let inputs = real_inputs(graph);
        let input = match inputs.as_slice() {
            [one] => *one,
            other => return Err(DistillError::TeacherInputs(other.len())),
        };
        let elem_type = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(pb::type_proto::Value::TensorType(t)) => t.elem_type,
            None => 0,
        };
        if elem_type != DataType::Float as i32 {
            return Err(DistillError::TeacherInputType { input: input.name.clone(), found: elem_type_name(elem_type) });
        }
        let input_name = input.name.clone();
        let output_name = graph
            .output
            .first()
            .map(|o| o.name.clone())
            .ok_or_else(|| DistillError::TeacherOutput("the model has no output".into()))?;
        let declared_classes = graph.output.first().map(value_dims).and_then(|d| match d.as_slice() {
            [_, Some(c)] => Some(*c as usize),
            _ => None,
        });
        let params = graph.initializer.iter().map(crate::proto::tensor_len).sum();
        let runner = Runner::from_proto(proto.clone()).map_err(DistillError::Teacher)?;
        let sample_shape = runner.sample_shape().to_vec();
        let features: usize = sample_shape.iter().product();
        let width = widest_layer(graph, features);
        // Run one zero row to learn the output width when it is not declared.
        let probe = runner.run_flat(1, &vec![0.0; features]).map_err(DistillError::Teacher)?;
        let classes = probe.first().map_or(0, Vec::len);
        if classes < 2 || declared_classes.is_some_and(|c| c != classes) {
            return Err(DistillError::TeacherOutput(format!(
                "`{output_name}` gives {classes} values per sample; a classifier gives one score per class (2 or more)"
            )));
        }
        Ok(Teacher {
            name: name.to_owned(),
            input_name,
            output_name,
            sample_shape,
            classes,
            params,
            size_bytes: bytes.len() as u64,
            width,
            runner,
        })
    }

    /// Floats per sample.
    pub fn features(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Whether the input is an image (`[C, H, W]` with room for a pooled
    /// 3×3 convolution), which gets a CNN student.
    pub fn is_image(&self) -> bool {
        matches!(self.sample_shape.as_slice(), [_, h, w] if *h >= 4 && *w >= 4)
    }

    /// The runner (to time the teacher on the same runtime as the student).
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Run the teacher on rows.
    pub fn outputs(&self, rows: &[Vec<f32>]) -> Result<TeacherOutputs> {
        let raw = predict_all(&self.runner, rows).map_err(DistillError::Teacher)?;
        if let Some((i, r)) = raw.iter().enumerate().find(|(_, r)| r.iter().any(|v| !v.is_finite())) {
            return Err(DistillError::TeacherOutput(format!("row {} gives a non-finite score: {r:?}", i + 1)));
        }
        let probabilities =
            raw.iter().all(|r| r.iter().all(|v| (0.0..=1.0).contains(v)) && (r.iter().sum::<f32>() - 1.0).abs() < 1e-3);
        let logits: Vec<Vec<f32>> = if probabilities {
            raw.iter().map(|r| r.iter().map(|p| p.max(1e-7).ln()).collect()).collect()
        } else {
            raw
        };
        let top1 = logits.iter().map(|r| top_class(r).map_or(0, |t| t.0)).collect();
        Ok(TeacherOutputs { logits, top1, probabilities })
    }
}

/// The largest dimension of any weight matrix or kernel, other than the
/// input features (at least 8).
fn widest_layer(graph: &pb::GraphProto, features: usize) -> usize {
    graph
        .initializer
        .iter()
        .filter(|t| t.dims.len() >= 2)
        .flat_map(|t| t.dims.iter().take(2).map(|&d| d.max(0) as usize))
        .filter(|&d| d != features)
        .max()
        .unwrap_or(64)
        .max(8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn asset(name: &str) -> Vec<u8> {
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models").join(name)).unwrap()
    }

    #[test]
    fn the_digits_mlp_is_a_flat_softmax_teacher() {
        let t = Teacher::from_bytes(&asset("mlp_digits.onnx"), "mlp").unwrap();
        assert_eq!((t.features(), t.classes, t.width, t.is_image()), (64, 10, 128, false));
        let out = t.outputs(&[vec![0.5; 64], vec![0.0; 64]]).unwrap();
        assert!(out.probabilities);
        assert_eq!(out.logits.len(), 2);
        assert!(out.logits[0].iter().all(|v| *v <= 0.0));
    }

    #[test]
    fn the_digits_cnn_is_an_image_teacher_with_logits() {
        let t = Teacher::from_bytes(&asset("cnn_digits.onnx"), "cnn").unwrap();
        assert_eq!((t.sample_shape.as_slice(), t.classes, t.is_image()), (&[1, 8, 8][..], 10, true));
        assert!(!t.outputs(&[vec![0.5; 64]]).unwrap().probabilities);
    }
}
