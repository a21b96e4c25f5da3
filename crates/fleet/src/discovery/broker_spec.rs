//! Which broker and fleet the console watches, how it logs in, and where
//! it serves model files for the devices there to pull: one value the
//! watch ([`super::mqtt::BrokerWatch`]), the command link
//! ([`crate::broker_link`]) and the CLI share.

use crate::error::{FleetError, Result};
use edgefleet_agent::broker_tls::{self, BrokerTlsConfig};
use edgefleet_core::mqtt_wire::{self, BrokerAddr, MAX_PAYLOAD_BYTES};
use rumqttc::MqttOptions;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Which broker and fleet to watch, and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSpec {
    pub addr: BrokerAddr,
    pub fleet: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Where the console serves model files for devices on the broker to
    /// pull during a rollout: an address they reach (port 0 = any free one).
    pub serve_models_on: SocketAddr,
    /// This console's id in the fleet: its rollout reports go out under it
    /// (`edgefleet/v1/{fleet}/console/{console_id}/rollout`) and other
    /// consoles record them as "by console {console_id}".
    pub console_id: String,
    /// TLS for an `mqtts://` broker: its CA, and a client certificate when
    /// it logs consoles in by certificate.
    pub tls: Option<BrokerTlsConfig>,
}

impl BrokerSpec {
    /// `url` is `mqtt://HOST[:PORT]`; the fleet name is checked here. An
    /// `mqtts://` URL needs [`BrokerSpec::with_tls`].
    pub fn new(url: &str, fleet: &str) -> Result<BrokerSpec> {
        BrokerSpec::with_tls(url, fleet, None)
    }

    /// `url` is `mqtt://HOST[:PORT]`, or `mqtts://HOST[:PORT]` with `tls`
    /// (the broker's CA, a client certificate); they must go together.
    pub fn with_tls(url: &str, fleet: &str, tls: Option<BrokerTlsConfig>) -> Result<BrokerSpec> {
        let addr: BrokerAddr =
            url.parse().map_err(|e: mqtt_wire::MqttWireError| FleetError::BadInput(e.to_string()))?;
        mqtt_wire::check_fleet(fleet).map_err(|e| FleetError::BadInput(e.to_string()))?;
        broker_tls::transport(&addr, tls.as_ref()).map_err(|e| FleetError::BadInput(e.to_string()))?;
        let serve_models_on = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let console_id = format!("console-{:012x}", fastrand::u64(..) >> 16);
        let fleet = fleet.to_owned();
        Ok(BrokerSpec { addr, fleet, username: None, password: None, serve_models_on, console_id, tls })
    }

    /// Log in as `user` (with `password`). A user name that can be a topic
    /// level also becomes this console's id, so a broker ACL can let each
    /// console write only its own rollout reports
    /// (`edgefleet/v1/+/console/USER/rollout`).
    pub fn login(mut self, user: &str, password: Option<String>) -> Self {
        if mqtt_wire::rollout_topic(&self.fleet, user).is_ok() {
            self.console_id = user.to_owned();
        }
        self.username = Some(user.to_owned());
        self.password = password;
        self
    }

    pub(crate) fn options(&self, role: &str) -> MqttOptions {
        let id = format!("edgefleet-{role}-{:016x}", fastrand::u64(..));
        let mut opts = MqttOptions::new(id, &self.addr.host, self.addr.port);
        // Checked when the spec was made; fields changed since fall back
        // to plain TCP, which a TLS broker then refuses (and says so).
        match broker_tls::transport(&self.addr, self.tls.as_ref()) {
            Ok(t) => {
                opts.set_transport(t);
            }
            Err(e) => tracing::warn!("broker {}: {e}", self.addr),
        }
        opts.set_keep_alive(KEEP_ALIVE);
        opts.set_max_packet_size(MAX_PAYLOAD_BYTES + 1024, MAX_PAYLOAD_BYTES + 1024);
        if let Some(user) = &self.username {
            opts.set_credentials(user.clone(), self.password.clone().unwrap_or_default());
        }
        opts
    }

    pub(crate) fn error(&self, reason: impl Into<String>) -> FleetError {
        FleetError::Broker { broker: self.addr.to_string(), reason: reason.into() }
    }
}
