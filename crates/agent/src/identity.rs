//! The agent's persistent identity in its data dir: the SHA-256 of the
//! bearer token (the token itself is printed once when generated, never
//! stored) and the device id.
//!
//! Both are written with temp file + rename so a crash never leaves a
//! half-written hash that would lock the console out.

use crate::error::AgentError;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// Hex SHA-256 of the token.
const TOKEN_HASH_FILE: &str = "token.sha256";
/// Where older agents kept the token in plain text; migrated on start.
const LEGACY_TOKEN_FILE: &str = "token";
const DEVICE_ID_FILE: &str = "device_id";

/// SHA-256 of a token.
pub fn token_sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token an agent checks requests against.
#[derive(Debug, Clone)]
pub struct StoredToken {
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
    /// The token itself when it was generated just now (print it once);
    /// `None` when only its hash was on file.
    pub created: Option<String>,
}

/// The token hash stored in `data_dir`, or a new token whose hash is
/// stored there. A plain-text `token` file left by an older agent is
/// hashed into `token.sha256` and removed.
pub fn load_or_create_token(data_dir: &Path) -> Result<StoredToken, AgentError> {
    let hash_path = data_dir.join(TOKEN_HASH_FILE);
    if let Some(text) = read_trimmed(&hash_path)? {
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(&text, &mut sha256).map_err(|e| {
            AgentError::io(
                format!("{} is not a SHA-256", hash_path.display()),
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        return Ok(StoredToken { sha256, created: None });
    }
    let legacy = data_dir.join(LEGACY_TOKEN_FILE);
    if let Some(token) = read_trimmed(&legacy)? {
        let sha256 = token_sha256(&token);
        store_token_hash(data_dir, &sha256)?;
        std::fs::remove_file(&legacy).map_err(|e| AgentError::io(format!("cannot remove {}", legacy.display()), e))?;
        tracing::info!("token in {} replaced by its SHA-256 in {TOKEN_HASH_FILE}", legacy.display());
        return Ok(StoredToken { sha256, created: None });
    }
    let token = hex::encode(random_bytes::<32>());
    let sha256 = token_sha256(&token);
    store_token_hash(data_dir, &sha256)?;
    Ok(StoredToken { sha256, created: Some(token) })
}

/// Replace the stored token hash (temp file, fsync, rename, directory fsync).
pub(crate) fn store_token_hash(data_dir: &Path, sha256: &[u8; 32]) -> Result<(), AgentError> {
    write_atomically(&data_dir.join(TOKEN_HASH_FILE), hex::encode(sha256).as_bytes(), true)?;
    #[cfg(unix)]
    std::fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AgentError::io(format!("cannot sync {}", data_dir.display()), e))?;
    Ok(())
}

/// A token read from a file (`--token-file`): the first line, trimmed.
pub fn read_token_file(path: &Path) -> Result<String, AgentError> {
    match read_trimmed(path)? {
        Some(text) => Ok(text.lines().next().unwrap_or_default().trim().to_owned()),
        None => Err(AgentError::Config(format!("token file {} is empty or missing", path.display()))),
    }
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
    fn token_is_created_once_and_only_its_hash_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_token(dir.path()).unwrap();
        let token = first.created.clone().unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(first.sha256, token_sha256(&token));
        let on_disk = std::fs::read_to_string(dir.path().join(TOKEN_HASH_FILE)).unwrap();
        assert_eq!(on_disk, hex::encode(first.sha256));
        assert!(!on_disk.contains(&token));
        let again = load_or_create_token(dir.path()).unwrap();
        assert!(again.created.is_none());
        assert_eq!(again.sha256, first.sha256);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(load_or_create_token(other.path()).unwrap().sha256, first.sha256);
    }

    #[test]
    fn a_plain_text_token_is_migrated_to_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LEGACY_TOKEN_FILE), "old-secret\n").unwrap();
        let t = load_or_create_token(dir.path()).unwrap();
        assert!(t.created.is_none());
        assert_eq!(t.sha256, token_sha256("old-secret"));
        assert!(!dir.path().join(LEGACY_TOKEN_FILE).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_HASH_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
