//! Keeping the store's disk use bounded: the quota on bytes held by
//! partial uploads, expiry of parts nobody resumed, deleting an inactive
//! version, and the retention rule (keep the active, the previous and the
//! `keep_versions` newest others; delete the rest).
//!
//! All blocking filesystem work; callers run it on the blocking pool.
//! Delete and retention run under the store's state lock (the caller
//! holds it), so they never race an activation.

use super::ModelStore;
use super::error::{ModelStoreError, Result, io_err};
use super::layout::sync_dir;
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// The store's disk bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Largest single model upload.
    pub max_upload_bytes: u64,
    /// Bytes all partial uploads together may hold (declared sizes of
    /// uploads in progress count in full).
    pub max_parts_bytes: u64,
    /// A part untouched this long is deleted.
    pub part_ttl: Duration,
    /// Installed versions kept besides the active and the previous one (at least 1).
    pub keep_versions: usize,
    /// Bytes the whole store may hold on disk (`--storage-mb`); `None`: as
    /// much as the disk has.
    pub storage_budget_bytes: Option<u64>,
}

/// Default of [`StoreLimits::max_parts_bytes`].
pub const DEFAULT_MAX_PARTS_BYTES: u64 = 1024 * 1024 * 1024;
/// Default of [`StoreLimits::part_ttl`].
pub const DEFAULT_PART_TTL: Duration = Duration::from_secs(24 * 3600);
/// Default of [`StoreLimits::keep_versions`].
pub const DEFAULT_KEEP_VERSIONS: usize = 3;

impl StoreLimits {
    /// Defaults with `max_upload_bytes` for one upload.
    pub fn new(max_upload_bytes: u64) -> StoreLimits {
        StoreLimits {
            max_upload_bytes,
            max_parts_bytes: DEFAULT_MAX_PARTS_BYTES.max(max_upload_bytes),
            part_ttl: DEFAULT_PART_TTL,
            keep_versions: DEFAULT_KEEP_VERSIONS,
            storage_budget_bytes: None,
        }
    }
}

impl ModelStore {
    /// Bytes held by parts and reservations of everything but `key`: the
    /// parts on disk of uploads not in progress plus what uploads in
    /// progress declared. Must be called with `busy` locked (`reserved`).
    pub(super) fn held_by_others(
        &self,
        on_disk: &[super::layout::PartFile],
        reserved: &std::collections::HashMap<(String, String), u64>,
        key: &(String, String),
    ) -> u64 {
        let idle_parts: u64 = on_disk
            .iter()
            .filter(|p| {
                let k = (p.name.clone(), p.version.clone());
                k != *key && !reserved.contains_key(&k)
            })
            .map(|p| p.bytes)
            .sum();
        let in_progress: u64 = reserved.iter().filter(|(k, _)| *k != key).map(|(_, &b)| b).sum();
        idle_parts + in_progress
    }

    /// Delete parts not written to for longer than the TTL (uploads in
    /// progress are left alone). Returns (parts removed, bytes freed).
    pub fn collect_expired_parts(&self) -> Result<(usize, u64)> {
        let busy: HashSet<(String, String)> = match self.busy.lock() {
            Ok(b) => b.keys().cloned().collect(),
            Err(_) => return Ok((0, 0)),
        };
        let now = SystemTime::now();
        let (mut removed, mut freed) = (0, 0);
        for part in self.layout.all_parts() {
            if busy.contains(&(part.name.clone(), part.version.clone())) {
                continue;
            }
            let age = part.modified.and_then(|m| now.duration_since(m).ok()).unwrap_or_default();
            if age >= self.limits.part_ttl {
                match std::fs::remove_file(&part.path) {
                    Ok(()) => {
                        removed += 1;
                        freed += part.bytes;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(format!("cannot remove {}", part.path.display()))(e)),
                }
            }
        }
        if removed > 0 {
            tracing::info!("removed {removed} expired upload part(s), {freed} bytes");
        }
        Ok((removed, freed))
    }

    /// Remove an installed version that is not active. Deleting the
    /// previous version clears `previous` (there is nothing to roll back to).
    pub fn delete_version(&self, name: &str, version: &str) -> Result<()> {
        let mut state = self.state(name)?;
        if state.active.as_deref() == Some(version) {
            return Err(ModelStoreError::ActiveVersion { name: name.into(), version: version.into() });
        }
        if self.installed(name, version)?.is_none() {
            return Err(ModelStoreError::UnknownVersion { name: name.into(), version: version.into() });
        }
        if state.previous.as_deref() == Some(version) {
            state.previous = None;
            self.write_state(name, &state)?;
        }
        self.remove_files(name, version)
    }

