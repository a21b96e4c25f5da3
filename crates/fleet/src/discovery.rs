//! mDNS discovery of agents (`_edgefleet._tcp.local.`): a continuous
//! mdns-sd browse, started together with a burst of one-shot queries
//! ([`one_shot`]) that every agent present answers at once by unicast — so
//! the first devices arrive in one round trip even when another console
//! asked a moment ago.
//!
//! A resolved record becomes a [`Discovered`] device built from its TXT
//! keys; the caller confirms it over HTTP. A record with bad TXT is skipped
//! with a warning — one bad device never stops the browse.

pub mod broker_spec;
pub mod mqtt;
pub mod one_shot;

use crate::error::{FleetError, Result};
use edgefleet_core::wire::{self, txt};
use edgefleet_core::{Device, DeviceType, Location};
use edgefleet_optimize::RuntimeKind;
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A device as advertised: its description from TXT and where to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    pub device: Device,
    pub addr: SocketAddr,
    /// The mDNS instance full name, used to match a later goodbye.
    pub fullname: String,
}

/// What the browser reports.
#[derive(Debug, Clone, PartialEq)]
pub enum BrowseEvent {
    Resolved(Box<Discovered>),
    /// A goodbye: the device with this id left.
    Removed {
        device_id: String,
    },
}

/// Start an mDNS daemon restricted to the given interfaces (all when empty).
pub fn daemon_on(interfaces: &[String]) -> Result<ServiceDaemon> {
    let mdns = |e: mdns_sd::Error| FleetError::Mdns(e.to_string());
    let daemon = ServiceDaemon::new().map_err(mdns)?;
    if !interfaces.is_empty() {
        daemon.disable_interface(IfKind::All).map_err(mdns)?;
        for name in interfaces {
            daemon.enable_interface(name.as_str()).map_err(mdns)?;
        }
    }
    Ok(daemon)
}

/// The device id an instance full name (`{id}._edgefleet._tcp.local.`) names.
pub fn device_id_of(fullname: &str) -> Option<&str> {
    fullname.strip_suffix(wire::SERVICE_TYPE).and_then(|s| s.strip_suffix('.')).filter(|s| !s.is_empty())
}

/// Build a device from TXT key/values. Fails on a missing or bad key.
pub fn device_from_txt(props: &HashMap<String, String>) -> Result<Device> {
    let get = |k: &str| {
        props.get(k).map(String::as_str).ok_or_else(|| FleetError::BadInput(format!("TXT key `{k}` is missing")))
    };
    fn num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T> {
        v.parse().map_err(|_| FleetError::BadInput(format!("TXT key `{k}` is not a number: `{v}`")))
    }
    let api = get(txt::API)?;
    if api != wire::API_VERSION {
        return Err(FleetError::BadInput(format!("API `{api}` is not {}", wire::API_VERSION)));
    }
    let device_type: DeviceType =
        get(txt::TYPE)?.parse().map_err(|e: edgefleet_core::DeviceError| FleetError::BadInput(e.to_string()))?;
    let mut device = Device::new(
        get(txt::ID)?,
        device_type,
        num(txt::CORES, get(txt::CORES)?)?,
        num(txt::MEM_MB, get(txt::MEM_MB)?)?,
        num(txt::STORAGE_GB, get(txt::STORAGE_GB)?)?,
    );
    if let Ok(bw) = get(txt::BW_MBPS) {
        device.network_bandwidth_mbps = num(txt::BW_MBPS, bw)?;
    }
    if let (Ok(lat), Ok(lon)) = (get(txt::LAT), get(txt::LON)) {
        device.location = Some(Location { latitude: num(txt::LAT, lat)?, longitude: num(txt::LON, lon)? });
    }
    if let Ok(b) = get(txt::BATTERY_MAH) {
        device.battery_capacity_mah = Some(num(txt::BATTERY_MAH, b)?);
    }
    device.name = props.get(txt::NAME).filter(|n| !n.is_empty()).cloned();
    device.simulated = props.get(txt::SIM).is_some_and(|v| v == "1" || v == "true");
    // Only a short form: compared with a pinned key before any token is sent.
    device.key_fingerprint = props.get(txt::FINGERPRINT).filter(|v| !v.is_empty()).cloned();
    // The runtime decides which ops the device runs (the full list comes with /v1/info).
    if let Some(rt) = props.get(txt::RUNTIME).filter(|v| !v.is_empty()) {
        device.runtime = Some(wire::runtime_from_txt(rt));
        device.runtime_ops = RuntimeKind::of_device(Some(rt)).map(RuntimeKind::ops);
    }
    device.validate().map_err(|e| FleetError::BadInput(e.to_string()))?;
    Ok(device)
}

/// A running browse for agents.
pub struct Browser {
    daemon: ServiceDaemon,
    events: mdns_sd::Receiver<ServiceEvent>,
    /// Agents answering the one-shot queries; closed once those are over.
    quick: tokio::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Discovered>>>,
}

