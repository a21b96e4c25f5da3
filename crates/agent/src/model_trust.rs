//! Signed models: the console's public key pinned at pairing, and the
//! check that a version about to be activated was signed by it.
//!
//! `POST /v1/trust {console_key}` (token required; the route is in `auth`) pins the console's
//! ed25519 public key once; replacing a pinned key needs `replace: true`,
//! which the console sends only on a deliberate flag. Once a key is pinned,
//! signatures are required (unless the agent runs with `--allow-unsigned`):
//! activate and rollback refuse a version without a valid signature over
//! (name, version, sha256) — see `edgefleet_core::wire::model_signature_message`
//! — before anything changes, so the active model keeps serving. The
//! signature comes with the activate request (`x-model-signature`, hex) and
//! is kept beside the data dir's models (`signatures/NAME/VERSION.sig`) once
//! it verifies, so a later activation or rollback of that version needs no
//! new one.

use crate::api_error::ApiError;
use crate::error::AgentError;
use crate::identity::write_atomically;
use axum::http::StatusCode;
use edgefleet_core::wire::model_signature_message;
use ring::signature::{ED25519, UnparsedPublicKey};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// The pinned console key's file in the data dir (hex of 32 bytes).
const CONSOLE_KEY_FILE: &str = "console_key.ed25519";
/// Where verified signatures are kept, under the data dir.
const SIGNATURES_DIR: &str = "signatures";
/// Header of the activate request carrying the signature (hex).
pub const MODEL_SIGNATURE_HEADER: &str = "x-model-signature";

/// The console key this agent trusts and whether it insists on signatures.
#[derive(Debug)]
pub(crate) struct ModelTrust {
    data_dir: PathBuf,
    console_key: RwLock<Option<[u8; 32]>>,
    allow_unsigned: bool,
}

pub(crate) fn parse_key(text: &str) -> Option<[u8; 32]> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key).ok()?;
    Some(key)
}

fn refused(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, detail)
}

