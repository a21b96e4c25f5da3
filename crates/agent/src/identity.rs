//! The agent's persistent identity in its data dir: the bearer token
//! (generated on first start when none is given) and the device id.
//!
//! Both are written with temp file + rename so a crash never leaves a
//! half-written token that would lock the console out.

use crate::error::AgentError;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

const TOKEN_FILE: &str = "token";
const DEVICE_ID_FILE: &str = "device_id";

/// The token stored in `data_dir`, or a new one stored there. The flag is
/// true when the token was just created (the caller prints it once).
pub fn load_or_create_token(data_dir: &Path) -> Result<(String, bool), AgentError> {
    let path = data_dir.join(TOKEN_FILE);
    if let Some(token) = read_trimmed(&path)? {
        return Ok((token, false));
    }
    let token = hex::encode(random_bytes::<32>());
    write_atomically(&path, token.as_bytes(), true)?;
    Ok((token, true))
}

/// The device id stored in `data_dir`, or `fallback()` stored there.
pub fn load_or_create_device_id(data_dir: &Path, fallback: impl FnOnce() -> String) -> Result<String, AgentError> {
    let path = data_dir.join(DEVICE_ID_FILE);
    if let Some(id) = read_trimmed(&path)? {
        return Ok(id);
    }
    let id = fallback();
    write_atomically(&path, id.as_bytes(), false)?;
    Ok(id)
}

/// A fresh random id suffix (hex), from the OS's randomness.
pub fn random_hex(bytes: usize) -> String {
    let mut out = hex::encode(random_bytes::<32>());
    out.truncate(bytes * 2);
    out
}

fn read_trimmed(path: &Path) -> Result<Option<String>, AgentError> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(text.trim().to_owned())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AgentError::io(format!("cannot read {}", path.display()), e)),
    }
}

/// Write `bytes` to `path` via a temp file, fsync and rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> Result<(), AgentError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| AgentError::io(format!("cannot create {}", dir.display()), e))?;
    // Append (not replace) the extension so `a.json` and `a.sha256` never share a temp file.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let ctx = |what: &str| format!("cannot {what} {}", tmp.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp).map_err(|e| AgentError::io(ctx("create"), e))?;
    file.write_all(bytes).map_err(|e| AgentError::io(ctx("write"), e))?;
    file.sync_all().map_err(|e| AgentError::io(ctx("sync"), e))?;
    std::fs::rename(&tmp, path).map_err(|e| AgentError::io(format!("cannot rename into {}", path.display()), e))?;
    Ok(())
}

/// Random bytes from the OS. `/dev/urandom` where it exists; elsewhere the
/// OS-seeded keys of std's `RandomState`, hashed together with time and pid.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        if f.read_exact(&mut out).is_ok() {
            return out;
        }
    }
    use std::hash::{BuildHasher, Hasher};
    let mut filled = 0;
    let mut round = 0u64;
    while filled < N {
        let mut h = Sha256::new();
        for _ in 0..4 {
            let mut hasher = std::hash::RandomState::new().build_hasher();
            hasher.write_u64(round);
            h.update(hasher.finish().to_le_bytes());
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        h.update(now.as_nanos().to_le_bytes());
        h.update(std::process::id().to_le_bytes());
        let digest = h.finalize();
        let take = (N - filled).min(digest.len());
        out[filled..filled + take].copy_from_slice(&digest[..take]);
        filled += take;
        round += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = load_or_create_token(dir.path()).unwrap();
        assert!(created);
        assert_eq!(first.len(), 64);
        let (again, created) = load_or_create_token(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(first, again);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(load_or_create_token(other.path()).unwrap().0, first);
    }
}
