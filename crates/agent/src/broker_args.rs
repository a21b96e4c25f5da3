//! The `--broker` flags shared by `edgefleet-agent` and its `simulate`
//! command, and the [`BrokerConfig`] they make.

use anyhow::{Result, bail};
use clap::Args;
use edgefleet_agent::BrokerConfig;
use edgefleet_agent::broker_tls::BrokerLoginArgs;
use edgefleet_core::mqtt_wire::{BrokerAddr, check_fleet};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Also join this MQTT broker (mqtt://HOST[:PORT], or mqtts:// with
    /// --broker-ca): retained state with an "offline" last will,
    /// telemetry, commands.
    #[arg(long, value_name = "mqtt[s]://HOST:PORT", requires = "fleet")]
    pub broker: Option<BrokerAddr>,
    /// The fleet name on the broker (topics edgefleet/v1/FLEET/DEVICE/...).
    #[arg(long, value_name = "NAME", requires = "broker")]
    pub fleet: Option<String>,
    #[command(flatten)]
    pub login: BrokerLoginArgs,
    /// Telemetry is published on the broker this often, ms.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub broker_telemetry_ms: u64,
    /// MQTT keep-alive, s: a device that vanishes without closing its
    /// connection is announced offline (last will) after about 1.5× this.
    #[arg(long, default_value_t = 5, value_name = "S")]
    pub broker_keep_alive_s: u64,
}

impl BrokerArgs {
    /// The broker config, or `None` without `--broker`.
    pub fn config(&self) -> Result<Option<BrokerConfig>> {
        let (Some(addr), Some(fleet)) = (&self.broker, &self.fleet) else { return Ok(None) };
        check_fleet(fleet)?;
        if self.broker_keep_alive_s == 0 || self.broker_telemetry_ms < 100 {
            bail!("--broker-keep-alive-s must be at least 1 and --broker-telemetry-ms at least 100");
        }
        let password = self.login.password()?;
        let tls = self.login.tls(addr)?;
        let mut config = BrokerConfig::new(addr.clone(), fleet.clone());
        config.tls = tls;
        config.username = self.login.broker_user.clone();
        config.password = password;
        config.telemetry_interval = Duration::from_millis(self.broker_telemetry_ms);
        config.keep_alive = Duration::from_secs(self.broker_keep_alive_s);
        Ok(Some(config))
    }
}
