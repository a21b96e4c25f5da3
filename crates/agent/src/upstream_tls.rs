//! TLS to an HTTPS upstream (another agent) with its key pinned: the
//! upstream presents a self-signed certificate over its identity key, so
//! the only thing to check is that key — its fingerprint must be the one
//! given (`--upstream-fingerprint`), and the handshake signature must verify
//! with it (ring; the verifier is `pinned_verifier`'s). No certificate
//! authority, no host name.

use crate::device_key::fingerprints_agree;
use crate::pinned_verifier::KeyCheck;
use rustls::pki_types::ServerName;

/// Accepts only the key with `fingerprint`.
#[derive(Debug)]
struct PinnedKey {
    fingerprint: String,
}

impl KeyCheck for PinnedKey {
    fn accept(&self, _server_name: &ServerName<'_>, presented: &str) -> Result<(), rustls::Error> {
        // The whole fingerprint, not a prefix: fingerprints_agree on equal lengths.
        if presented.len() == self.fingerprint.len() && fingerprints_agree(presented, &self.fingerprint) {
            Ok(())
        } else {
            Err(rustls::Error::General(format!("the upstream presents key {presented}, not {}", self.fingerprint)))
        }
    }
}

/// A TLS client configuration trusting exactly the key with `fingerprint`.
pub(crate) fn pinned_client_config(fingerprint: &str) -> Result<rustls::ClientConfig, rustls::Error> {
    crate::pinned_verifier::pinned_client_config(PinnedKey { fingerprint: fingerprint.trim().to_owned() })
}

#[cfg(test)]
mod tests {
    use crate::device_key::DeviceKey;
    use crate::upstream::Upstream;
    use edgefleet_core::{Device, DeviceType};
    use std::time::Duration;

    #[test]
    fn the_whole_fingerprint_must_agree() {
        use crate::pinned_verifier::KeyCheck;
        let pin = super::PinnedKey { fingerprint: "ABCD-EFGH-23".into() };
        let name = rustls::pki_types::ServerName::try_from("upstream").unwrap();
        assert!(pin.accept(&name, "ABCD-EFGH-23").is_ok());
        assert!(pin.accept(&name, "ABCD-EFGH").is_err(), "a prefix is not the key");
        let e = pin.accept(&name, "ZZZZ-EFGH-23").unwrap_err();
        assert_eq!(e.to_string(), "unexpected error: the upstream presents key ZZZZ-EFGH-23, not ABCD-EFGH-23");
    }

    #[tokio::test]
    async fn only_the_pinned_key_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            crate::AgentConfig::new(Device::new("edge", DeviceType::EdgeServer, 2, 2048, 16.0), dir.path());
        config.tls = true;
        config.token = Some("upstream-token".into());
        config.benchmark_duration = Duration::from_millis(10);
        let edge = crate::spawn(config).await.unwrap();
        let token = Some("upstream-token".to_owned());
        let right = Upstream::new(&edge.base_url(), token.clone(), Some(&edge.fingerprint)).unwrap();
        assert_eq!(right.id().await, "edge");
        let other = tempfile::tempdir().unwrap();
        let wrong_key = DeviceKey::load_or_create(other.path()).unwrap().fingerprint;
        let wrong = Upstream::new(&edge.base_url(), token.clone(), Some(&wrong_key)).unwrap();
        assert_eq!(wrong.id().await, edge.base_url(), "another key must not be trusted");
        assert!(wrong.predict("m", vec![vec![0.0]]).await.is_err());
        let e = Upstream::new(&edge.base_url(), token, None).unwrap_err();
        assert!(e.contains("needs the fingerprint"), "{e}");
        edge.shutdown().await;
    }
}
