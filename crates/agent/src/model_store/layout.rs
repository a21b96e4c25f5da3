//! Where the model store keeps things on disk, and what an installed
//! version looks like there:
//! - `models/<name>/<version>.onnx` and `<version>.sha256`: installed
//!   versions. A version is immutable once installed.
//! - `models/<name>/state.json`: active and previous version, threshold.
//! - `uploads/<name>/<version>.<sha256>.part`: bytes of an upload in
//!   progress; renamed into `models/` only after the hash checks out.
//!
//! Everything here is blocking filesystem work.

use super::error::{Result, io_err};
use std::path::{Path, PathBuf};

/// Length of a SHA-256 in hex.
const SHA256_HEX_LEN: usize = 64;

/// The two directories of a store under the agent's data dir. Cheap to
/// clone, so blocking tasks can take their own copy.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    models_dir: PathBuf,
    uploads_dir: PathBuf,
}

impl Layout {
    /// The layout under `data_dir`, creating its directories.
    pub(crate) fn create(data_dir: &Path) -> Result<Layout> {
        let layout = Layout { models_dir: data_dir.join("models"), uploads_dir: data_dir.join("uploads") };
        for d in [&layout.models_dir, &layout.uploads_dir] {
            std::fs::create_dir_all(d).map_err(io_err(format!("cannot create {}", d.display())))?;
        }
        Ok(layout)
    }

    /// The directory holding one subdirectory per model.
    pub(crate) fn models_dir(&self) -> &Path {
        &self.models_dir
    }

    /// The directory holding one subdirectory of upload parts per model.
    pub(crate) fn uploads_dir(&self) -> &Path {
        &self.uploads_dir
    }

    /// Installed versions and `state.json` of one model.
    pub(crate) fn model_dir(&self, name: &str) -> PathBuf {
        self.models_dir.join(name)
    }

    /// Path of an installed version's ONNX file.
    pub(crate) fn model_path(&self, name: &str, version: &str) -> PathBuf {
        self.model_dir(name).join(format!("{version}.onnx"))
    }

    /// The hash sidecar of an installed version.
    pub(crate) fn sha_path(&self, name: &str, version: &str) -> PathBuf {
        self.model_dir(name).join(format!("{version}.sha256"))
    }

    /// Upload parts of one model.
    pub(crate) fn upload_dir(&self, name: &str) -> PathBuf {
        self.uploads_dir.join(name)
    }

    /// The part of an upload of `name`/`version` whose whole file hashes to `sha`.
    pub(crate) fn part_path(&self, name: &str, version: &str, sha: &str) -> PathBuf {
        self.upload_dir(name).join(format!("{version}.{sha}.part"))
    }

    /// Upload parts held for `name`/`version`, with their hash.
    pub(crate) fn parts(&self, name: &str, version: &str) -> Vec<(PathBuf, String)> {
        let Ok(entries) = std::fs::read_dir(self.upload_dir(name)) else { return Vec::new() };
        entries
            .flatten()
            .filter_map(|e| {
                let file = e.file_name().into_string().ok()?;
                let stem = file.strip_suffix(".part")?;
                let (v, sha) = stem.rsplit_once('.')?;
                (v == version && sha.len() == SHA256_HEX_LEN).then(|| (e.path(), sha.to_owned()))
            })
            .collect()
    }

    /// Every upload part on disk: (name, version, path, bytes, last modified).
    pub(crate) fn all_parts(&self) -> Vec<PartFile> {
        let Ok(models) = std::fs::read_dir(&self.uploads_dir) else { return Vec::new() };
        let mut out = Vec::new();
        for model in models.flatten() {
            let Ok(name) = model.file_name().into_string() else { continue };
            let Ok(files) = std::fs::read_dir(model.path()) else { continue };
            for f in files.flatten() {
                let Ok(file) = f.file_name().into_string() else { continue };
                let Some((version, sha)) = file.strip_suffix(".part").and_then(|s| s.rsplit_once('.')) else {
                    continue;
                };
                let Ok(meta) = f.metadata() else { continue };
                if sha.len() == SHA256_HEX_LEN && meta.is_file() {
                    out.push(PartFile {
                        name: name.clone(),
                        version: version.to_owned(),
                        path: f.path(),
                        bytes: meta.len(),
                        modified: meta.modified().ok(),
                    });
                }
            }
        }
        out
    }

    /// Hash and size of an installed version; `None` when it is not installed.
    pub(crate) fn installed(&self, name: &str, version: &str) -> Result<Option<(String, u64)>> {
        let path = self.model_path(name, version);
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(format!("cannot stat {}", path.display()))(e)),
        };
        let sha = match std::fs::read_to_string(self.sha_path(name, version)) {
            Ok(s) if s.trim().len() == SHA256_HEX_LEN => s.trim().to_owned(),
            // The sidecar is written before the rename, so this only happens if
            // someone removed it by hand: recompute rather than fail.
            _ => sha256_file(&path)?,
        };
        Ok(Some((sha, size)))
    }
}

/// One upload part on disk.
#[derive(Debug, Clone)]
pub(crate) struct PartFile {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub modified: Option<std::time::SystemTime>,
}

/// Make a rename in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    // Opening a directory read-only and fsyncing it is how POSIX exposes that.
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(format!("cannot sync {}", dir.display())))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// SHA-256 of a file, lowercase hex.
fn sha256_file(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(io_err(format!("cannot open {}", path.display())))?;
    edgefleet_core::sha256_reader(std::io::BufReader::with_capacity(64 * 1024, file))
        .map_err(io_err(format!("cannot read {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_reads_the_sidecar_and_recomputes_a_lost_one() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        assert_eq!(layout.installed("m", "1").unwrap(), None);
        std::fs::create_dir_all(layout.model_dir("m")).unwrap();
        std::fs::write(layout.model_path("m", "1"), b"abc").unwrap();
        let abc = edgefleet_core::sha256_hex(b"abc");
        assert_eq!(layout.installed("m", "1").unwrap(), Some((abc.clone(), 3)));
        std::fs::write(layout.sha_path("m", "1"), "f".repeat(64)).unwrap();
        assert_eq!(layout.installed("m", "1").unwrap(), Some(("f".repeat(64), 3)));
    }

    #[test]
    fn parts_are_found_by_version() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        assert!(layout.parts("m", "1").is_empty());
        let sha = "a".repeat(64);
        std::fs::create_dir_all(layout.upload_dir("m")).unwrap();
        std::fs::write(layout.part_path("m", "1", &sha), b"x").unwrap();
        std::fs::write(layout.part_path("m", "2", &sha), b"x").unwrap();
        std::fs::write(layout.upload_dir("m").join("1.short.part"), b"x").unwrap();
        assert_eq!(layout.parts("m", "1"), vec![(layout.part_path("m", "1", &sha), sha)]);
    }
}