    /// The ONNX file first (the version stops existing), then its sidecar.
    fn remove_files(&self, name: &str, version: &str) -> Result<()> {
        let model = self.layout.model_path(name, version);
        std::fs::remove_file(&model).map_err(io_err(format!("cannot remove {}", model.display())))?;
        let sha = self.layout.sha_path(name, version);
        match std::fs::remove_file(&sha) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format!("cannot remove {}", sha.display()))(e)),
        }
        sync_dir(&self.layout.model_dir(name))
    }

    /// Apply the retention rule to `name`; returns the versions removed.
    pub fn apply_retention(&self, name: &str) -> Result<Vec<String>> {
        let state = self.state(name)?;
        let dir = self.layout.model_dir(name);
        let entries = std::fs::read_dir(&dir).map_err(io_err(format!("cannot list {}", dir.display())))?;
        let mut others: Vec<(SystemTime, String)> = entries
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().into_string().ok()?.strip_suffix(".onnx")?.to_owned();
                let modified = e.metadata().ok()?.modified().ok()?;
                Some((modified, version))
            })
            .filter(|(_, v)| {
                state.active.as_deref() != Some(v.as_str()) && state.previous.as_deref() != Some(v.as_str())
            })
            .collect();
        // Newest first; the version name breaks ties so the order is stable.
        others.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        let mut removed = Vec::new();
        for (_, version) in others.into_iter().skip(self.limits.keep_versions.max(1)) {
            self.remove_files(name, &version)?;
            removed.push(version);
        }
        if !removed.is_empty() {
            tracing::info!("model {name}: retention removed version(s) {}", removed.join(", "));
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_store::ModelState;

    fn install(store: &ModelStore, name: &str, version: &str) {
        std::fs::create_dir_all(store.layout.model_dir(name)).unwrap();
        std::fs::write(store.layout.model_path(name, version), version.as_bytes()).unwrap();
        // Distinct modification times, oldest first.
        std::thread::sleep(Duration::from_millis(15));
    }

    #[test]
    fn delete_refuses_the_active_version_and_clears_a_deleted_previous() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path(), 1024).unwrap();
        for v in ["1", "2", "3"] {
            install(&store, "m", v);
        }
        let st = ModelState { active: Some("3".into()), previous: Some("2".into()), ..Default::default() };
        store.write_state("m", &st).unwrap();
        assert!(matches!(store.delete_version("m", "3"), Err(ModelStoreError::ActiveVersion { .. })));
        assert!(store.installed("m", "3").unwrap().is_some());
        assert!(matches!(store.delete_version("m", "9"), Err(ModelStoreError::UnknownVersion { .. })));
        store.delete_version("m", "2").unwrap();
        assert!(store.installed("m", "2").unwrap().is_none());
        assert_eq!(store.state("m").unwrap().previous, None);
        store.delete_version("m", "1").unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
    }

    #[test]
    fn retention_keeps_active_previous_and_the_newest_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut limits = StoreLimits::new(1024);
        limits.keep_versions = 2;
        let store = ModelStore::open_with(dir.path(), limits).unwrap();
        for v in ["a", "b", "c", "d", "e", "f"] {
            install(&store, "m", v);
        }
        // The oldest two are active and previous: kept whatever their age.
        let st = ModelState { active: Some("b".into()), previous: Some("a".into()), ..Default::default() };
        store.write_state("m", &st).unwrap();
        assert_eq!(store.apply_retention("m").unwrap(), vec!["d".to_owned(), "c".to_owned()]);
        let left: Vec<String> = store.list().unwrap().into_iter().map(|e| e.version).collect();
        assert_eq!(left, vec!["a", "b", "e", "f"]);
        assert!(store.apply_retention("m").unwrap().is_empty());
    }

    #[test]
    fn expired_parts_are_collected_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut limits = StoreLimits::new(1024);
        limits.part_ttl = Duration::from_millis(200);
        let store = ModelStore::open_with(dir.path(), limits).unwrap();
        let sha = "a".repeat(64);
        std::fs::create_dir_all(store.layout.upload_dir("m")).unwrap();
        std::fs::write(store.layout.part_path("m", "old", &sha), [0u8; 100]).unwrap();
        std::thread::sleep(Duration::from_millis(250));
        std::fs::write(store.layout.part_path("m", "new", &sha), [0u8; 10]).unwrap();
        assert_eq!(store.collect_expired_parts().unwrap(), (1, 100));
        let left: Vec<String> = store.layout.all_parts().into_iter().map(|p| p.version).collect();
        assert_eq!(left, vec!["new"]);
    }
}
