//! TLS to agents with the key pinned at pairing, through the one shared
//! reqwest client.
//!
//! Agents present self-signed certificates over their identity key; there
//! is no certificate authority to trust. Instead the key a request must meet
//! travels in its URL: a pinned client talks to
//! `https://{fingerprint}.{ip-hex}.pin.invalid:PORT`. The resolver here
//! turns that name back into the device's IP address (no DNS query ever
//! leaves the machine for it), and the certificate verifier accepts the
//! handshake only when the certificate's public key has exactly that
//! fingerprint — and the handshake signature made with that key verifies
//! (ring). A probe uses the label `any` instead: any key is accepted, the
//! handshake signature is still checked, and the caller reads which key it
//! met (the response's TLS info) to compare it with the pin; probes never
//! carry a token (see `AgentClient::tls_probe`).
//!
//! Host names other than these get no trust at all: the console never
//! talks TLS to anything but an edgefleet agent.

use edgefleet_agent::{install_crypto_provider, key_fingerprint};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The domain pinned host names end in (`.invalid` never resolves through DNS).
const PIN_DOMAIN: &str = "pin.invalid";
/// The label of probes, which accept any key.
const ANY_KEY: &str = "any";

/// The host name that pins `fingerprint` (or, with `None`, accepts any key)
/// for a device at `ip`.
pub fn pinned_host(fingerprint: Option<&str>, ip: IpAddr) -> String {
    let label = match fingerprint {
        Some(fp) => fp.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase(),
        None => ANY_KEY.to_owned(),
    };
    let ip_hex = match ip {
        IpAddr::V4(v4) => hex::encode(v4.octets()),
        IpAddr::V6(v6) => hex::encode(v6.octets()),
    };
    format!("{label}.{ip_hex}.{PIN_DOMAIN}")
}

/// `(fingerprint label, ip)` of a pinned host name; `None` for other names.
fn parse_pinned_host(host: &str) -> Option<(String, IpAddr)> {
    let rest = host.strip_suffix(PIN_DOMAIN)?.strip_suffix('.')?;
    let (label, ip_hex) = rest.split_once('.')?;
    let bytes = hex::decode(ip_hex).ok()?;
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes.as_slice()).ok()?)),
        _ => return None,
    };
    Some((label.to_owned(), ip))
}

/// The fingerprint of the key in a DER certificate.
pub fn certificate_fingerprint(cert_der: &[u8]) -> Option<String> {
    let der = CertificateDer::from(cert_der);
    let parsed = rustls::server::ParsedCertificate::try_from(&der).ok()?;
    Some(key_fingerprint(parsed.subject_public_key_info().as_ref()))
}

/// Accepts an agent's certificate only when its key is the one the host
/// name pins (or any key for a probe), and checks handshake signatures with
/// the ring provider.
#[derive(Debug)]
struct PinVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ServerName::DnsName(name) = server_name else {
            return Err(rustls::Error::General("agents are reached only through a pinned name".into()));
        };
        let Some((label, _)) = parse_pinned_host(name.as_ref()) else {
            return Err(rustls::Error::General(format!("`{}` pins no key", name.as_ref())));
        };
        let presented = certificate_fingerprint(end_entity.as_ref())
            .ok_or(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        let presented_label = presented.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
        if label == ANY_KEY || label == presented_label {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!("the device presents key {presented}, not the pinned one")))
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

/// The console's TLS client configuration: ring, TLS 1.2/1.3, the pin
/// verifier, HTTP/1.1, no session resumption (every new connection proves
/// its key again).
pub fn client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    install_crypto_provider();
    let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinVerifier { algorithms: provider.signature_verification_algorithms });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// Resolves pinned host names to the IP they carry, other names through
/// the system resolver.
#[derive(Debug, Default)]
pub struct PinResolver;

impl reqwest::dns::Resolve for PinResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if let Some((_, ip)) = parse_pinned_host(&host) {
                let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(SocketAddr::new(ip, 0)));
                return Ok(addrs);
            }
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_hosts_round_trip() {
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        let host = pinned_host(Some("ABCD-EFGH-23"), v4);
        assert_eq!(host, "abcdefgh23.0a010203.pin.invalid");
        assert_eq!(parse_pinned_host(&host), Some(("abcdefgh23".to_owned(), v4)));
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(parse_pinned_host(&pinned_host(None, v6)), Some(("any".to_owned(), v6)));
        assert_eq!(parse_pinned_host("example.com"), None);
        assert_eq!(parse_pinned_host("x.0a01.pin.invalid"), None);
    }
}
