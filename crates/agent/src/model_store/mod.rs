//! Installed models on disk, resumable uploads, and the active / previous
//! version of each model.
//!
//! Files: `layout` (where things live on disk), `upload` (receiving and
//! installing a file), `storage_budget` (the bytes the store may hold in
//! all), `error` (why an operation failed). The layout in
//! short: `models/<name>/<version>.onnx` plus its `.sha256` sidecar,
//! `models/<name>/state.json` (active and previous version), and
//! `uploads/<name>/<version>.<sha256>.part` for uploads in progress, renamed
//! into `models/` only after the hash checks out. `state.json` is replaced
//! by temp file + rename, so it is always the old or the new one.
//!
//! A crash at any moment therefore leaves the previous state or the new
//! one: the active file is never written in place.

mod error;
mod housekeeping;
mod layout;
mod storage_budget;
mod upload;

pub use error::ModelStoreError;
pub use housekeeping::{DEFAULT_KEEP_VERSIONS, DEFAULT_MAX_PARTS_BYTES, DEFAULT_PART_TTL, StoreLimits};
pub use upload::{ContentRange, parse_sha256};

use crate::identity::write_atomically;
use edgefleet_core::wire::{ModelEntry, UploadStatus};
use error::{Result, io_err};
use layout::{Layout, sync_dir};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// Active / previous version of one model (`state.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelState {
    pub active: Option<String>,
    pub previous: Option<String>,
    #[serde(default)]
    pub confidence_threshold: Option<f64>,
    /// Latency limit of the offload rule (see `ActivateRequest::offload_sla_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offload_sla_ms: Option<f64>,
}

/// The store. The sync methods do blocking filesystem work: async callers
/// wrap them in `spawn_blocking`. `upload` is async and does that itself.
#[derive(Debug)]
pub struct ModelStore {
    layout: Layout,
    limits: StoreLimits,
    /// Serialises state changes (activate, rollback, delete, retention, lazy loads).
    pub(crate) state_lock: tokio::sync::Mutex<()>,
    /// Uploads in progress, by (name, version): one at a time each, with
    /// the bytes each reserved against the parts quota.
    busy: Mutex<HashMap<(String, String), u64>>,
}

impl ModelStore {
    /// A store with default limits and `max_upload_bytes` per upload.
    #[cfg(test)]
    pub fn open(data_dir: &Path, max_upload_bytes: u64) -> Result<ModelStore> {
        Self::open_with(data_dir, StoreLimits::new(max_upload_bytes))
    }

    pub fn open_with(data_dir: &Path, limits: StoreLimits) -> Result<ModelStore> {
        Ok(ModelStore {
            layout: Layout::create(data_dir)?,
            limits,
            state_lock: tokio::sync::Mutex::new(()),
            busy: Mutex::new(HashMap::new()),
        })
    }

