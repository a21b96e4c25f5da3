//! Finding the ONNX Runtime shared library, in a fixed order, and saying
//! which place it came from:
//!
//! 1. an explicit path (`--ort-lib PATH`; a file, or a folder holding it);
//! 2. the `ORT_DYLIB_PATH` environment variable;
//! 3. a `lib/` folder next to the executable;
//! 4. the app data dir, `${XDG_DATA_HOME:-~/.local/share}/edgefleet/lib`,
//!    where `scripts/install-onnxruntime.sh` puts it;
//! 5. an installed Python `onnxruntime` package (`onnxruntime/capi/`),
//!    found by asking `$PYTHON` (default `python3`).
//!
//! Nothing is loaded here: [`super::ort::OrtRuntime`] loads what this finds.

use crate::error::{OptimizeError, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The hint every "not found" message ends with.
pub const INSTALL_HINT: &str = "run scripts/install-onnxruntime.sh or pass --ort-lib";

/// Where a library was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LibSource {
    /// `--ort-lib PATH`.
    Flag,
    /// The `ORT_DYLIB_PATH` environment variable.
    EnvVar,
    /// `lib/` next to the executable.
    BesideExecutable,
    /// The app data dir.
    AppDataDir,
    /// The `capi/` folder of a Python `onnxruntime` package.
    PythonPackage,
}

impl fmt::Display for LibSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LibSource::Flag => "--ort-lib",
            LibSource::EnvVar => "ORT_DYLIB_PATH",
            LibSource::BesideExecutable => "lib/ next to the executable",
            LibSource::AppDataDir => "the app data dir",
            LibSource::PythonPackage => "the Python onnxruntime package",
        })
    }
}

/// A library file and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtLibrary {
    pub path: PathBuf,
    pub source: LibSource,
}

impl fmt::Display for OrtLibrary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.path.display(), self.source)
    }
}

/// The app data folder the install script fills.
pub fn app_data_lib_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".local/share"),
    };
    Some(base.join("edgefleet/lib"))
}

/// Whether a file name is the ONNX Runtime library itself (not one of the
/// provider plug-ins next to it).
fn is_ort_library(name: &str) -> bool {
    let stem_ok = name.starts_with("libonnxruntime.") || name.starts_with("onnxruntime.");
    let ext_ok = name.contains(".so") || name.ends_with(".dylib") || name.ends_with(".dll");
    stem_ok && ext_ok
}

/// The library in a folder: the highest-versioned `libonnxruntime.so*`.
pub fn library_in_dir(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(is_ort_library))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    // `libonnxruntime.so.1.32.0` sorts after `libonnxruntime.so.1.9.0` by its numbers.
    found.sort_by_key(|p| version_from_path(p).map(|v| version_numbers(&v)).unwrap_or_default());
    found.pop()
}

fn version_numbers(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// The version a library's file name carries (`libonnxruntime.so.1.32.0` →
/// `1.32.0`), following symlinks first.
pub fn version_from_path(path: &Path) -> Option<String> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = real.file_name()?.to_str()?.to_owned();
    let tail = if let Some((_, v)) = name.split_once(".so.") {
        v.to_owned()
    } else {
        // macOS: libonnxruntime.1.32.0.dylib
        name.strip_prefix("libonnxruntime.")?.strip_suffix(".dylib")?.to_owned()
    };
    let ok = !tail.is_empty() && tail.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some(tail)
}

/// The `capi/` folder of the Python `onnxruntime` package, if one is installed.
fn python_capi_dir() -> std::result::Result<PathBuf, String> {
    let python = std::env::var("PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into());
    let out = Command::new(&python)
        .args(["-c", "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))"])
        .output()
        .map_err(|e| format!("{python} ({e})"))?;
    if !out.status.success() {
        return Err(format!("{python} (no onnxruntime package)"));
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok(PathBuf::from(dir).join("capi"))
}

/// A path given by the user: the file itself, or a folder holding it.
fn explicit(path: &Path, source: LibSource) -> Result<OrtLibrary> {
    let file = if path.is_dir() { library_in_dir(path) } else { path.is_file().then(|| path.to_path_buf()) };
    match file {
        Some(f) => Ok(OrtLibrary { path: std::path::absolute(&f).unwrap_or(f), source }),
        None => Err(OptimizeError::OrtUnavailable(format!(
            "ONNX Runtime library not found; tried {source} {} (no such library); {INSTALL_HINT}",
            path.display()
        ))),
    }
}

/// Find the library: `flag` first, then the environment, the folders and
/// Python. The error names every place tried.
pub fn locate(flag: Option<&Path>) -> Result<OrtLibrary> {
    if let Some(p) = flag {
        return explicit(p, LibSource::Flag);
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        return explicit(Path::new(&p), LibSource::EnvVar);
    }
    let mut tried = vec!["--ort-lib (not given)".to_owned(), "ORT_DYLIB_PATH (unset)".to_owned()];
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join("lib"))) {
        dirs.push((dir, LibSource::BesideExecutable));
    }
    if let Some(dir) = app_data_lib_dir() {
        dirs.push((dir, LibSource::AppDataDir));
    }
    for (dir, source) in dirs {
        if let Some(path) = library_in_dir(&dir) {
            return Ok(OrtLibrary { path, source });
        }
        tried.push(dir.display().to_string());
    }
    match python_capi_dir() {
        Ok(dir) => match library_in_dir(&dir) {
            Some(path) => return Ok(OrtLibrary { path, source: LibSource::PythonPackage }),
            None => tried.push(dir.display().to_string()),
        },
        Err(why) => tried.push(why),
    }
    Err(OptimizeError::OrtUnavailable(format!(
        "ONNX Runtime library not found; tried {}; {INSTALL_HINT}",
        tried.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names_and_versions() {
        assert!(is_ort_library("libonnxruntime.so.1.32.0"));
        assert!(is_ort_library("libonnxruntime.so"));
        assert!(!is_ort_library("libonnxruntime_providers_shared.so"));
        assert_eq!(version_from_path(Path::new("/x/libonnxruntime.so.1.32.0")).as_deref(), Some("1.32.0"));
        assert_eq!(version_from_path(Path::new("/x/libonnxruntime.1.20.1.dylib")).as_deref(), Some("1.20.1"));
        assert_eq!(version_from_path(Path::new("/x/libonnxruntime.so")), None);
    }

    #[test]
    fn the_highest_version_in_a_folder_wins() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["libonnxruntime.so.1.9.0", "libonnxruntime.so.1.32.0", "libonnxruntime_providers_shared.so"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let found = library_in_dir(dir.path()).unwrap();
        assert!(found.ends_with("libonnxruntime.so.1.32.0"), "{}", found.display());
    }

    #[test]
    fn an_explicit_path_that_is_not_there_says_so_in_one_line() {
        let e = locate(Some(Path::new("/nonexistent/libonnxruntime.so"))).unwrap_err().to_string();
        assert!(e.starts_with("ONNX Runtime library not found; tried --ort-lib /nonexistent"), "{e}");
        assert!(e.ends_with(INSTALL_HINT) && !e.contains('\n'), "{e}");
    }
}
