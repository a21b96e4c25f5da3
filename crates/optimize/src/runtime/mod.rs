//! The inference runtimes behind one trait: [`Runtime`] (name, version, op
//! set, load) and [`Session`] (run a batch, benchmark), with tract (pure
//! Rust, always there) and ONNX Runtime (a shared library found at run time,
//! see [`locate`]) behind them.
//!
//! Everything that runs a model goes through [`crate::Runner`], which wraps
//! a [`Session`] of whichever runtime loaded it; tract is the default, so a
//! caller that does not choose gets what it always got.

pub mod locate;
pub mod ops;
pub mod ort;
pub mod tract;

pub use self::ort::OrtRuntime;
pub use self::tract::TractRuntime;

use crate::error::{OptimizeError, Result};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tract_onnx::pb;

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeKind {
    Tract,
    Ort,
}

impl RuntimeKind {
    /// The short name used on the wire and in TXT records.
    pub fn short(self) -> &'static str {
        match self {
            RuntimeKind::Tract => "tract",
            RuntimeKind::Ort => "ort",
        }
    }

    /// The name people know it by.
    pub fn display_name(self) -> &'static str {
        match self {
            RuntimeKind::Tract => "tract",
            RuntimeKind::Ort => "ONNX Runtime",
        }
    }

    /// Whether a short name (`tract`, `ort`) is this runtime.
    pub fn from_short(name: &str) -> Option<RuntimeKind> {
        match name {
            "tract" => Some(RuntimeKind::Tract),
            "ort" | "onnxruntime" => Some(RuntimeKind::Ort),
            _ => None,
        }
    }

    /// Every op it runs, named as `inspect` names them (no library needed).
    pub fn ops(self) -> Vec<String> {
        match self {
            RuntimeKind::Tract => ops::tract_ops().iter().cloned().collect(),
            RuntimeKind::Ort => ops::ort_ops().iter().cloned().collect(),
        }
    }

    /// The runtime a device label (`ort 1.32.0`, `tract 0.23.9`) names;
    /// `None` (an agent that does not say) is tract.
    pub fn of_device(label: Option<&str>) -> Option<RuntimeKind> {
        match label {
            None => Some(RuntimeKind::Tract),
            Some(l) => RuntimeKind::from_short(l.split([' ', '-']).next().unwrap_or(l)),
        }
    }

    /// Whether this runtime runs `op` (named as `inspect` names ops).
    pub fn supports(self, op: &str) -> bool {
        match self {
            RuntimeKind::Tract => ops::tract_supports(op),
            RuntimeKind::Ort => ops::ort_supports(op),
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

/// An inference engine: it names itself, knows its ops, and loads models.
pub trait Runtime: Send + Sync + fmt::Debug {
    fn kind(&self) -> RuntimeKind;

    /// The engine's version (`0.23.9`, `1.32.0`).
    fn version(&self) -> String;

    /// Every op it runs, named as [`crate::inspect`] names them.
    fn supported_ops(&self) -> Vec<String>;

    /// Prepare `model` to run batches. `sample_shape` is the input shape
    /// without its batch dimension. The model is shared, not copied, by a
    /// runtime that keeps it (tract builds a plan per batch size from it):
    /// the weights are then held once for the caller and the session.
    fn load(&self, model: &Arc<pb::ModelProto>, input_name: &str, sample_shape: &[usize]) -> Result<Box<dyn Session>>;

    /// The shared library it was loaded from and where that was found
    /// (ONNX Runtime); `None` for a runtime built in.
    fn library(&self) -> Option<String> {
        None
    }

    /// `tract 0.23.9`, `ort 1.32.0`.
    fn label(&self) -> String {
        format!("{} {}", self.kind(), self.version())
    }

    /// The TXT form, short: `tract-0.23`, `ort-1.32`.
    fn txt_value(&self) -> String {
        let version = self.version();
        let major_minor: Vec<&str> = version.split('.').take(2).collect();
        format!("{}-{}", self.kind(), major_minor.join("."))
    }

    /// The model's ops this runtime cannot run, sorted.
    fn unsupported_ops(&self, model: &pb::ModelProto) -> Vec<String> {
        let Some(g) = model.graph.as_ref() else { return Vec::new() };
        let mut missing: Vec<String> =
            g.node.iter().map(crate::proto::qualified_op).filter(|op| !self.kind().supports(op)).collect();
        missing.sort();
        missing.dedup();
        missing
    }
}

/// A model loaded by a runtime.
pub trait Session: Send + Sync + fmt::Debug {
    /// Run one batch given as a flat buffer of the full input `shape`;
    /// returns the first output's values, flat.
    fn run(&self, shape: &[usize], data: &[f32]) -> Result<Vec<f32>>;

    /// The ops of the runtime's optimized plan at a batch size, when the
    /// runtime shows it (tract does; ONNX Runtime keeps its plan inside).
    fn plan_ops(&self, _batch: usize) -> Result<Vec<String>> {
        Err(OptimizeError::Unsupported("this runtime does not show its plan".into()))
    }

    /// Wall time of `runs` runs after `warmup` untimed ones, in ms each.
    fn benchmark(&self, shape: &[usize], data: &[f32], warmup: usize, runs: usize) -> Result<Vec<f64>> {
        for _ in 0..warmup {
            self.run(shape, data)?;
        }
        let mut times_ms = Vec::with_capacity(runs);
        for _ in 0..runs.max(1) {
            let start = Instant::now();
            self.run(shape, data)?;
            times_ms.push(start.elapsed().as_secs_f64() * 1e3);
        }
        Ok(times_ms)
    }
}

/// What the user asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeChoice {
    /// ONNX Runtime when its library loads, else tract.
    #[default]
    Auto,
    Tract,
    Ort,
}

impl std::str::FromStr for RuntimeChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(RuntimeChoice::Auto),
            "tract" => Ok(RuntimeChoice::Tract),
            "ort" | "onnxruntime" => Ok(RuntimeChoice::Ort),
            other => Err(format!("unknown runtime `{other}`: choose auto, tract or ort")),
        }
    }
}

