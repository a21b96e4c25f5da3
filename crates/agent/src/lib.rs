//! edgefleet-agent: the device daemon. An HTTP API (device info, live
//! metrics, model store, inference with edge/cloud offload), mDNS
//! advertisement, and simulated fleets for demos and tests.
//!
//! The binary only parses arguments; everything runs through [`run`]
//! (a bound listener and a shutdown future) or [`spawn`] (127.0.0.1:0).

mod advertise;
mod api_error;
mod app_state;
mod auth;
pub mod cli_docs;
mod config;
mod device_detect;
mod error;
mod gflops;
mod identity;
mod info_routes;
mod kill_switch;
mod model_routes;
mod model_store;
mod predict_routes;
mod prometheus;
mod server;
mod serving;
mod simulate;
mod synthetic;
mod system_probe;
mod upstream;

pub use advertise::{Advertisement, MdnsDaemon, txt_properties};
pub use api_error::{ApiError, RECEIVED_BYTES_HEADER};
pub use auth::constant_time_eq;
pub use config::{AgentConfig, DEFAULT_CONFIDENCE_THRESHOLD, DEFAULT_MAX_UPLOAD_BYTES};
pub use device_detect::detect_device;
pub use error::AgentError;
pub use gflops::measure_gflops;
pub use identity::{load_or_create_device_id, load_or_create_token, random_hex};
pub use model_store::{ContentRange, ModelStoreError};
pub use server::{AgentHandle, run, spawn, spawn_on};
pub use simulate::{SimulateOptions, SimulatedFleet, simulate};
pub use synthetic::{SyntheticLoad, synthetic_device};
