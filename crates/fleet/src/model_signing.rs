//! The console's model-signing key: ed25519, made on first use next to the
//! console's database (`model-signing.key`, PKCS#8, 0600, temp file +
//! fsync + rename + directory fsync), its public half pinned by agents at
//! pairing (`POST /v1/trust`).
//!
//! The console signs only what it deployed itself: an upload through a
//! client carrying the signer approves (name, version, sha256) — the hash
//! the console computed from its own file — and a later activation of that
//! version sends the signature over exactly that triple. Versions the
//! console never uploaded in this process are activated without a new
//! signature; the agent accepts them only if it kept a valid one from an
//! earlier activation.

use crate::error::{FleetError, Result};
use edgefleet_core::wire::model_signature_message;
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The key's file name, beside the console's database.
pub const SIGNING_KEY_FILE: &str = "model-signing.key";

/// Signs model versions for the agents that pinned this console's key.
pub struct ModelSigner {
    pair: Ed25519KeyPair,
    /// (name, version) → sha256 of what this console uploaded.
    approved: Mutex<HashMap<(String, String), String>>,
}

impl std::fmt::Debug for ModelSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("ModelSigner").field("public_key", &self.public_key_hex()).finish_non_exhaustive()
    }
}

/// Where the signing key of the console whose database is `db_path` lives.
pub fn signing_key_path(db_path: &Path) -> PathBuf {
    db_path.with_file_name(SIGNING_KEY_FILE)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FleetError + '_ {
    move |source| FleetError::Io { path: path.display().to_string(), source }
}

impl ModelSigner {
    /// The key at `path`, or a new one written there.
    pub fn load_or_create(path: &Path) -> Result<Arc<ModelSigner>> {
        let pkcs8 = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let rng = ring::rand::SystemRandom::new();
                let doc = Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| FleetError::BadInput("cannot generate an ed25519 key".into()))?;
                write_private(path, doc.as_ref())?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| FleetError::BadInput(format!("{} is not an ed25519 PKCS#8 key", path.display())))?;
        Ok(Arc::new(ModelSigner { pair, approved: Mutex::default() }))
    }

    /// The public key, 32 bytes in hex (what agents pin).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.pair.public_key().as_ref())
    }

    /// The signature (hex) over (name, version, sha256).
    pub fn sign(&self, name: &str, version: &str, sha256: &str) -> String {
        hex::encode(self.pair.sign(&model_signature_message(name, version, sha256)))
    }

    /// Remember that this console deployed `sha256` as (name, version).
    pub fn approve(&self, name: &str, version: &str, sha256: &str) {
        let mut approved = self.approved.lock().unwrap_or_else(|e| e.into_inner());
        approved.insert((name.to_owned(), version.to_owned()), sha256.to_ascii_lowercase());
    }

    /// The signature for (name, version) when this console deployed it.
    pub fn signature_for(&self, name: &str, version: &str) -> Option<String> {
        let approved = self.approved.lock().unwrap_or_else(|e| e.into_inner());
        let sha = approved.get(&(name.to_owned(), version.to_owned()))?;
        Some(self.sign(name, version, sha))
    }
}

/// Write `bytes` to `path` readable by the user only, atomically.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io_err(&tmp))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ED25519, UnparsedPublicKey};

    #[test]
    fn the_key_is_made_once_private_and_signs_only_what_was_approved() {
        let dir = tempfile::tempdir().unwrap();
        let path = signing_key_path(&dir.path().join("fleet.db"));
        let signer = ModelSigner::load_or_create(&path).unwrap();
        let again = ModelSigner::load_or_create(&path).unwrap();
        assert_eq!(signer.public_key_hex(), again.public_key_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(signer.signature_for("m", "1"), None);
        signer.approve("m", "1", "AB");
        let sig = hex::decode(signer.signature_for("m", "1").unwrap()).unwrap();
        let public = hex::decode(signer.public_key_hex()).unwrap();
        let key = UnparsedPublicKey::new(&ED25519, &public);
        assert!(key.verify(&model_signature_message("m", "1", "ab"), &sig).is_ok());
        assert!(key.verify(&model_signature_message("m", "2", "ab"), &sig).is_err());
    }
}
