//! A one-shot scan: browse mDNS for a while and/or sweep a range, then
//! confirm every candidate over HTTP. Used by `edgefleet scan` and by the
//! engine's Sweep command. Each device is confirmed independently, so an
//! unreachable or misbehaving one is reported, never fatal.

use crate::client::AgentClient;
use crate::discovery::{BrowseEvent, Browser};
use crate::error::{FleetError, Result};
use crate::sweep::{SweepSpec, sweep};
use edgefleet_core::{Device, DeviceStatus};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

/// Where a device was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Mdns,
    Sweep,
    Manual,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Mdns => "mdns",
            Source::Sweep => "sweep",
            Source::Manual => "manual",
        }
    }
}

/// One device a scan found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    pub device: Device,
    pub addr: SocketAddr,
    pub source: Source,
    /// True when `/v1/info` answered with our token (the numbers are live).
    pub confirmed: bool,
    /// False when the agent refused our token (or we have none).
    pub paired: bool,
    /// Why it could not be confirmed, if it could not.
    pub problem: Option<String>,
}

/// What to scan.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Use mDNS on these interfaces (all when empty) — unless `mdns` is false.
    pub interfaces: Vec<String>,
    pub mdns: bool,
    pub timeout: Duration,
    pub sweep: Option<SweepSpec>,
    /// Tokens by device id (from pairing).
    pub tokens: HashMap<String, String>,
    /// Token for devices with none stored.
    pub default_token: Option<String>,
}

impl ScanOptions {
    pub fn token_for(&self, device_id: &str) -> Option<String> {
        self.tokens.get(device_id).cloned().or_else(|| self.default_token.clone())
    }
}

/// Confirm one address: `/v1/health`, then `/v1/info` with the token.
/// `advertised` is the TXT description when there is one.
pub async fn confirm(
    http: &reqwest::Client,
    addr: SocketAddr,
    advertised: Option<Device>,
    source: Source,
    token_for: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Found> {
    let probe = AgentClient::new(http.clone(), addr, None);
    let health = probe.health().await;
    let token = advertised.as_ref().and_then(|d| token_for(&d.device_id)).or_else(|| token_for(""));
    let client = AgentClient::new(http.clone(), addr, token.clone());
    match (health, client.info().await) {
        (_, Ok(info)) => {
            let mut device = info.device;
            device.status = DeviceStatus::Online;
            device.last_heartbeat_ms = Some(crate::liveness::now_ms());
            Ok(Found { device, addr, source, confirmed: true, paired: true, problem: None })
        }
        (Ok(_), Err(e)) if e.status() == Some(401) => {
            let Some(mut device) = advertised else {
                return Err(FleetError::BadInput(format!(
                    "an agent answers at {addr} but refuses {}; pair it with --token",
                    if token.is_some() { "the token given" } else { "requests without a token" }
                )));
            };
            device.status = DeviceStatus::Online;
            device.last_heartbeat_ms = Some(crate::liveness::now_ms());
            let problem = Some(if token.is_some() {
                "the token was refused".to_owned()
            } else {
                "not paired: no token".to_owned()
            });
            Ok(Found { device, addr, source, confirmed: false, paired: false, problem })
        }
        (health, Err(e)) => {
            let Some(mut device) = advertised else { return Err(e) };
            device.status = if health.is_ok() { DeviceStatus::Stale } else { DeviceStatus::Offline };
            Ok(Found { device, addr, source, confirmed: false, paired: token.is_some(), problem: Some(e.to_string()) })
        }
    }
}

/// How many candidates are confirmed at once.
const CONFIRM_CONCURRENCY: usize = 64;

/// Confirm many candidates concurrently (see [`confirm`]); each result is
/// paired with its address, so one failure never hides the others.
pub async fn confirm_all(
    http: &reqwest::Client,
    candidates: impl IntoIterator<Item = (SocketAddr, Option<Device>, Source)>,
    token_for: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Vec<(SocketAddr, Result<Found>)> {
    futures_util::stream::iter(candidates)
        .map(|(addr, adv, source)| async move { (addr, confirm(http, addr, adv, source, token_for).await) })
        .buffer_unordered(CONFIRM_CONCURRENCY)
        .collect()
        .await
}

/// Run a scan. Problems with single devices are in their `problem`; the
/// returned error is only for a scan that could not run at all.
pub async fn scan(http: &reqwest::Client, opts: &ScanOptions) -> Result<Vec<Found>> {
    let mut candidates: BTreeMap<SocketAddr, (Option<Device>, Source)> = BTreeMap::new();
    let sweep_task = opts.sweep.as_ref().map(|spec| {
        let http = http.clone();
        let spec = spec.clone();
        tokio::spawn(async move { sweep(&http, &spec, Duration::from_millis(800), 128).await })
    });
    if opts.mdns {
        let browser = Browser::start(&opts.interfaces)?;
        let deadline = tokio::time::Instant::now() + opts.timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match browser.next(left).await {
                Ok(Some(BrowseEvent::Resolved(d))) => {
                    candidates.insert(d.addr, (Some(d.device.clone()), Source::Mdns));
                }
                Ok(Some(BrowseEvent::Removed { .. })) => {}
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("mDNS browse stopped early: {e}");
                    break;
                }
            }
        }
        browser.shutdown();
    }
    if let Some(task) = sweep_task {
        for addr in task.await.unwrap_or_default() {
            candidates.entry(addr).or_insert((None, Source::Sweep));
        }
    }
    let token_for = |id: &str| opts.token_for(id);
    let candidates = candidates.into_iter().map(|(addr, (adv, source))| (addr, adv, source));
    let mut found = Vec::new();
    for (addr, result) in confirm_all(http, candidates, &token_for).await {
        match result {
            Ok(f) => found.push(f),
            Err(e) => tracing::warn!("{addr}: {e}"),
        }
    }
    // One record per device id: mDNS may report a device on several addresses.
    let mut by_id: BTreeMap<String, Found> = BTreeMap::new();
    for f in found {
        match by_id.get(&f.device.device_id) {
            Some(prev) if prev.confirmed && !f.confirmed => {}
            _ => {
                by_id.insert(f.device.device_id.clone(), f);
            }
        }
    }
    Ok(by_id.into_values().collect())
}