impl fmt::Display for RuntimeChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuntimeChoice::Auto => "auto",
            RuntimeChoice::Tract => "tract",
            RuntimeChoice::Ort => "ort",
        })
    }
}

/// The runtime chosen and, in words, why.
#[derive(Debug, Clone)]
pub struct Selected {
    pub runtime: Arc<dyn Runtime>,
    pub why: String,
}

/// The runtime to measure a model on for `device`: the one it runs when
/// this process can load it, else tract, with a note saying the figures
/// are tract's.
pub fn for_device(device: &edgefleet_core::Device) -> (Arc<dyn Runtime>, Option<String>) {
    match RuntimeKind::of_device(device.runtime.as_deref()) {
        Some(RuntimeKind::Ort) => match OrtRuntime::load(None) {
            Ok(ort) => (Arc::new(ort), None),
            Err(e) => (
                Arc::new(TractRuntime),
                Some(format!(
                    "{} runs ONNX Runtime but it does not load here ({e}); measured on tract instead",
                    device.display_name()
                )),
            ),
        },
        Some(RuntimeKind::Tract) => (Arc::new(TractRuntime), None),
        None => (
            Arc::new(TractRuntime),
            Some(format!(
                "{} runs `{}`, which edgefleet cannot measure; measured on tract",
                device.display_name(),
                device.runtime.as_deref().unwrap_or("")
            )),
        ),
    }
}

/// Pick the runtime: `tract` always works; `ort` fails with the one-line
/// "not found" message when the library is missing or does not load;
/// `auto` takes ONNX Runtime when it loads and otherwise tract, saying why.
/// `intra_threads` is ONNX Runtime's thread count (tract runs on one).
pub fn select(choice: RuntimeChoice, ort_lib: Option<&Path>, intra_threads: usize) -> Result<Selected> {
    let tract = || -> Arc<dyn Runtime> { Arc::new(TractRuntime) };
    match choice {
        RuntimeChoice::Tract => Ok(Selected { runtime: tract(), why: "tract chosen (--runtime tract)".into() }),
        RuntimeChoice::Ort => {
            let ort = OrtRuntime::load(ort_lib)?.with_intra_threads(intra_threads);
            let why = format!("ONNX Runtime {} chosen (--runtime ort), library {}", ort.version(), ort.library());
            Ok(Selected { runtime: Arc::new(ort), why })
        }
        RuntimeChoice::Auto => match OrtRuntime::load(ort_lib) {
            Ok(ort) => {
                let ort = ort.with_intra_threads(intra_threads);
                let why = format!("ONNX Runtime {} loaded from {}", ort.version(), ort.library());
                Ok(Selected { runtime: Arc::new(ort), why })
            }
            Err(e) => Ok(Selected { runtime: tract(), why: format!("using tract: {e}") }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print() {
        for c in ["auto", "tract", "ort"] {
            assert_eq!(c.parse::<RuntimeChoice>().unwrap().to_string(), c);
        }
        assert!("gpu".parse::<RuntimeChoice>().unwrap_err().contains("auto, tract or ort"));
        assert_eq!(RuntimeKind::from_short("ort"), Some(RuntimeKind::Ort));
    }

    #[test]
    fn device_labels_name_their_runtime() {
        assert_eq!(RuntimeKind::of_device(Some("ort 1.32.0")), Some(RuntimeKind::Ort));
        assert_eq!(RuntimeKind::of_device(Some("ort-1.32")), Some(RuntimeKind::Ort));
        assert_eq!(RuntimeKind::of_device(Some("tract 0.23.9")), Some(RuntimeKind::Tract));
        assert_eq!(RuntimeKind::of_device(None), Some(RuntimeKind::Tract));
        assert_eq!(RuntimeKind::of_device(Some("tflite 2")), None);
        let mut d = edgefleet_core::Device::new("d", edgefleet_core::DeviceType::EdgeServer, 4, 4096, 32.0);
        d.runtime = Some("tflite 2".into());
        let (rt, note) = for_device(&d);
        assert_eq!(rt.kind(), RuntimeKind::Tract);
        assert!(note.unwrap().contains("measured on tract"));
    }

    #[test]
    fn tract_is_always_there() {
        let s = select(RuntimeChoice::Tract, None, 1).unwrap();
        assert_eq!(s.runtime.kind(), RuntimeKind::Tract);
        assert_eq!(s.runtime.txt_value(), "tract-0.23");
    }
}
