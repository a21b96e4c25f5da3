//! edgefleet-core: the domain model (devices, model profiles), the agent's
//! wire types, and the estimators and policies (fit, latency, energy,
//! offload, placement). Pure: no IO, no async, no GUI.

pub mod device;
pub mod model;
pub mod wire;

pub use device::{Device, DeviceError, DeviceStatus, DeviceType, Location};
pub use model::{Dim, ModelProfile, OptimizationKind, ProfileError, TensorInfo, parse_recipe};
