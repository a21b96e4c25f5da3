//! edgefleet-store: the console's SQLite database — the fleet registry,
//! models and their optimized variants, deployments and their per-device
//! steps, downsampled telemetry, benchmark results kept for calibration,
//! and the audit log.
//!
//! One file, WAL mode, foreign keys on, schema versioned by
//! `PRAGMA user_version` with forward migrations ([`MIGRATIONS`]). A file this
//! build does not understand (not SQLite, another application's, or a newer
//! schema) is refused and left untouched. Times are Unix milliseconds passed
//! in by the caller: the store never reads the clock.

mod audit;
mod calibrations;
mod convert;
mod deployments;
mod device_keys;
mod devices;
mod error;
mod models;
mod remote_deployments;
mod schema;
mod store;
mod telemetry;

pub use audit::AuditEntry;
pub use calibrations::CalibrationRecord;
pub use deployments::{DeploymentRecord, NewDeployment, StepRecord, TERMINAL_DEPLOYMENT_STATES};
pub use devices::{DEVICE_SOURCES, DeviceRecord, SIGHTINGS_KEPT_PER_DEVICE, Sighting};
pub use error::StoreError;
pub use models::{ModelRecord, NewModel};
pub use schema::{APPLICATION_ID, MIGRATIONS, latest_version};
pub use store::{BUSY_TIMEOUT, DB_ENV_VAR, DB_FILE_NAME, Store, default_path};
pub use telemetry::TelemetrySample;
