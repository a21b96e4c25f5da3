//! Installed models on disk, resumable uploads, and the active / previous
//! version of each model.
//!
//! Layout under the data dir:
//! - `models/<name>/<version>.onnx` and `<version>.sha256`: installed
//!   versions. A version is immutable once installed.
//! - `models/<name>/state.json`: active and previous version, threshold.
//!   Replaced by temp file + rename, so it is always the old or the new one.
//! - `uploads/<name>/<version>.<sha256>.part`: bytes of an upload in
//!   progress; renamed into `models/` only after the hash checks out.
//!
//! A crash at any moment therefore leaves the previous state or the new
//! one: the active file is never written in place.

use crate::identity::write_atomically;
use axum::body::Body;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::io::AsyncWriteExt;

use edgefleet_core::wire::{ModelEntry, UploadResponse, UploadStatus};

/// Why a store operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid model {kind} `{value}`: use 1–64 of A–Z a–z 0–9 . _ - and do not start with a dot")]
    InvalidName { kind: &'static str, value: String },
    #[error("no model named `{0}` is installed")]
    UnknownModel(String),
    #[error("model `{name}` has no version `{version}` installed")]
    UnknownVersion { name: String, version: String },
    #[error("model `{0}` has no active version")]
    NoActiveVersion(String),
    #[error("the `X-Content-Sha256` header is required (SHA-256 of the whole file, 64 hex digits)")]
    MissingHash,
    #[error("`X-Content-Sha256` must be 64 hex digits, got `{0}`")]
    BadHash(String),
    #[error("malformed Content-Range `{0}`: expected `bytes START-END/TOTAL`")]
    BadRange(String),
    #[error("the upload resumes at byte {start} but the agent holds {held} bytes of it; resume at {held}")]
    RangeMismatch { start: u64, held: u64 },
    #[error("Content-Range {start}-{end}/{total} is not satisfiable")]
    UnsatisfiableRange { start: u64, end: u64, total: u64 },
    #[error("the upload is {size} bytes; this agent accepts at most {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("the body carries more than the {expected} bytes its Content-Range announces")]
    BodyLongerThanRange { expected: u64 },
    #[error("the body ended early: the agent holds {held} bytes; resume with Content-Range from there")]
    Truncated { held: u64 },
    #[error("SHA-256 mismatch: header says {expected}, the bytes hash to {actual}; the upload was discarded")]
    HashMismatch { expected: String, actual: String },
    #[error("`{name}` version `{version}` is already installed with a different hash; versions are immutable")]
    VersionExists { name: String, version: String },
    #[error("an upload of `{name}` version `{version}` is already in progress")]
    Busy { name: String, version: String },
    #[error("model `{0}` has no previous version to roll back to")]
    NoPrevious(String),
    #[error("the model cannot be loaded: {0}")]
    InvalidModel(String),
    #[error("confidence threshold must be between 0 and 1, got {0}")]
    BadThreshold(f64),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

/// Check a model name or version: `[A-Za-z0-9._-]{1,64}`, no leading dot
/// (which also refuses `.` and `..`).
pub fn validate_segment(kind: &'static str, value: &str) -> Result<()> {
    let ok = (1..=64).contains(&value.len())
        && !value.starts_with('.')
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(StoreError::InvalidName { kind, value: value.to_owned() }) }
}

/// Lowercase a SHA-256 header value and check its form.
pub fn parse_sha256(value: Option<&str>) -> Result<String> {
    let v = value.ok_or(StoreError::MissingHash)?.trim().to_ascii_lowercase();
    if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) { Ok(v) } else { Err(StoreError::BadHash(v)) }
}

/// `Content-Range: bytes START-END/TOTAL` (END inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u64,
    pub end: u64,
    pub total: u64,
}

impl ContentRange {
    pub fn parse(value: &str) -> Result<ContentRange> {
        let bad = || StoreError::BadRange(value.to_owned());
        let rest = value.trim().strip_prefix("bytes ").ok_or_else(bad)?;
        let (span, total) = rest.split_once('/').ok_or_else(bad)?;
        let (start, end) = span.split_once('-').ok_or_else(bad)?;
        let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
        let (start, end, total) = (num(start)?, num(end)?, num(total)?);
        if start > end || end >= total {
            return Err(StoreError::UnsatisfiableRange { start, end, total });
        }
        Ok(ContentRange { start, end, total })
    }

