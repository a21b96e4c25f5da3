//! edgefleet-core: the domain model (devices, model profiles), the agent's
//! wire types, and the estimators and policies (fit, latency, energy,
//! offload, placement). Pure: no IO, no async, no GUI.

pub mod device;
pub mod digest;
pub mod energy;
pub mod fit;
pub mod latency;
pub mod matrix;
pub mod model;
pub mod mqtt_wire;
pub mod names;
pub mod offload;
pub mod ops;
pub mod placement;
pub mod time;
pub mod units;
pub mod wire;

pub use device::{Device, DeviceError, DeviceStatus, DeviceType, Location};
pub use digest::{Sha256Hasher, sha256_hex, sha256_reader};
pub use energy::{
    EnergyBreakdown, EnergyError, EnergyInputs, PowerProfile, PowerTable, battery_life_hours, default_power_profile,
    energy_per_inference,
};
pub use fit::{
    BatchEstimate, BenchmarkRun, CalibrateError, Calibration, DeviceCalibration, Fit, FitConfig, FitConfigError, Range,
    Reason, ReasonKind, attach_measurements, batch_sizes, calibrate, calibrate_from_benchmark, estimate_fit,
    estimate_fit_calibrated,
};
pub use latency::{
    LatencyBreakdown, LatencyError, LatencyInputs, NetworkPath, mm1_wait_ms, total_latency, transfer_ms,
};
pub use matrix::{FitMatrix, FitSummary, fit_matrix};
pub use model::{Dim, LayerWork, ModelProfile, OptimizationKind, ProfileError, TensorInfo, parse_recipe};
pub use names::{NameError, check_segment, default_version, model_name_from_stem};
pub use offload::{Decision, OffloadDecision, OffloadError, OffloadInputs, cloud_latency_ms, decide};
pub use ops::{DEFAULT_RUNTIME_OPS, unsupported_ops};
pub use placement::{
    Placement, PlacementBin, PlacementError, PlacementItem, PlacementProblem, Unplaced, place_exact, place_heuristic,
};
pub use time::now_ms;
pub use units::human_bytes;
