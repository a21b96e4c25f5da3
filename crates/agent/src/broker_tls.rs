//! TLS to the MQTT broker (`mqtts://`), for the agent and the console
//! alike: a rustls client config on the ring provider (the one TLS stack of
//! the workspace) that trusts the broker's CA file and, when given, logs in
//! with a client certificate and key (brokers that map certificates to
//! users: Mosquitto's `require_certificate`/`use_identity_as_username`).
//! Files are PEM; each is read whole, up to [`MAX_PEM_BYTES`]. Also the
//! broker login the agent and the console share: the password file's one
//! rule ([`read_password_file`]) and the `--broker-user`,
//! `--broker-password-file`, `--broker-ca/--broker-cert/--broker-key` flags
//! ([`BrokerLoginArgs`]) both binaries flatten into their own.

use edgefleet_core::mqtt_wire::BrokerAddr;
use rumqttc::{TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest PEM file read (a CA bundle is a few hundred KB at most).
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Why a broker TLS setting cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BrokerTlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is over {MAX_PEM_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("a client certificate needs its key, and a key its certificate (--broker-cert with --broker-key)")]
    HalfClientAuth,
    #[error("mqtts:// needs the broker's CA certificate (--broker-ca FILE)")]
    MissingCa,
    #[error("--broker-ca/--broker-cert/--broker-key need an mqtts:// broker URL")]
    TlsOptionsWithoutTls,
    #[error("TLS setup: {0}")]
    Rustls(String),
}

/// Why the broker password file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the broker password file {}: {io}", path.display())]
pub struct PasswordFileError {
    pub path: PathBuf,
    pub io: std::io::Error,
}

/// The broker password kept in `path`: its first line, trailing whitespace
/// trimmed (an editor's line end is not part of it; leading spaces are).
pub fn read_password_file(path: &Path) -> Result<String, PasswordFileError> {
    let text = std::fs::read_to_string(path).map_err(|io| PasswordFileError { path: path.to_owned(), io })?;
    Ok(text.lines().next().unwrap_or_default().trim_end().to_owned())
}

/// The broker login and TLS flags, the same for the agent and the console
/// (each adds `--broker` and `--fleet` with its own help: the agent joins
/// the broker, the console finds agents through it).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BrokerLoginArgs {
    /// User name for the broker.
    #[arg(long, value_name = "USER", requires = "broker")]
    pub broker_user: Option<String>,
    /// File holding the broker password (its first line).
    #[arg(long, value_name = "PATH", requires = "broker_user")]
    pub broker_password_file: Option<PathBuf>,
    /// The broker's CA certificate (PEM), for an mqtts:// broker.
    #[arg(long, value_name = "PATH", requires = "broker")]
    pub broker_ca: Option<PathBuf>,
    /// A client certificate (PEM) to log in to the broker with.
    #[arg(long, value_name = "PATH", requires_all = ["broker_ca", "broker_key"])]
    pub broker_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "PATH", requires = "broker_cert")]
    pub broker_key: Option<PathBuf>,
}

impl BrokerLoginArgs {
    /// The password `--broker-password-file` names, `None` without it.
    pub fn password(&self) -> Result<Option<String>, PasswordFileError> {
        self.broker_password_file.as_deref().map(read_password_file).transpose()
    }

    /// The TLS config the flags name for `addr` (see [`tls_for`]).
    pub fn tls(&self, addr: &BrokerAddr) -> Result<Option<BrokerTlsConfig>, BrokerTlsError> {
        tls_for(addr, self.broker_ca.as_deref(), self.broker_cert.as_deref(), self.broker_key.as_deref())
    }
}

/// A ready client config. Compared by identity (two configs are the same
/// only when they are one), so broker settings holding one stay comparable.
#[derive(Debug, Clone)]
pub struct BrokerTlsConfig(pub Arc<rustls::ClientConfig>);

impl PartialEq for BrokerTlsConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for BrokerTlsConfig {}

