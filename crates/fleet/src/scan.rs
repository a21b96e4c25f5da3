//! A one-shot scan: browse mDNS for a while and/or sweep a range, and
//! confirm every candidate over HTTP the moment it is found (confirmations
//! run in parallel with the browse). Used by `edgefleet scan` and by the
//! engine's Sweep command. Each device is confirmed independently, so an
//! unreachable or misbehaving one is reported, never fatal. With an
//! expected count the scan returns as soon as that many devices are
//! confirmed instead of listening for the whole window.
//!
//! Confirming checks keys before tokens: see [`confirm`].

use crate::client::AgentClient;
use crate::discovery::{BrowseEvent, Browser};
use crate::error::{FleetError, Result};
use crate::sweep::{SweepSpec, sweep};
use edgefleet_agent::fingerprints_agree;
use edgefleet_core::wire::Health;
use edgefleet_core::{Device, DeviceStatus};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Where a device was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Mdns,
    Sweep,
    Manual,
    /// Seen through an MQTT broker (its retained state).
    Mqtt,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Mdns => "mdns",
            Source::Sweep => "sweep",
            Source::Manual => "manual",
            Source::Mqtt => "mqtt",
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
    /// When a scan found it: milliseconds from the scan's start until its
    /// confirmation ended (`None` outside a scan).
    pub found_after_ms: Option<u64>,
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
    /// Key fingerprints pinned at pairing, by device id.
    pub pins: HashMap<String, String>,
}

impl ScanOptions {
    pub fn token_for(&self, device_id: &str) -> Option<String> {
        self.tokens.get(device_id).cloned().or_else(|| self.default_token.clone())
    }
}

impl Credentials for ScanOptions {
    fn token_for(&self, device_id: &str) -> Option<String> {
        ScanOptions::token_for(self, device_id)
    }

    fn pin_for(&self, device_id: &str) -> Option<String> {
        self.pins.get(device_id).cloned()
    }
}

/// What confirming a device needs from pairing: the token and the pinned
/// key of each device id.
pub trait Credentials: Sync {
    /// The token for `device_id`; `""` asks for the one to try on a device
    /// whose id is not known yet.
    fn token_for(&self, device_id: &str) -> Option<String>;
    /// The key fingerprint pinned for `device_id` at pairing.
    fn pin_for(&self, device_id: &str) -> Option<String>;
}

/// Ask `addr` for its health over TLS (learning which key it proves), then
/// over plain HTTP only when TLS failed without timing out. No token either
/// way.
///
/// In turn, not both at once: candidates come from mDNS, a manual add or a
/// sweep, so the port is almost always an agent's, and agents serve HTTPS
/// unless started with `--insecure-http` — the TLS probe alone answers with
/// one connection. An agent in clear refuses the handshake at once, so the
/// plain probe after it costs about a millisecond on loopback. No bare TCP
/// connect first (as the sweep does, where nearly every port is closed):
/// here it would be a wasted connection on nearly every candidate, and a
/// closed port refuses each probe in well under a millisecond anyway. A
/// TLS probe that timed out is not repeated in clear: whatever holds the
/// port does not answer, and waiting twice doubled a hung address's time.
async fn probe_health(http: &reqwest::Client, addr: SocketAddr) -> (Result<Health>, Option<String>) {
    match AgentClient::tls_probe(http.clone(), addr).health_and_key().await {
        Ok((health, key)) => (Ok(health), key),
        Err(e) if timed_out(&e) => (Err(e), None),
        Err(_) => (AgentClient::new(http.clone(), addr, None).health().await, None),
    }
}

/// The call got no answer in time.
fn timed_out(e: &FleetError) -> bool {
    matches!(e, FleetError::Unreachable { reason, .. } if reason == crate::client::TIMED_OUT)
}

