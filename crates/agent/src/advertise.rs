//! mDNS advertisement of `_edgefleet._tcp.local.` with the device's TXT
//! record, and the goodbye on graceful shutdown.
//!
//! One [`MdnsDaemon`] (one mdns-sd thread and socket set) can carry many
//! agents: a simulated fleet of 200 shares one.

use crate::error::AgentError;
use edgefleet_core::Device;
use edgefleet_core::wire::{API_VERSION, SERVICE_TYPE, runtime_txt, txt};
use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// How long a goodbye or shutdown may take before we stop waiting.
const MDNS_ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// The daemon's command queue holds 100 commands; a fleet registering or
/// leaving all at once fills it, and mdns-sd then answers `Again`.
const QUEUE_FULL_RETRIES: u32 = 400;
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(5);

/// Run a daemon command, waiting while its queue is full.
async fn retry_when_full<T>(mut command: impl FnMut() -> mdns_sd::Result<T>) -> mdns_sd::Result<T> {
    let mut tries = 0;
    loop {
        match command() {
            Err(mdns_sd::Error::Again) if tries < QUEUE_FULL_RETRIES => {
                tries += 1;
                tokio::time::sleep(QUEUE_FULL_PAUSE).await;
            }
            other => return other,
        }
    }
}

/// A running mdns-sd daemon restricted to the chosen interfaces.
#[derive(Clone)]
pub struct MdnsDaemon {
    daemon: ServiceDaemon,
}

impl std::fmt::Debug for MdnsDaemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MdnsDaemon")
    }
}

fn mdns_err(e: impl std::fmt::Display) -> AgentError {
    AgentError::Mdns(e.to_string())
}

impl MdnsDaemon {
    /// Start a daemon on `interfaces` (names such as `lo`); empty = all.
    pub fn new(interfaces: &[String]) -> Result<Self, AgentError> {
        let daemon = ServiceDaemon::new().map_err(mdns_err)?;
        if !interfaces.is_empty() {
            daemon.disable_interface(IfKind::All).map_err(mdns_err)?;
            for name in interfaces {
                daemon.enable_interface(name.as_str()).map_err(mdns_err)?;
            }
        }
        Ok(MdnsDaemon { daemon })
    }

    /// Register `device` as reachable at `ip:port`. An unspecified `ip`
    /// (0.0.0.0) advertises every address of the enabled interfaces.
    pub async fn advertise(&self, device: &Device, ip: IpAddr, port: u16) -> Result<Advertisement, AgentError> {
        let host = format!("{}.local.", device.device_id);
        let props = txt_properties(device);
        let info = if ip.is_unspecified() {
            ServiceInfo::new(SERVICE_TYPE, &device.device_id, &host, "", port, props).map(ServiceInfo::enable_addr_auto)
        } else {
            ServiceInfo::new(SERVICE_TYPE, &device.device_id, &host, ip, port, props)
        }
        .map_err(mdns_err)?;
        let fullname = info.get_fullname().to_owned();
        retry_when_full(|| self.daemon.register(info.clone())).await.map_err(mdns_err)?;
        Ok(Advertisement { daemon: self.daemon.clone(), fullname })
    }

    /// Stop the daemon; records still registered get their goodbye.
    pub async fn shutdown(&self) {
        let daemon = self.daemon.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(rx) = daemon.shutdown() {
                let _ = rx.recv_timeout(MDNS_ACK_TIMEOUT);
            }
        })
        .await;
    }

    /// Stop the daemon without goodbyes, as a crash would: interfaces are
    /// dropped first so the shutdown has nowhere to send them.
    pub fn silence(&self) {
        let _ = self.daemon.disable_interface(IfKind::All);
        let _ = self.daemon.shutdown();
    }
}

/// One registered record; [`Advertisement::withdraw`] says goodbye.
pub struct Advertisement {
    daemon: ServiceDaemon,
    fullname: String,
}

impl std::fmt::Debug for Advertisement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advertisement").field("fullname", &self.fullname).finish()
    }
}

impl Advertisement {
    /// The instance's full mDNS name (`<device_id>._edgefleet._tcp.local.`).
    pub fn fullname(&self) -> &str {
        &self.fullname
    }

    /// Unregister (goodbye packets) and wait for the daemon to confirm.
    pub async fn withdraw(self) {
        match retry_when_full(|| self.daemon.unregister(&self.fullname)).await {
            Ok(rx) => {
                let _ = tokio::task::spawn_blocking(move || rx.recv_timeout(MDNS_ACK_TIMEOUT)).await;
            }
            Err(e) => tracing::warn!("mDNS unregister of {} failed: {e}", self.fullname),
        }
    }
}

/// The TXT keys (see docs/design.md, "mDNS TXT record"); each value is kept under 200 bytes.
pub fn txt_properties(device: &Device) -> HashMap<String, String> {
    let mut p = HashMap::new();
    let mut put = |k: &str, v: String| {
        let mut v = v;
        if v.len() > 199 {
            let mut cut = 199;
            while !v.is_char_boundary(cut) {
                cut -= 1;
            }
            v.truncate(cut);
        }
        p.insert(k.to_owned(), v);
    };
    put(txt::ID, device.device_id.clone());
    put(txt::TYPE, device.device_type.as_str().to_owned());
    put(txt::CORES, device.cpu_cores.to_string());
    put(txt::MEM_MB, device.memory_mb.to_string());
    put(txt::STORAGE_GB, format!("{:.1}", device.storage_gb));
    put(txt::BW_MBPS, format!("{:.1}", device.network_bandwidth_mbps));
    if let Some(loc) = device.location {
        put(txt::LAT, format!("{:.5}", loc.latitude));
        put(txt::LON, format!("{:.5}", loc.longitude));
    }
    if let Some(mah) = device.battery_capacity_mah {
        put(txt::BATTERY_MAH, mah.to_string());
    }
    put(txt::API, API_VERSION.to_owned());
    put(txt::VER, env!("CARGO_PKG_VERSION").to_owned());
    put(txt::SIM, if device.simulated { "1" } else { "0" }.to_owned());
    if let Some(fp) = &device.key_fingerprint {
        put(txt::FINGERPRINT, crate::device_key::short_fingerprint(fp));
    }
    if let Some(runtime) = &device.runtime {
        put(txt::RUNTIME, runtime_txt(runtime));
    }
    if let Some(name) = &device.name {
        put(txt::NAME, name.clone());
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefleet_core::DeviceType;

    #[test]
    fn txt_has_design_keys_and_short_values() {
        let mut d = Device::new("cam-1", DeviceType::SmartCamera, 4, 2048, 32.0);
        d.name = Some("x".repeat(500));
        d.location = Some(edgefleet_core::Location { latitude: 48.8566, longitude: 2.3522 });
        let p = txt_properties(&d);
        assert_eq!(p["id"], "cam-1");
        assert_eq!(p["type"], "smart_camera");
        assert_eq!(p["cores"], "4");
        assert_eq!(p["mem_mb"], "2048");
        assert_eq!(p["lat"], "48.85660");
        assert_eq!(p["api"], "v1");
        assert!(!p.contains_key("battery_mah"));
        assert!(p.values().all(|v| v.len() < 200));
    }
}