impl Browser {
    /// Browse on the given interfaces (all when empty).
    pub fn start(interfaces: &[String]) -> Result<Browser> {
        let daemon = daemon_on(interfaces)?;
        let events = daemon.browse(wire::SERVICE_TYPE).map_err(|e| FleetError::Mdns(e.to_string()))?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        // Without the quick answers the browse still finds everyone, a little later.
        if let Err(e) = one_shot::spawn(interfaces, move |d| tx.send(d).is_ok()) {
            tracing::warn!("one-shot mDNS query not started: {e}");
        }
        Ok(Browser { daemon, events, quick: tokio::sync::Mutex::new(Some(rx)) })
    }

    /// The next one-shot answer, or never once they are over.
    async fn next_quick(&self) -> Discovered {
        let mut quick = self.quick.lock().await;
        if let Some(rx) = quick.as_mut() {
            match rx.recv().await {
                Some(d) => return d,
                None => *quick = None,
            }
        }
        drop(quick);
        std::future::pending().await
    }

    /// The next useful event, waiting up to `timeout`; `Ok(None)` on timeout.
    /// Malformed records are logged and skipped.
    pub async fn next(&self, timeout: Duration) -> Result<Option<BrowseEvent>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let event = tokio::select! {
                d = self.next_quick() => return Ok(Some(BrowseEvent::Resolved(Box::new(d)))),
                e = tokio::time::timeout_at(deadline, self.events.recv_async()) => e,
            };
            let event = match event {
                Err(_) => return Ok(None),
                Ok(Err(_)) => return Err(FleetError::Mdns("the mDNS daemon stopped".into())),
                Ok(Ok(e)) => e,
            };
            match event {
                ServiceEvent::ServiceResolved(svc) => {
                    let props: HashMap<String, String> =
                        svc.txt_properties.iter().map(|p| (p.key().to_owned(), p.val_str().to_owned())).collect();
                    let device = match device_from_txt(&props) {
                        Ok(d) => d,
                        Err(e) => {
                            tracing::warn!("skipping mDNS record {}: {e}", svc.fullname);
                            continue;
                        }
                    };
                    // Prefer IPv4 loopback/LAN addresses; any address will do.
                    let mut addrs: Vec<IpAddr> = svc.addresses.iter().map(|a| a.to_ip_addr()).collect();
                    addrs.sort_by_key(|a| (!a.is_ipv4(), *a));
                    let Some(ip) = addrs.first().copied() else {
                        tracing::warn!("skipping mDNS record {}: no address", svc.fullname);
                        continue;
                    };
                    return Ok(Some(BrowseEvent::Resolved(Box::new(Discovered {
                        device,
                        addr: SocketAddr::new(ip, svc.port),
                        fullname: svc.fullname.clone(),
                    }))));
                }
                ServiceEvent::ServiceRemoved(_, fullname) => {
                    if let Some(id) = device_id_of(&fullname) {
                        return Ok(Some(BrowseEvent::Removed { device_id: id.to_owned() }));
                    }
                }
                _ => {}
            }
        }
    }

    /// Stop browsing and shut the daemon down.
    pub fn shutdown(self) {
        let _ = self.daemon.stop_browse(wire::SERVICE_TYPE);
        // The daemon thread exits on its own once told; its status is not needed.
        let _ = self.daemon.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props() -> HashMap<String, String> {
        [
            ("id", "cam-1"),
            ("type", "smart_camera"),
            ("cores", "4"),
            ("mem_mb", "2048"),
            ("storage_gb", "32"),
            ("bw_mbps", "100"),
            ("lat", "48.8"),
            ("lon", "2.3"),
            ("api", "v1"),
            ("ver", "0.1.0"),
            ("sim", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn txt_becomes_a_device() {
        let d = device_from_txt(&props()).unwrap();
        assert_eq!(d.device_id, "cam-1");
        assert_eq!(d.device_type, DeviceType::SmartCamera);
        assert_eq!(d.memory_mb, 2048);
        assert!(d.simulated);
        assert_eq!(d.location.unwrap().latitude, 48.8);
    }

    #[test]
    fn the_runtime_key_brings_its_op_set() {
        let d = device_from_txt(&props()).unwrap();
        assert_eq!((d.runtime, d.runtime_ops), (None, None), "older agents: the default runtime");
        let mut p = props();
        p.insert("rt".into(), "ort-1.32".into());
        let d = device_from_txt(&p).unwrap();
        assert_eq!(d.runtime.as_deref(), Some("ort 1.32"));
        assert!(d.runtime_ops.unwrap().iter().any(|o| o == "com.microsoft:QLinearAdd"));
    }

    #[test]
    fn bad_txt_is_an_error_not_a_panic() {
        let mut p = props();
        p.insert("cores".into(), "many".into());
        assert!(device_from_txt(&p).unwrap_err().to_string().contains("cores"));
        let mut p = props();
        p.remove("id");
        assert!(device_from_txt(&p).is_err());
        let mut p = props();
        p.insert("lat".into(), "200".into());
        assert!(device_from_txt(&p).is_err());
        let mut p = props();
        p.insert("api".into(), "v9".into());
        assert!(device_from_txt(&p).is_err());
    }

    #[test]
    fn fullname_gives_the_id() {
        assert_eq!(device_id_of("cam-1._edgefleet._tcp.local."), Some("cam-1"));
        assert_eq!(device_id_of("x._other._tcp.local."), None);
    }
}
