//! The MQTT broker settings: URL, fleet, user and password file, and for
//! an `mqtts://` broker its CA file and an optional client certificate and
//! key (the CLI's `--broker-ca/--broker-cert/--broker-key`), saved
//! with the app's state and turned into the engine's [`BrokerSpec`] (the
//! panel that edits them: `broker_settings_panel`).

use edgefleet_agent::broker_tls::{read_password_file, tls_for};
use edgefleet_core::mqtt_wire::BrokerAddr;
use edgefleet_fleet::discovery::mqtt::BrokerSpec;

/// The broker fields as saved (empty URL: no broker).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct BrokerSettings {
    pub url: String,
    pub fleet_name: String,
    pub user: String,
    pub password_file: String,
    /// PEM files for `mqtts://` (empty: none).
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
}

impl BrokerSettings {
    /// The broker these settings name: `Ok(None)` for none (empty URL), an
    /// error in words for a bad URL or fleet or an unreadable password file.
    pub fn spec(&self) -> Result<Option<BrokerSpec>, String> {
        let url = self.url.trim();
        if url.is_empty() {
            return Ok(None);
        }
        let fleet = self.fleet_name.trim();
        if fleet.is_empty() {
            return Err("a broker needs a fleet name".into());
        }
        let addr: BrokerAddr = url.parse().map_err(|e: edgefleet_core::mqtt_wire::MqttWireError| e.to_string())?;
        let file = |f: &str| Some(std::path::PathBuf::from(f.trim())).filter(|p| !p.as_os_str().is_empty());
        let (ca, cert, key) = (file(&self.ca_file), file(&self.cert_file), file(&self.key_file));
        let tls =
            tls_for(&addr, ca.as_deref(), cert.as_deref(), key.as_deref()).map_err(|e| format!("broker TLS: {e}"))?;
        let mut spec = BrokerSpec::with_tls(url, fleet, tls).map_err(|e| e.to_string())?;
        let user = self.user.trim();
        if !user.is_empty() {
            let file = self.password_file.trim();
            let password = if file.is_empty() {
                None
            } else {
                Some(read_password_file(std::path::Path::new(file)).map_err(|e| e.to_string())?)
            };
            spec = spec.login(user, password);
        }
        Ok(Some(spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_a_broker_or_none_and_refuse_bad_ones() {
        assert_eq!(BrokerSettings::default().spec(), Ok(None));
        let s =
            BrokerSettings { url: "mqtt://127.0.0.1:1883".into(), fleet_name: "site-a".into(), ..Default::default() };
        let spec = s.spec().unwrap().unwrap();
        assert_eq!((spec.addr.port, spec.fleet.as_str(), spec.username), (1883, "site-a", None));
        assert!(BrokerSettings { fleet_name: String::new(), ..s.clone() }.spec().is_err());
        assert!(BrokerSettings { fleet_name: "a/b".into(), ..s.clone() }.spec().is_err());
        let missing = BrokerSettings { user: "u".into(), password_file: "/nonexistent/pw".into(), ..s.clone() };
        assert!(missing.spec().unwrap_err().contains("password file"));
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "secret\n").unwrap();
        let with = BrokerSettings { user: "u".into(), password_file: pw.display().to_string(), ..s };
        let spec = with.spec().unwrap().unwrap();
        assert_eq!((spec.username.as_deref(), spec.password.as_deref()), (Some("u"), Some("secret")));
        assert_eq!(spec.console_id, "u", "the login names the console (its rollout reports' topic)");
        let tls = BrokerSettings { url: "mqtts://127.0.0.1".into(), ..with.clone() };
        assert!(tls.spec().unwrap_err().contains("CA certificate"), "mqtts needs a CA");
        let junk = BrokerSettings { ca_file: pw.display().to_string(), ..tls };
        assert!(junk.spec().unwrap_err().contains("no PEM certificate"), "a CA file that is not one is refused");
        let plain_with_ca = BrokerSettings { ca_file: pw.display().to_string(), ..with };
        assert!(plain_with_ca.spec().unwrap_err().contains("mqtts://"));
    }
}
