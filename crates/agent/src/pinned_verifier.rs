//! The one certificate verifier behind every TLS connection edgefleet makes
//! to an agent (an agent to its HTTPS upstream, the console to its
//! devices). Agents present self-signed certificates over their identity
//! key, so there is no certificate authority and no host name to check:
//! the verifier computes the fingerprint of the key presented, asks a
//! [`KeyCheck`] whether that key is acceptable (a fixed fingerprint, or one
//! the host name carries), and verifies the handshake signature made with
//! that key (ring). Only the check differs between its users.

use crate::device_key::{install_crypto_provider, key_fingerprint};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// Which key a pinned connection accepts.
pub trait KeyCheck: std::fmt::Debug + Send + Sync {
    /// `Ok` when the server reached as `server_name` may present the key
    /// with fingerprint `presented`; else the error that ends the handshake
    /// (its words are what the user sees).
    fn accept(&self, server_name: &ServerName<'_>, presented: &str) -> Result<(), rustls::Error>;
}

/// Accepts a certificate when its key passes `check`, and checks handshake
/// signatures with the ring provider's algorithms.
#[derive(Debug)]
struct PinnedKeyVerifier<C> {
    check: C,
    algorithms: WebPkiSupportedAlgorithms,
}

impl<C: KeyCheck> ServerCertVerifier for PinnedKeyVerifier<C> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        let presented = key_fingerprint(parsed.subject_public_key_info().as_ref());
        self.check.accept(server_name, &presented).map(|()| ServerCertVerified::assertion())
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

/// A TLS client configuration on ring (TLS 1.2/1.3, HTTP/1.1, no client
/// certificate) trusting only the keys `check` accepts.
pub fn pinned_client_config(check: impl KeyCheck + 'static) -> Result<rustls::ClientConfig, rustls::Error> {
    install_crypto_provider();
    let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedKeyVerifier { check, algorithms: provider.signature_verification_algorithms });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