    fn len(&self) -> u64 {
        self.end - self.start + 1
    }
}

/// Active / previous version of one model (`state.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelState {
    pub active: Option<String>,
    pub previous: Option<String>,
    #[serde(default)]
    pub confidence_threshold: Option<f64>,
}

/// The store. Filesystem work is blocking; async callers wrap the sync
/// methods in `spawn_blocking`.
#[derive(Debug)]
pub struct ModelStore {
    models_dir: PathBuf,
    uploads_dir: PathBuf,
    max_upload_bytes: u64,
    /// Serialises state changes (activate, rollback, lazy loads).
    pub(crate) state_lock: tokio::sync::Mutex<()>,
    busy: Mutex<HashSet<(String, String)>>,
}

/// Removes an upload from the busy set when the upload ends, however it
/// ends (including the request future being dropped on disconnect).
struct BusyGuard<'a> {
    store: &'a ModelStore,
    key: (String, String),
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.store.busy.lock() {
            busy.remove(&self.key);
        }
    }
}

impl ModelStore {
    pub fn open(data_dir: &Path, max_upload_bytes: u64) -> Result<ModelStore> {
        let models_dir = data_dir.join("models");
        let uploads_dir = data_dir.join("uploads");
        for d in [&models_dir, &uploads_dir] {
            std::fs::create_dir_all(d).map_err(io_err(format!("cannot create {}", d.display())))?;
        }
        Ok(ModelStore {
            models_dir,
            uploads_dir,
            max_upload_bytes,
            state_lock: tokio::sync::Mutex::new(()),
            busy: Mutex::new(HashSet::new()),
        })
    }

    fn model_dir(&self, name: &str) -> PathBuf {
        self.models_dir.join(name)
    }

    /// Path of an installed version's ONNX file.
    pub fn model_path(&self, name: &str, version: &str) -> PathBuf {
        self.model_dir(name).join(format!("{version}.onnx"))
    }

    fn sha_path(&self, name: &str, version: &str) -> PathBuf {
        self.model_dir(name).join(format!("{version}.sha256"))
    }

    fn part_path(&self, name: &str, version: &str, sha: &str) -> PathBuf {
        self.uploads_dir.join(name).join(format!("{version}.{sha}.part"))
    }

    /// Upload parts held for `name`/`version`, with their hash.
    fn parts(&self, name: &str, version: &str) -> Vec<(PathBuf, String)> {
        let Ok(entries) = std::fs::read_dir(self.uploads_dir.join(name)) else { return Vec::new() };
        entries
            .flatten()
            .filter_map(|e| {
                let file = e.file_name().into_string().ok()?;
                let stem = file.strip_suffix(".part")?;
                let (v, sha) = stem.rsplit_once('.')?;
                (v == version && sha.len() == 64).then(|| (e.path(), sha.to_owned()))
            })
            .collect()
    }

