//! The device's identity key pair and what is derived from it: the
//! fingerprint a technician compares and a console pins at pairing, and the
//! TLS server configuration (a self-signed certificate over that same key,
//! so the key the console pins is the key that proves itself in every
//! handshake).
//!
//! The key is ed25519, made on first start and kept as PKCS#8 in the data
//! dir (`identity.key`, 0600, temp file + fsync + rename + directory fsync,
//! like the token hash). Losing the file gives the device a new identity,
//! which every console that paired it reports as "a different key".

use crate::error::AgentError;
use crate::identity::write_atomically;
use rcgen::{CertificateParams, KeyPair, PKCS_ED25519, PublicKeyData};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

/// The identity key's file in the data dir (PKCS#8 DER).
const KEY_FILE: &str = "identity.key";
/// Bytes of the SPKI's SHA-256 a fingerprint shows (128 bits).
const FINGERPRINT_BYTES: usize = 16;
/// Characters of the fingerprint the mDNS TXT record carries (`fp=`).
pub const SHORT_FINGERPRINT_CHARS: usize = 10;
/// The name in the self-signed certificate; consoles check the key, not
/// the name (a device's address changes, its key does not).
const CERT_NAME: &str = "edgefleet-agent";

/// The device's key pair, loaded or made.
pub struct DeviceKey {
    pkcs8: Vec<u8>,
    /// DER SubjectPublicKeyInfo of the public key.
    spki: Vec<u8>,
    /// [`key_fingerprint`] of `spki`.
    pub fingerprint: String,
    /// True when it was made just now (first start on this data dir).
    pub created: bool,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("DeviceKey").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

/// The fingerprint of a public key: the first 16 bytes of the SHA-256 of
/// its DER SubjectPublicKeyInfo, in RFC 4648 base32 without padding (26
/// characters), in groups of four joined by `-`.
pub fn key_fingerprint(spki_der: &[u8]) -> String {
    let digest = Sha256::digest(spki_der);
    let text = base32(&digest[..FINGERPRINT_BYTES]);
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// The short form the mDNS TXT record carries: the first
/// [`SHORT_FINGERPRINT_CHARS`] characters without separators.
pub fn short_fingerprint(fingerprint: &str) -> String {
    fingerprint.chars().filter(|c| *c != '-').take(SHORT_FINGERPRINT_CHARS).collect()
}

/// Whether two fingerprints (full or short, any case, with or without
/// separators) name the same key as far as the shorter one tells. An empty
/// one matches nothing.
pub fn fingerprints_agree(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.chars().filter(|c| *c != '-').map(|c| c.to_ascii_uppercase()).collect::<String>();
    let (a, b) = (norm(a), norm(b));
    !a.is_empty() && !b.is_empty() && (a.starts_with(&b) || b.starts_with(&a))
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buffer, mut bits) = (String::new(), 0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Make the ring provider rustls's process-wide default, once. reqwest (built
/// without its own provider) needs one before any client is built; calling
/// this again is harmless.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl DeviceKey {
    /// The key in `data_dir`, or a new one stored there.
    pub fn load_or_create(data_dir: &Path) -> Result<DeviceKey, AgentError> {
        let path = data_dir.join(KEY_FILE);
        let (pkcs8, created) = match std::fs::read(&path) {
            Ok(bytes) if !bytes.is_empty() => (bytes, false),
            Ok(_) => {
                return Err(AgentError::Config(format!(
                    "{} is empty; remove it to make a new identity",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let rng = ring::rand::SystemRandom::new();
                let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| AgentError::System("cannot generate an ed25519 key".into()))?;
                let bytes = doc.as_ref().to_vec();
                write_atomically(&path, &bytes, true)?;
                #[cfg(unix)]
                std::fs::File::open(data_dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| AgentError::io(format!("cannot sync {}", data_dir.display()), e))?;
                (bytes, true)
            }
            Err(e) => return Err(AgentError::io(format!("cannot read {}", path.display()), e)),
        };
        let pair = Self::key_pair(&pkcs8)
            .map_err(|e| AgentError::Config(format!("{} is not an ed25519 PKCS#8 key: {e}", path.display())))?;
        let spki = pair.subject_public_key_info();
        let fingerprint = key_fingerprint(&spki);
        Ok(DeviceKey { pkcs8, spki, fingerprint, created })
    }

    fn key_pair(pkcs8: &[u8]) -> Result<KeyPair, rcgen::Error> {
        let der = PrivatePkcs8KeyDer::from(pkcs8.to_vec());
        KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_ED25519)
    }

    /// DER SubjectPublicKeyInfo of the public key.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// A TLS server configuration presenting a fresh self-signed certificate
    /// over this key (HTTP/1.1 only, TLS 1.2 and 1.3, ring provider).
    pub fn tls_server_config(&self) -> Result<Arc<rustls::ServerConfig>, AgentError> {
        let tls_err = |what: &str, e: &dyn std::fmt::Display| AgentError::Config(format!("TLS {what}: {e}"));
        let pair = Self::key_pair(&self.pkcs8).map_err(|e| tls_err("key", &e))?;
        let params = CertificateParams::new(vec![CERT_NAME.to_owned()]).map_err(|e| tls_err("certificate", &e))?;
        let cert = params.self_signed(&pair).map_err(|e| tls_err("certificate", &e))?;
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.clone()));
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| tls_err("versions", &e))?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(|e| tls_err("certificate", &e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn key_is_made_once_private_and_fingerprinted() {
        let dir = tempfile::tempdir().unwrap();
        let first = DeviceKey::load_or_create(dir.path()).unwrap();
        assert!(first.created);
        assert_eq!(first.fingerprint.len(), 26 + 6, "{}", first.fingerprint);
        let again = DeviceKey::load_or_create(dir.path()).unwrap();
        assert!(!again.created);
        assert_eq!(again.fingerprint, first.fingerprint);
        assert_eq!(again.spki(), first.spki());
        let other = tempfile::tempdir().unwrap();
        assert_ne!(DeviceKey::load_or_create(other.path()).unwrap().fingerprint, first.fingerprint);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(first.tls_server_config().is_ok());
    }

    #[test]
    fn a_damaged_key_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), b"not a key").unwrap();
        let e = DeviceKey::load_or_create(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not an ed25519 PKCS#8 key"), "{e}");
        assert_eq!(std::fs::read(dir.path().join(KEY_FILE)).unwrap(), b"not a key");
    }

    #[test]
    fn short_and_full_fingerprints_agree_only_on_the_same_key() {
        let full = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ";
        assert_eq!(short_fingerprint(full), "ABCDEFGHIJ");
        assert!(fingerprints_agree(full, "abcdefghij"));
        assert!(!fingerprints_agree(full, "ABCDEFGHIK"));
        assert!(!fingerprints_agree(full, ""));
    }
}
