//! TLS to an HTTPS upstream (another agent) with its key pinned: the
//! upstream presents a self-signed certificate over its identity key, so
//! the only thing to check is that key — its fingerprint must be the one
//! given (`--upstream-fingerprint`), and the handshake signature must verify
//! with it (ring). No certificate authority, no host name.

use crate::device_key::{fingerprints_agree, install_crypto_provider, key_fingerprint};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// Accepts only a certificate whose key has `fingerprint`.
#[derive(Debug)]
struct PinnedKey {
    fingerprint: String,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        let presented = key_fingerprint(parsed.subject_public_key_info().as_ref());
        // The whole fingerprint, not a prefix: fingerprints_agree on equal lengths.
        if presented.len() == self.fingerprint.len() && fingerprints_agree(&presented, &self.fingerprint) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!("the upstream presents key {presented}, not {}", self.fingerprint)))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A TLS client configuration trusting exactly the key with `fingerprint`.
pub(crate) fn pinned_client_config(fingerprint: &str) -> Result<rustls::ClientConfig, rustls::Error> {
    install_crypto_provider();
    let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedKey {
        fingerprint: fingerprint.trim().to_owned(),
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use crate::device_key::DeviceKey;
    use crate::upstream::Upstream;
    use edgefleet_core::{Device, DeviceType};
    use std::time::Duration;

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
