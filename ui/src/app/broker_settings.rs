//! The MQTT broker settings: URL, fleet, user and password file, saved
//! with the app's state and turned into the engine's [`BrokerSpec`] (the
//! panel that edits them: `broker_settings_panel`).

use edgefleet_fleet::discovery::mqtt::BrokerSpec;

/// The broker fields as saved (empty URL: no broker).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct BrokerSettings {
    pub url: String,
    pub fleet_name: String,
    pub user: String,
    pub password_file: String,
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
        let mut spec = BrokerSpec::new(url, fleet).map_err(|e| e.to_string())?;
        let user = self.user.trim();
        if !user.is_empty() {
            let file = self.password_file.trim();
            let password = if file.is_empty() {
                None
            } else {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read the broker password file {file}: {e}"))?;
                Some(text.lines().next().unwrap_or_default().trim_end().to_owned())
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
    }
}