    /// Hash and size of an installed version.
    pub fn installed(&self, name: &str, version: &str) -> Result<Option<(String, u64)>> {
        let path = self.model_path(name, version);
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(format!("cannot stat {}", path.display()))(e)),
        };
        let sha = match std::fs::read_to_string(self.sha_path(name, version)) {
            Ok(s) if s.trim().len() == 64 => s.trim().to_owned(),
            // The sidecar is written before the rename, so this only happens if
            // someone removed it by hand: recompute rather than fail.
            _ => sha256_file(&path)?,
        };
        Ok(Some((sha, size)))
    }

    /// The state of `name`; `UnknownModel` when nothing of it is installed.
    pub fn state(&self, name: &str) -> Result<ModelState> {
        let dir = self.model_dir(name);
        if !dir.is_dir() {
            return Err(StoreError::UnknownModel(name.to_owned()));
        }
        match std::fs::read(dir.join("state.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Io {
                context: format!("state of `{name}` is corrupt"),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ModelState::default()),
            Err(e) => Err(io_err(format!("cannot read state of `{name}`"))(e)),
        }
    }

    /// Replace the state of `name` atomically (temp file, fsync, rename).
    pub fn write_state(&self, name: &str, state: &ModelState) -> Result<()> {
        let dir = self.model_dir(name);
        let bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| StoreError::Io { context: "cannot encode state".into(), source: std::io::Error::other(e) })?;
        write_atomically(&dir.join("state.json"), &bytes, false).map_err(|e| StoreError::Io {
            context: format!("cannot write state of `{name}`"),
            source: std::io::Error::other(e.to_string()),
        })?;
        sync_dir(&dir)
    }

    /// Every installed version of every model.
    pub fn list(&self) -> Result<Vec<ModelEntry>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.models_dir).map_err(io_err("cannot list models"))?;
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| validate_segment("name", n).is_ok())
            .collect();
        names.sort();
        for name in names {
            let state = self.state(&name)?;
            let Ok(files) = std::fs::read_dir(self.model_dir(&name)) else { continue };
            let mut versions: Vec<String> = files
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok()?.strip_suffix(".onnx").map(str::to_owned))
                .collect();
            versions.sort();
            for version in versions {
                if let Some((sha256, size_bytes)) = self.installed(&name, &version)? {
                    out.push(ModelEntry {
                        active: state.active.as_deref() == Some(version.as_str()),
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
        let part = self.parts(name, version).into_iter().next();
        let (received_bytes, sha256) = match part {
            Some((path, sha)) => (std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0), Some(sha)),
            None => (0, None),
        };
        Ok(UploadStatus { name: name.into(), version: version.into(), received_bytes, complete: false, sha256 })
    }

    /// Receive (part of) an upload. `content_length` is the body length when
    /// the client announced it. Returns the new status; `complete` once the
    /// file is verified and installed.
    pub async fn upload(
        &self,
        name: &str,
        version: &str,
        sha: &str,
        range: Option<ContentRange>,
        content_length: Option<u64>,
        body: Body,
    ) -> Result<UploadResponse> {
        let response = |received_bytes, complete| UploadResponse {
            name: name.into(),
            version: version.into(),
            received_bytes,
            complete,
            sha256: sha.into(),
        };
        if let Some((installed_sha, size)) = self.installed(name, version)? {
            return if installed_sha == sha {
                Ok(response(size, true))
            } else {
                Err(StoreError::VersionExists { name: name.into(), version: version.into() })
            };
        }
        let start = range.map_or(0, |r| r.start);
        // The size the finished file will have, when the client told us.
        let total = range.map(|r| r.total).or(content_length);
        if let Some(size) = total.filter(|&t| t > self.max_upload_bytes) {
            return Err(StoreError::TooLarge { size, limit: self.max_upload_bytes });
        }
        if let (Some(r), Some(len)) = (range, content_length)
            && len != r.len()
        {
            return Err(StoreError::BadRange(format!(
                "bytes {}-{}/{} with a {len}-byte body",
                r.start, r.end, r.total
            )));
        }

        let key = (name.to_owned(), version.to_owned());
        {
            let mut busy = self.busy.lock().map_err(|_| StoreError::Io {
                context: "upload registry poisoned".into(),
                source: std::io::Error::other("poisoned"),
            })?;
            if !busy.insert(key.clone()) {
                return Err(StoreError::Busy { name: name.into(), version: version.into() });
            }
        }
        let _guard = BusyGuard { store: self, key };

        let part = self.part_path(name, version, sha);
        let held = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        // Only a Content-Range resumes; a request without one starts over.
        if range.is_some() && start != held {
            return Err(StoreError::RangeMismatch { start, held });
        }
        if start == 0 {
            // A fresh upload: parts of other contents for this version are stale.
            for (path, _) in self.parts(name, version) {
                let _ = std::fs::remove_file(path);
            }
        }
        let dir = self.uploads_dir.join(name);
        std::fs::create_dir_all(&dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&part)
            .await
            .map_err(io_err(format!("cannot open {}", part.display())))?;
        if start == 0 {
            file.set_len(0).await.map_err(io_err("cannot truncate the upload part"))?;
        }

        let mut written = 0u64;
        let mut stream = body.into_data_stream();
        let mut ended_early = false;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!("upload body of {name}/{version} ended early: {e}");
                    ended_early = true;
                    break;
                }
            };
            let len = chunk.len() as u64;
            if start + written + len > self.max_upload_bytes {
                drop(file);
                let _ = tokio::fs::remove_file(&part).await;
                return Err(StoreError::TooLarge { size: start + written + len, limit: self.max_upload_bytes });
            }
            if let Some(r) = range
                && written + len > r.len()
            {
                // Put the part back as it was before this request.
                file.flush().await.map_err(io_err("cannot flush the upload part"))?;
                file.set_len(start).await.map_err(io_err("cannot truncate the upload part"))?;
                return Err(StoreError::BodyLongerThanRange { expected: r.len() });
            }
            file.write_all(&chunk).await.map_err(io_err(format!("cannot write {}", part.display())))?;
            written += len;
        }
        file.flush().await.map_err(io_err("cannot flush the upload part"))?;
        file.sync_all().await.map_err(io_err("cannot sync the upload part"))?;
        drop(file);
        let held = start + written;
        if ended_early {
            return Err(StoreError::Truncated { held });
        }
        match total {
            Some(t) if held < t => return Ok(response(held, false)),
            _ => {}
        }

        let part_for_hash = part.clone();
        let actual = tokio::task::spawn_blocking(move || sha256_file(&part_for_hash))
            .await
            .map_err(|e| StoreError::Io { context: "hash task failed".into(), source: std::io::Error::other(e) })??;
        if actual != sha {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(StoreError::HashMismatch { expected: sha.into(), actual });
        }
        self.install(name, version, sha, &part)?;
        Ok(response(held, true))
    }

    /// Move a verified part into place: hash sidecar first, then the
    /// atomic rename that makes the version exist, then a directory fsync.
    fn install(&self, name: &str, version: &str, sha: &str, part: &Path) -> Result<()> {
        let dir = self.model_dir(name);
        std::fs::create_dir_all(&dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
        write_atomically(&self.sha_path(name, version), sha.as_bytes(), false).map_err(|e| StoreError::Io {
            context: "cannot write the hash sidecar".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let target = self.model_path(name, version);
        std::fs::rename(part, &target).map_err(io_err(format!("cannot move the upload into {}", target.display())))?;
        sync_dir(&dir)
    }

    /// Read an installed version's bytes.
    pub fn read_model(&self, name: &str, version: &str) -> Result<Vec<u8>> {
        let path = self.model_path(name, version);
        std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::UnknownVersion { name: name.into(), version: version.into() }
            } else {
                io_err(format!("cannot read {}", path.display()))(e)
            }
        })
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    // Makes the rename itself durable; opening a directory read-only and
    // fsyncing it is how POSIX exposes that.
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(format!("cannot sync {}", dir.display())))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(io_err(format!("cannot open {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io_err(format!("cannot read {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_traversal_and_odd_characters() {
        for ok in ["mlp", "mlp_digits-v2", "1.0.3", &"a".repeat(64)] {
            validate_segment("name", ok).unwrap();
        }
        for bad in ["", ".", "..", "../etc", "a/b", "a\\b", ".hidden", "sp ace", "é", &"a".repeat(65)] {
            assert!(validate_segment("name", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn content_range_parses_and_refuses_nonsense() {
        assert_eq!(ContentRange::parse("bytes 5-9/10").unwrap(), ContentRange { start: 5, end: 9, total: 10 });
        assert!(matches!(ContentRange::parse("bytes 5-4/10"), Err(StoreError::UnsatisfiableRange { .. })));
        assert!(matches!(ContentRange::parse("bytes 5-10/10"), Err(StoreError::UnsatisfiableRange { .. })));
        assert!(matches!(ContentRange::parse("5-9/10"), Err(StoreError::BadRange(_))));
        assert!(matches!(ContentRange::parse("bytes 5-9/*"), Err(StoreError::BadRange(_))));
    }

    #[test]
    fn sha_header_is_checked() {
        assert!(matches!(parse_sha256(None), Err(StoreError::MissingHash)));
        assert!(matches!(parse_sha256(Some("abc")), Err(StoreError::BadHash(_))));
        let h = "A".repeat(64);
        assert_eq!(parse_sha256(Some(&h)).unwrap(), "a".repeat(64));
    }

    #[test]
    fn state_round_trips_and_unknown_model_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), 1024).unwrap();
        assert!(matches!(store.state("nope"), Err(StoreError::UnknownModel(_))));
        std::fs::create_dir_all(dir.path().join("models/m")).unwrap();
        assert_eq!(store.state("m").unwrap(), ModelState::default());
        let s = ModelState { active: Some("2".into()), previous: Some("1".into()), confidence_threshold: Some(0.5) };
        store.write_state("m", &s).unwrap();
        assert_eq!(store.state("m").unwrap(), s);
        assert!(!dir.path().join("models/m/state.json.tmp").exists());
    }
}