fn read_pem(path: &Path) -> Result<Vec<u8>, BrokerTlsError> {
    let read = |source| BrokerTlsError::Read { path: path.to_owned(), source };
    let len = std::fs::metadata(path).map_err(read)?.len();
    if len > MAX_PEM_BYTES {
        return Err(BrokerTlsError::TooLarge { path: path.to_owned() });
    }
    std::fs::read(path).map_err(read)
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, BrokerTlsError> {
    let pem = read_pem(path)?;
    let bad = |reason: String| BrokerTlsError::Pem { path: path.to_owned(), reason };
    let certs = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// A client config trusting `ca` (PEM, one or more certificates), with the
/// client certificate chain and key `client` when given.
pub fn broker_tls_config(ca: &Path, client: Option<(&Path, &Path)>) -> Result<BrokerTlsConfig, BrokerTlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs(ca)? {
        roots.add(cert).map_err(|e| BrokerTlsError::Pem { path: ca.to_owned(), reason: e.to_string() })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BrokerTlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certs(cert)?;
            let pem = read_pem(key)?;
            let key_der = PrivateKeyDer::from_pem_slice(&pem)
                .map_err(|e| BrokerTlsError::Pem { path: key.to_owned(), reason: e.to_string() })?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| BrokerTlsError::Rustls(e.to_string()))?
        }
    };
    Ok(BrokerTlsConfig(Arc::new(config)))
}

/// The config the `--broker-ca/--broker-cert/--broker-key` flags name for
/// `addr`: `None` for `mqtt://` without them; refused when they do not go
/// together (mqtts without a CA, a certificate without its key, TLS files
/// for a plain `mqtt://` broker).
pub fn tls_for(
    addr: &BrokerAddr,
    ca: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Option<BrokerTlsConfig>, BrokerTlsError> {
    let client = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err(BrokerTlsError::HalfClientAuth),
    };
    match (addr.tls, ca) {
        (true, Some(ca)) => broker_tls_config(ca, client).map(Some),
        (true, None) => Err(BrokerTlsError::MissingCa),
        (false, None) if client.is_none() => Ok(None),
        (false, _) => Err(BrokerTlsError::TlsOptionsWithoutTls),
    }
}

/// Turn off Nagle's algorithm on a broker connection: commands and replies
/// are small messages each waited for, which Nagle plus delayed ACKs hold
/// back by tens of milliseconds per hop (measured: 88 ms per command round
/// trip through a local Mosquitto, 14 ms without).
pub fn no_delay(events: &mut rumqttc::EventLoop) {
    let mut net = events.network_options();
    net.set_tcp_nodelay(true);
    events.set_network_options(net);
}

/// How to reach `addr`: plain TCP, or TLS with `tls` (an `mqtts://`
/// broker without a config cannot be reached: [`BrokerTlsError::MissingCa`]).
pub fn transport(addr: &BrokerAddr, tls: Option<&BrokerTlsConfig>) -> Result<Transport, BrokerTlsError> {
    match (addr.tls, tls) {
        (false, None) => Ok(Transport::Tcp),
        (true, Some(c)) => Ok(Transport::tls_with_config(TlsConfiguration::Rustls(c.0.clone()))),
        (true, None) => Err(BrokerTlsError::MissingCa),
        (false, Some(_)) => Err(BrokerTlsError::TlsOptionsWithoutTls),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_that_do_not_go_together_are_refused_with_the_reason() {
        let plain: BrokerAddr = "mqtt://127.0.0.1:1883".parse().unwrap();
        let tls: BrokerAddr = "mqtts://127.0.0.1".parse().unwrap();
        assert!(matches!(tls_for(&plain, None, None, None), Ok(None)));
        assert!(matches!(tls_for(&tls, None, None, None), Err(BrokerTlsError::MissingCa)));
        let p = Path::new("/nonexistent/ca.pem");
        assert!(matches!(tls_for(&plain, Some(p), None, None), Err(BrokerTlsError::TlsOptionsWithoutTls)));
        assert!(matches!(tls_for(&tls, Some(p), Some(p), None), Err(BrokerTlsError::HalfClientAuth)));
        assert!(matches!(tls_for(&tls, Some(p), None, None), Err(BrokerTlsError::Read { .. })));
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let e = tls_for(&tls, Some(&junk), None, None).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        assert!(matches!(transport(&tls, None), Err(BrokerTlsError::MissingCa)));
        assert!(matches!(transport(&plain, None), Ok(Transport::Tcp)));
    }

    #[test]
    fn the_password_is_the_first_line_without_its_trailing_whitespace() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, " s3cret \t\r\nsecond line\n").unwrap();
        assert_eq!(read_password_file(&pw).unwrap(), " s3cret");
        std::fs::write(&pw, "").unwrap();
        assert_eq!(read_password_file(&pw).unwrap(), "");
        let missing = dir.path().join("missing");
        let e = read_password_file(&missing).unwrap_err();
        assert!(e.to_string().starts_with(&format!("cannot read the broker password file {}: ", missing.display())));
        let login = BrokerLoginArgs { broker_password_file: Some(pw), ..Default::default() };
        assert_eq!(login.password().unwrap().as_deref(), Some(""));
        assert_eq!(BrokerLoginArgs::default().password().unwrap(), None);
    }
}
