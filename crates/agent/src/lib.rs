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
mod bench_routes;
mod bounded_server;
pub mod broker_tls;
pub mod cli_docs;
mod config;
mod device_detect;
mod device_key;
mod error;
mod gflops;
pub mod heap_count;
mod identity;
mod info_routes;
mod kill_switch;
mod model_routes;
mod model_store;
mod model_trust;
mod mqtt_link;
mod overhead_refine;
pub mod pinned_verifier;
mod predict_body;
mod predict_routes;
mod prometheus;
mod pull_deploy;
mod resident_memory;
mod server;
mod serving;
mod simulate;
mod synthetic;
mod system_probe;
mod token_gate;
mod upstream;
mod upstream_tls;
mod work_limits;

pub use advertise::{Advertisement, MdnsDaemon, txt_properties};
pub use api_error::{ApiError, RECEIVED_BYTES_HEADER};
pub use auth::MIN_TOKEN_LEN;
pub use bounded_server::{
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IO_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, ServeLimits, serve_bounded,
    serve_bounded_tls,
};
pub use config::{AgentConfig, DEFAULT_CONFIDENCE_THRESHOLD, DEFAULT_MAX_UPLOAD_BYTES};
pub use device_detect::detect_device;
pub use device_key::{
    DeviceKey, SHORT_FINGERPRINT_CHARS, fingerprints_agree, install_crypto_provider, key_fingerprint, short_fingerprint,
};
pub use error::AgentError;
pub use gflops::{ComputeProbe, probe_compute};
pub use heap_count::CountingAlloc;
pub use identity::{
    StoredToken, load_or_create_device_id, load_or_create_token, random_hex, read_token_file, token_sha256,
};
pub use model_store::{
    ContentRange, DEFAULT_KEEP_VERSIONS, DEFAULT_MAX_PARTS_BYTES, DEFAULT_PART_TTL, ModelStoreError, StoreLimits,
};
pub use model_trust::MODEL_SIGNATURE_HEADER;
pub use mqtt_link::BrokerConfig;
pub use server::{AgentHandle, run, spawn, spawn_on};
pub use simulate::{SimulateOptions, SimulatedFleet, private_temp_dir, simulate};
pub use synthetic::{SyntheticLoad, synthetic_device};
pub use token_gate::{FAILURE_WINDOW, MAX_FAILURES_PER_WINDOW, constant_time_eq};
pub use upstream::{BodyLimitError, read_body_limited};