/// Confirm one address: `/v1/health` (which key it proves, which id it
/// claims), then `/v1/info` with the token. `advertised` is the TXT
/// description when there is one.
///
/// An address that claims a device whose key is pinned but proves another
/// key (or speaks plain HTTP) is [`FleetError::KeyMismatch`]: it is sent no
/// token. A device with a pinned key is only ever talked to over TLS with
/// that key; one without is talked to over TLS with the key it proves now
/// (reported in `device.key_fingerprint`, for the caller to pin), or over
/// plain HTTP when it speaks no TLS (`--insecure-http`).
pub async fn confirm(
    http: &reqwest::Client,
    addr: SocketAddr,
    advertised: Option<Device>,
    source: Source,
    creds: &dyn Credentials,
) -> Result<Found> {
    let (health, seen_key) = probe_health(http, addr).await;
    let claimed = health
        .as_ref()
        .ok()
        .and_then(|h| h.device_id.clone())
        .or_else(|| advertised.as_ref().map(|d| d.device_id.clone()));
    let pin = claimed.as_deref().and_then(|id| creds.pin_for(id));
    if let (Some(id), Some(pinned)) = (&claimed, &pin) {
        let advertised_key = advertised.as_ref().and_then(|d| d.key_fingerprint.clone());
        let txt_disagrees = advertised_key.as_deref().is_some_and(|fp| !fingerprints_agree(fp, pinned));
        let proves_pin = seen_key.as_deref().is_some_and(|k| fingerprints_agree(k, pinned));
        if txt_disagrees || (health.is_ok() && !proves_pin) {
            return Err(FleetError::KeyMismatch {
                device_id: id.clone(),
                addr: addr.to_string(),
                pinned: pinned.clone(),
                presented: if health.is_ok() { seen_key } else { advertised_key },
            });
        }
    }
    let key = pin.or(seen_key);
    let token = claimed.as_deref().and_then(|id| creds.token_for(id)).or_else(|| creds.token_for(""));
    let client = AgentClient::for_device(http.clone(), addr, key.as_deref(), token.clone());
    // An address whose health probe got no answer (refused, or no reply in
    // time) is not asked for its info: that would wait or fail the same way.
    let (answered, info) = match health {
        Err(e @ FleetError::Unreachable { .. }) => (false, Err(e)),
        health => (health.is_ok(), client.info().await),
    };
    match (answered, info) {
        (_, Ok(info)) => {
            let mut device = info.device;
            // What it claims now must not be another paired device either.
            if let Some(pinned) = creds.pin_for(&device.device_id)
                && !key.as_deref().is_some_and(|k| fingerprints_agree(k, &pinned))
            {
                return Err(FleetError::KeyMismatch {
                    device_id: device.device_id,
                    addr: addr.to_string(),
                    pinned,
                    presented: key,
                });
            }
            // The key proven in the handshake, not the one the body claims.
            device.key_fingerprint = key;
            device.status = DeviceStatus::Online;
            device.last_heartbeat_ms = Some(crate::liveness::now_ms());
            Ok(Found { device, addr, source, confirmed: true, paired: true, problem: None, found_after_ms: None })
        }
        (true, Err(e)) if e.status() == Some(401) => {
            let Some(mut device) = advertised else {
                return Err(FleetError::BadInput(format!(
                    "an agent answers at {addr} but refuses {}; pair it with --token",
                    if token.is_some() { "the token given" } else { "requests without a token" }
                )));
            };
            device.status = DeviceStatus::Online;
            device.last_heartbeat_ms = Some(crate::liveness::now_ms());
            device.key_fingerprint = key.or(device.key_fingerprint);
            let problem = Some(if token.is_some() {
                "the token was refused".to_owned()
            } else {
                "not paired: no token".to_owned()
            });
            Ok(Found { device, addr, source, confirmed: false, paired: false, problem, found_after_ms: None })
        }
        (answered, Err(e)) => {
            let Some(mut device) = advertised else { return Err(e) };
            device.status = if answered { DeviceStatus::Stale } else { DeviceStatus::Offline };
            Ok(Found {
                device,
                addr,
                source,
                confirmed: false,
                paired: token.is_some(),
                problem: Some(e.to_string()),
                found_after_ms: None,
            })
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
    creds: &dyn Credentials,
) -> Vec<(SocketAddr, Result<Found>)> {
    futures_util::stream::iter(candidates)
        .map(|(addr, adv, source)| async move { (addr, confirm(http, addr, adv, source, creds).await) })
        .buffer_unordered(CONFIRM_CONCURRENCY)
        .collect()
        .await
}

/// Run a scan for the whole window. Problems with single devices are in
/// their `problem`; the returned error is only for a scan that could not run
/// at all.
pub async fn scan(http: &reqwest::Client, opts: &ScanOptions) -> Result<Vec<Found>> {
    scan_until(http, opts, None).await
}

/// How long a sweep probe waits for an answer.
const SWEEP_PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// Sweep probes in flight at once.
const SWEEP_CONCURRENCY: usize = 128;

/// Keep the better of two records of one device: a confirmed one wins.
fn keep(by_id: &mut BTreeMap<String, Found>, f: Found) {
    match by_id.get(&f.device.device_id) {
        Some(prev) if prev.confirmed && !f.confirmed => {}
        _ => {
            by_id.insert(f.device.device_id.clone(), f);
        }
    }
}

/// The browser's next event, or never when there is no browser.
async fn next_browse(browser: &Option<Browser>, deadline: Instant) -> Result<Option<BrowseEvent>> {
    match browser {
        Some(b) => b.next(deadline.saturating_duration_since(Instant::now())).await,
        None => std::future::pending().await,
    }
}

/// The sweep's answers once it is over, or never when there is no sweep.
async fn sweep_done(task: &mut Option<tokio::task::JoinHandle<Vec<SocketAddr>>>) -> Vec<SocketAddr> {
    match task {
        Some(t) => t.await.unwrap_or_default(),
        None => std::future::pending().await,
    }
}

/// Run a scan; with `expect = Some(n)` it returns as soon as `n` distinct
/// devices are confirmed (or, failing that, when the window and the sweep
/// are over, with what it found). Each candidate is confirmed as soon as it
/// is found, at most [`CONFIRM_CONCURRENCY`] at once.
pub async fn scan_until(http: &reqwest::Client, opts: &ScanOptions, expect: Option<usize>) -> Result<Vec<Found>> {
    Ok(scan_with_warnings(http, opts, expect).await?.0)
}

/// [`scan_until`], also returning the warnings the user must see: each
/// address that claimed a paired device with another key
/// ([`FleetError::KeyMismatch`]; it got no token and no entry).
pub async fn scan_with_warnings(
    http: &reqwest::Client,
    opts: &ScanOptions,
    expect: Option<usize>,
) -> Result<(Vec<Found>, Vec<String>)> {
    let started = Instant::now();
    let mut sweep_task = opts.sweep.as_ref().map(|spec| {
        let http = http.clone();
        let spec = spec.clone();
        tokio::spawn(async move { sweep(&http, &spec, SWEEP_PROBE_TIMEOUT, SWEEP_CONCURRENCY).await })
    });
    let mut browser = if opts.mdns { Some(Browser::start(&opts.interfaces)?) } else { None };
    let deadline = started + opts.timeout;
    let creds: &dyn Credentials = opts;
    let mut asked: HashSet<SocketAddr> = HashSet::new();
    let mut waiting: Vec<(SocketAddr, Option<Device>, Source)> = Vec::new();
    let mut confirms = FuturesUnordered::new();
    let mut by_id: BTreeMap<String, Found> = BTreeMap::new();
    let mut warnings = Vec::new();
    loop {
        while confirms.len() < CONFIRM_CONCURRENCY
            && let Some((addr, adv, source)) = waiting.pop()
        {
            confirms.push(async move { (addr, confirm(http, addr, adv, source, creds).await) });
        }
        let confirmed = by_id.values().filter(|f| f.confirmed).count();
        let idle = browser.is_none() && sweep_task.is_none() && confirms.is_empty();
        if idle || expect.is_some_and(|n| confirmed >= n) {
            break;
        }
        let mut candidate = |addr: SocketAddr, adv: Option<Device>, source: Source| {
            if asked.insert(addr) {
                waiting.push((addr, adv, source));
            }
        };
        tokio::select! {
            event = next_browse(&browser, deadline), if browser.is_some() => match event {
                Ok(Some(BrowseEvent::Resolved(d))) => candidate(d.addr, Some(d.device), Source::Mdns),
                Ok(Some(BrowseEvent::Removed { .. })) => {}
                Ok(None) => browser.take().into_iter().for_each(Browser::shutdown),
                Err(e) => {
                    tracing::warn!("mDNS browse stopped early: {e}");
                    browser.take().into_iter().for_each(Browser::shutdown);
                }
            },
            swept = sweep_done(&mut sweep_task), if sweep_task.is_some() => {
                sweep_task = None;
                for addr in swept {
                    candidate(addr, None, Source::Sweep);
                }
            },
            Some((addr, result)) = confirms.next(), if !confirms.is_empty() => match result {
                Ok(mut f) => {
                    f.found_after_ms = Some(started.elapsed().as_millis() as u64);
                    keep(&mut by_id, f);
                }
                // A key mismatch is a warning the user must see (the CLI
                // prints it), never turned into a registry entry.
                Err(e @ FleetError::KeyMismatch { .. }) => {
                    tracing::warn!("{e}");
                    warnings.push(e.to_string());
                }
                Err(e) => tracing::warn!("{addr}: {e}"),
            },
        }
    }
    if let Some(b) = browser {
        b.shutdown();
    }
    if let Some(t) = sweep_task {
        t.abort();
    }
    Ok((by_id.into_values().collect(), warnings))
}