impl ModelTrust {
    /// The trust kept in `data_dir` (no key pinned when there is no file).
    pub fn open(data_dir: &Path, allow_unsigned: bool) -> Result<ModelTrust, AgentError> {
        let path = data_dir.join(CONSOLE_KEY_FILE);
        let key = match std::fs::read_to_string(&path) {
            Ok(text) => Some(
                parse_key(&text)
                    .ok_or_else(|| AgentError::Config(format!("{} is not a 32-byte hex key", path.display())))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(AgentError::io(format!("cannot read {}", path.display()), e)),
        };
        Ok(ModelTrust { data_dir: data_dir.to_owned(), console_key: RwLock::new(key), allow_unsigned })
    }

    fn key(&self) -> Option<[u8; 32]> {
        *self.console_key.read().unwrap_or_else(|e| e.into_inner())
    }

    /// True when activations need a valid signature.
    pub fn required(&self) -> bool {
        !self.allow_unsigned && self.key().is_some()
    }

    fn signature_path(&self, name: &str, version: &str) -> PathBuf {
        self.data_dir.join(SIGNATURES_DIR).join(name).join(format!("{version}.sig"))
    }

    fn verifies(&self, key: &[u8; 32], name: &str, version: &str, sha256: &str, signature: &[u8]) -> bool {
        let message = model_signature_message(name, version, sha256);
        UnparsedPublicKey::new(&ED25519, key).verify(&message, signature).is_ok()
    }

    /// Check (name, version, sha256) before activating it: the signature
    /// sent now (hex) or the one kept from before must verify with the
    /// pinned key. A new signature that verifies is kept. With no key
    /// pinned, or `--allow-unsigned`, everything passes.
    pub fn check(&self, name: &str, version: &str, sha256: &str, sent: Option<&str>) -> Result<(), ApiError> {
        let Some(key) = self.key() else { return Ok(()) };
        if let Some(text) = sent {
            let sig = hex::decode(text.trim()).map_err(|_| refused("bad_signature", "x-model-signature is not hex"))?;
            if self.verifies(&key, name, version, sha256, &sig) {
                let path = self.signature_path(name, version);
                write_atomically(&path, hex::encode(&sig).as_bytes(), false)
                    .map_err(|e| ApiError::internal(format!("cannot keep the signature: {e}")))?;
                return Ok(());
            }
            if self.allow_unsigned {
                tracing::warn!("{name} {version}: the signature does not verify (accepted: --allow-unsigned)");
                return Ok(());
            }
            return Err(refused(
                "bad_signature",
                format!(
                    "{name} {version}: the signature does not match the pinned console key; the active model is unchanged"
                ),
            ));
        }
        let kept =
            std::fs::read_to_string(self.signature_path(name, version)).ok().and_then(|t| hex::decode(t.trim()).ok());
        match kept {
            Some(sig) if self.verifies(&key, name, version, sha256, &sig) => Ok(()),
            _ if self.allow_unsigned => Ok(()),
            Some(_) => Err(refused(
                "bad_signature",
                format!("{name} {version}: its kept signature does not verify; the active model is unchanged"),
            )),
            None => Err(refused(
                "unsigned_model",
                format!(
                    "{name} {version} is not signed by the console this agent is paired with; the active model is unchanged"
                ),
            )),
        }
    }

    /// Pin `key`; a different pinned key is replaced only with `replace`.
    pub fn pin(&self, key: [u8; 32], replace: bool) -> Result<(), ApiError> {
        let mut current = self.console_key.write().unwrap_or_else(|e| e.into_inner());
        match *current {
            Some(k) if k == key => return Ok(()),
            Some(_) if !replace => {
                return Err(ApiError::conflict(
                    "another console key is pinned; replacing it needs the console's deliberate --replace-console-key",
                ));
            }
            _ => {}
        }
        let path = self.data_dir.join(CONSOLE_KEY_FILE);
        write_atomically(&path, hex::encode(key).as_bytes(), true)
            .map_err(|e| ApiError::internal(format!("cannot keep the console key: {e}")))?;
        #[cfg(unix)]
        if let Err(e) = std::fs::File::open(&self.data_dir).and_then(|d| d.sync_all()) {
            tracing::warn!("cannot sync {}: {e}", self.data_dir.display());
        }
        *current = Some(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn console() -> Ed25519KeyPair {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
    }

    fn pinned(dir: &Path, key: &Ed25519KeyPair, allow_unsigned: bool) -> ModelTrust {
        let t = ModelTrust::open(dir, allow_unsigned).unwrap();
        t.pin(key.public_key().as_ref().try_into().unwrap(), false).unwrap();
        t
    }

    #[test]
    fn unsigned_and_wrongly_signed_versions_are_refused_once_a_key_is_pinned() {
        let dir = tempfile::tempdir().unwrap();
        let open = ModelTrust::open(dir.path(), false).unwrap();
        assert!(!open.required());
        assert!(open.check("m", "1", "ab", None).is_ok(), "no key pinned: nothing required");

        let (ours, theirs) = (console(), console());
        let t = pinned(dir.path(), &ours, false);
        assert!(t.required());
        let e = t.check("m", "1", "ab", None).unwrap_err();
        assert_eq!(e.code, "unsigned_model");
        let wrong = hex::encode(theirs.sign(&model_signature_message("m", "1", "ab")));
        assert_eq!(t.check("m", "1", "ab", Some(&wrong)).unwrap_err().code, "bad_signature");
        let other_sha = hex::encode(ours.sign(&model_signature_message("m", "1", "cd")));
        assert_eq!(t.check("m", "1", "ab", Some(&other_sha)).unwrap_err().code, "bad_signature");
        let good = hex::encode(ours.sign(&model_signature_message("m", "1", "ab")));
        t.check("m", "1", "ab", Some(&good)).unwrap();
        t.check("m", "1", "ab", None).expect("the verified signature is kept");

        // Kept across restarts, and replacing the key needs `replace`.
        let again = ModelTrust::open(dir.path(), false).unwrap();
        assert!(again.required());
        assert!(again.pin(theirs.public_key().as_ref().try_into().unwrap(), false).is_err());
        again.pin(theirs.public_key().as_ref().try_into().unwrap(), true).unwrap();
        assert!(again.check("m", "1", "ab", None).is_err(), "the old console's signature no longer counts");
        assert!(ModelTrust::open(dir.path(), true).unwrap().check("m", "2", "ef", None).is_ok());
    }
}
