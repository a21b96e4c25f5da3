//! `mqtts://`: Mosquitto's TLS listener with a CA, server and client
//! certificates this test makes (rcgen), `require_certificate` on. An agent
//! and a console that both present a certificate signed by that CA find
//! each other and complete a rollout through the broker; a console without
//! a client certificate, or one that does not trust the CA, is refused with
//! the reason; a plain `mqtt://` URL is not let in either.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed setup step should panic

mod common;
#[path = "../../agent/tests/support/mosquitto.rs"]
mod mosquitto;

use edgefleet_agent::broker_tls::{BrokerTlsConfig, broker_tls_config};
use edgefleet_agent::{AgentConfig, BrokerConfig, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::discovery::mqtt::{BrokerSpec, BrokerWatch, scan_broker};
use edgefleet_fleet::engine::Route;
use edgefleet_fleet::{Directory, RolloutPlan, RolloutRequest, http_client, run_rollout};
use mosquitto::Mosquitto;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const FLEET: &str = "tls-fleet";
const TOKEN: &str = "broker-tls-token-0123";

/// A CA, and certificates it signed, as PEM files in `dir`.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "edgefleet test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |name: &str, sans: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(sans).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.signed_by(&key, &issuer).unwrap();
            std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
        };
        leaf("server", vec!["127.0.0.1".into()]);
        leaf("console", vec![]);
        leaf("tls-cam", vec![]);
        // A second CA nobody trusts.
        let other_key = KeyPair::generate().unwrap();
        let mut other = CertificateParams::new(Vec::<String>::new()).unwrap();
        other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        std::fs::write(dir.join("other-ca.pem"), other.self_signed(&other_key).unwrap().pem()).unwrap();
        Pki { dir: dir.to_owned() }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Trusting `ca`, logging in as `who` (its certificate and key).
    fn client(&self, ca: &str, who: Option<&str>) -> BrokerTlsConfig {
        let (cert, key) = who.map(|w| (self.path(&format!("{w}.pem")), self.path(&format!("{w}.key")))).unzip();
        let client = cert.as_deref().zip(key.as_deref());
        broker_tls_config(&self.path(ca), client).unwrap()
    }
}

#[test]
fn agent_and_console_meet_over_mqtts_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let config = format!(
        "allow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
        pki.path("ca.pem").display(),
        pki.path("server.pem").display(),
        pki.path("server.key").display()
    );
    let Some(broker) = Mosquitto::start_with(&config) else { return };
    let url = format!("mqtts://127.0.0.1:{}", broker.port);
    let rt = tokio::runtime::Runtime::new().unwrap();

    let agent_dir = tempfile::tempdir().unwrap();
    let mut agent_config =
        AgentConfig::new(Device::new("tls-cam", DeviceType::SmartCamera, 2, 1024, 8.0), agent_dir.path());
    agent_config.token = Some(TOKEN.into());
    agent_config.benchmark_duration = Duration::from_millis(10);
    let mut link = BrokerConfig::new(url.parse().unwrap(), FLEET);
    link.tls = Some(pki.client("ca.pem", Some("tls-cam")));
    agent_config.broker = Some(link);
    let agent = rt.block_on(spawn(agent_config)).unwrap();

    rt.block_on(async {
        let spec = BrokerSpec::with_tls(&url, FLEET, Some(pki.client("ca.pem", Some("console")))).unwrap();
        let found = scan_broker(&spec, Duration::from_secs(10), Some(1), &|_| true).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].device.device_id, "tls-cam");

        // A rollout through the TLS broker (the agent pulls over plain HTTP
        // from the console's file server on 127.0.0.1).
        let watch = BrokerWatch::start(&spec, |_| {});
        let mut status = watch.link().subscribe_status();
        tokio::time::timeout(Duration::from_secs(10), status.wait_for(|s| s.is_connected())).await.unwrap().unwrap();
        let directory = Directory::new(http_client().unwrap());
        directory.insert_route("tls-cam", "127.0.0.1:9".parse().unwrap(), Some(TOKEN.into()), Route::Broker);
        directory.set_broker_link(Some(watch.link()));
        let req = RolloutRequest::for_file(common::mlp_path(), vec!["tls-cam".into()], RolloutPlan::default());
        let outcome = run_rollout(common::memory_store(), directory, req, Arc::new(|_| {})).await.unwrap();
        assert_eq!(outcome.state, "done", "{outcome:?}");
        watch.stop();

        // No client certificate, or a CA that did not sign the broker's: refused, with the reason.
        for (what, tls) in [
            ("no client certificate", pki.client("ca.pem", None)),
            ("an untrusted broker certificate", pki.client("other-ca.pem", Some("console"))),
        ] {
            let spec = BrokerSpec::with_tls(&url, FLEET, Some(tls)).unwrap();
            let e = scan_broker(&spec, Duration::from_secs(3), Some(1), &|_| true).await.unwrap_err().to_string();
            eprintln!("{what}: {e}");
            assert!(e.contains("broker mqtts://127.0.0.1"), "{what}: {e}");
        }
        // Plain MQTT to the TLS listener: not a connection either.
        let plain = BrokerSpec::new(&format!("mqtt://127.0.0.1:{}", broker.port), FLEET).unwrap();
        assert!(scan_broker(&plain, Duration::from_secs(3), Some(1), &|_| true).await.is_err());
    });
    rt.block_on(agent.shutdown());
    broker.kill();
}