    /// How often expired parts are looked for: a fraction of their TTL,
    /// between a second and an hour.
    pub fn collect_interval(&self) -> std::time::Duration {
        (self.limits.part_ttl / 4).clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(3600))
    }

    /// Hash and size of an installed version.
    pub fn installed(&self, name: &str, version: &str) -> Result<Option<(String, u64)>> {
        self.layout.installed(name, version)
    }

    /// The state of `name`; `UnknownModel` when nothing of it is installed.
    pub fn state(&self, name: &str) -> Result<ModelState> {
        let dir = self.layout.model_dir(name);
        if !dir.is_dir() {
            return Err(ModelStoreError::UnknownModel(name.to_owned()));
        }
        match std::fs::read(dir.join("state.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ModelStoreError::Io {
                context: format!("state of `{name}` is corrupt"),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ModelState::default()),
            Err(e) => Err(io_err(format!("cannot read state of `{name}`"))(e)),
        }
    }

    /// Replace the state of `name` atomically (temp file, fsync, rename).
    pub fn write_state(&self, name: &str, state: &ModelState) -> Result<()> {
        let dir = self.layout.model_dir(name);
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| ModelStoreError::Io {
            context: "cannot encode state".into(),
            source: std::io::Error::other(e),
        })?;
        write_atomically(&dir.join("state.json"), &bytes, false).map_err(|e| ModelStoreError::Io {
            context: format!("cannot write state of `{name}`"),
            source: std::io::Error::other(e.to_string()),
        })?;
        sync_dir(&dir)
    }

    /// Every installed version of every model.
    pub fn list(&self) -> Result<Vec<ModelEntry>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(self.layout.models_dir()).map_err(io_err("cannot list models"))?;
        // A model is a folder; a stray file there is not one (nor an error).
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| edgefleet_core::check_segment("name", n).is_ok())
            .collect();
        names.sort();
        for name in names {
            let state = self.state(&name)?;
            let Ok(files) = std::fs::read_dir(self.layout.model_dir(&name)) else { continue };
            let mut versions: Vec<String> = files
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok()?.strip_suffix(".onnx").map(str::to_owned))
                .collect();
            versions.sort();
            for version in versions {
                if let Some((sha256, size_bytes)) = self.installed(&name, &version)? {
                    let active = state.active.as_deref() == Some(version.as_str());
                    out.push(ModelEntry {
                        offload_threshold: state.confidence_threshold.filter(|_| active),
                        offload_sla_ms: state.offload_sla_ms.filter(|_| active),
                        active,
                        previous: state.previous.as_deref() == Some(version.as_str()),
                        name: name.clone(),
                        version,
                        sha256,
                        size_bytes,
                    });
                }
            }
        }
        Ok(out)
    }

    /// How much of an upload is held.
    pub fn upload_status(&self, name: &str, version: &str) -> Result<UploadStatus> {
        if let Some((sha, size)) = self.installed(name, version)? {
            return Ok(UploadStatus {
                name: name.into(),
                version: version.into(),
                received_bytes: size,
                complete: true,
                sha256: Some(sha),
            });
        }
        let part = self.layout.parts(name, version).into_iter().next();
        let (received_bytes, sha256) = match part {
            Some((path, sha)) => (std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0), Some(sha)),
            None => (0, None),
        };
        Ok(UploadStatus { name: name.into(), version: version.into(), received_bytes, complete: false, sha256 })
    }

    /// Read an installed version's bytes.
    pub fn read_model(&self, name: &str, version: &str) -> Result<Vec<u8>> {
        let path = self.layout.model_path(name, version);
        std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ModelStoreError::UnknownVersion { name: name.into(), version: version.into() }
            } else {
                io_err(format!("cannot read {}", path.display()))(e)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stray_file_among_the_models_is_not_listed_and_breaks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), 1024).unwrap();
        std::fs::write(dir.path().join("models/notes.txt"), "not a model").unwrap();
        std::fs::create_dir_all(dir.path().join("models/m")).unwrap();
        std::fs::write(dir.path().join("models/m/1.onnx"), b"onnx").unwrap();
        let listed: Vec<(String, String)> = store.list().unwrap().into_iter().map(|e| (e.name, e.version)).collect();
        assert_eq!(listed, [("m".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn state_round_trips_and_unknown_model_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), 1024).unwrap();
        assert!(matches!(store.state("nope"), Err(ModelStoreError::UnknownModel(_))));
        std::fs::create_dir_all(dir.path().join("models/m")).unwrap();
        assert_eq!(store.state("m").unwrap(), ModelState::default());
        let s = ModelState {
            active: Some("2".into()),
            previous: Some("1".into()),
            confidence_threshold: Some(0.5),
            offload_sla_ms: None,
        };
        store.write_state("m", &s).unwrap();
        assert_eq!(store.state("m").unwrap(), s);
        assert!(!dir.path().join("models/m/state.json.tmp").exists());
    }
}
