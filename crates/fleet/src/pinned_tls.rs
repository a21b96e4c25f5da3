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

use edgefleet_agent::key_fingerprint;
use edgefleet_agent::pinned_verifier::{KeyCheck, pinned_client_config};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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

/// Accepts an agent's key only when it is the one the host name pins (or
/// any key for a probe); the handshake signature is checked by the agent
/// library's pinned verifier either way.
#[derive(Debug)]
struct HostPin;

impl KeyCheck for HostPin {
    fn accept(&self, server_name: &ServerName<'_>, presented: &str) -> Result<(), rustls::Error> {
        let ServerName::DnsName(name) = server_name else {
            return Err(rustls::Error::General("agents are reached only through a pinned name".into()));
        };
        let Some((label, _)) = parse_pinned_host(name.as_ref()) else {
            return Err(rustls::Error::General(format!("`{}` pins no key", name.as_ref())));
        };
        let presented_label = presented.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
        if label == ANY_KEY || label == presented_label {
            Ok(())
        } else {
            Err(rustls::Error::General(format!("the device presents key {presented}, not the pinned one")))
        }
    }
}

/// The console's TLS client configuration: ring, TLS 1.2/1.3, the pin
/// check, HTTP/1.1, no session resumption (every new connection proves its
/// key again).
pub fn client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let mut config = pinned_client_config(HostPin)?;
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

    #[test]
    fn the_host_name_says_which_key_is_accepted() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let name = |host: String| ServerName::try_from(host).unwrap();
        let pinned = name(pinned_host(Some("ABCD-EFGH-23"), ip));
        assert!(HostPin.accept(&pinned, "ABCD-EFGH-23").is_ok());
        let e = HostPin.accept(&pinned, "ZZZZ-EFGH-23").unwrap_err();
        assert_eq!(e.to_string(), "unexpected error: the device presents key ZZZZ-EFGH-23, not the pinned one");
        assert!(HostPin.accept(&name(pinned_host(None, ip)), "ZZZZ-EFGH-23").is_ok(), "a probe takes any key");
        let e = HostPin.accept(&name("example.com".into()), "ABCD").unwrap_err();
        assert!(e.to_string().contains("`example.com` pins no key"), "{e}");
        let e = HostPin.accept(&ServerName::IpAddress(ip.into()), "ABCD").unwrap_err();
        assert!(e.to_string().contains("only through a pinned name"), "{e}");
    }
}
