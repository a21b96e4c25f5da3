//! Turning an address into a known device, off the engine's loop: resolve
//! `host:port` without blocking, sweep a range, confirm each candidate over
//! HTTP with the right token, and hand what answered back to the loop. An
//! address claiming a paired device with another key is only logged as a
//! warning: it never reaches the loop, so the entry is not re-pointed.

use super::events::{Event, EventSink, LogLevel};
use crate::error::{FleetError, Result};
use crate::scan::{Credentials, Found, Source, confirm, confirm_all};
use crate::sweep::{SweepProgress, SweepSpec, sweep_with_progress};

/// How often a sweep reports its progress.
const SWEEP_PROGRESS_EVERY: Duration = Duration::from_millis(100);
use edgefleet_core::Device;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long a sweep waits for each address to answer.
const SWEEP_PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// How many addresses a sweep probes at once.
const SWEEP_CONCURRENCY: usize = 128;

/// Parse `host:port`, resolving a name once, here. Blocks on DNS: for
/// callers outside an async runtime (the CLI); the engine uses
/// [`lookup_addr`].
pub fn resolve_addr(addr: &str) -> Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    first_addr(addr, addr.to_socket_addrs())
}

/// Parse `host:port`, resolving a name once, without blocking the runtime.
pub async fn lookup_addr(addr: &str) -> Result<SocketAddr> {
    first_addr(addr, tokio::net::lookup_host(addr).await)
}

fn first_addr(addr: &str, resolved: std::io::Result<impl Iterator<Item = SocketAddr>>) -> Result<SocketAddr> {
    resolved
        .map_err(|e| FleetError::BadInput(format!("`{addr}` is not a reachable HOST:PORT: {e}")))?
        .next()
        .ok_or_else(|| FleetError::BadInput(format!("`{addr}` resolves to no address")))
}

/// Receives each confirmed device with the token that worked for it.
pub(super) type Deliver = Arc<dyn Fn(Found, Option<String>) + Send + Sync>;

/// What a confirmation task needs, cloned off the engine so it can run on
/// its own.
#[derive(Clone)]
pub(super) struct Confirmer {
    pub http: reqwest::Client,
    /// Stored tokens by device id.
    pub tokens: HashMap<String, String>,
    /// The engine's directory, for the keys pinned at pairing.
    pub directory: crate::directory::Directory,
    /// For devices with no stored token.
    pub fallback_token: Option<String>,
    pub deliver: Deliver,
    pub sink: EventSink,
}

impl Credentials for Confirmer {
    fn token_for(&self, device_id: &str) -> Option<String> {
        self.tokens.get(device_id).cloned().or_else(|| self.fallback_token.clone())
    }

    fn pin_for(&self, device_id: &str) -> Option<String> {
        self.directory.pinned(device_id)
    }
}

impl Confirmer {
    /// Confirm one address (a failure goes to the event log).
    pub async fn confirm(&self, addr: SocketAddr, advertised: Option<Device>, source: Source) {
        let result = confirm(&self.http, addr, advertised, source, self).await;
        self.report(addr, result);
    }

    /// Resolve `host:port` (a manual add), then confirm it.
    pub async fn confirm_named(&self, addr: &str, source: Source) {
        match lookup_addr(addr).await {
            Ok(sa) => self.confirm(sa, None, source).await,
            Err(e) => self.sink.log(LogLevel::Error, e.to_string()),
        }
    }

    /// Probe every address of `spec`, then confirm those that answered.
    pub async fn sweep(&self, spec: &SweepSpec) {
        // Throttled: a /24 × 100 ports is 25,400 probes.
        let last = std::sync::Mutex::new(std::time::Instant::now());
        let report = |progress: SweepProgress| {
            let due = last.lock().map(|mut t| {
                let due = t.elapsed() >= SWEEP_PROGRESS_EVERY;
                if due {
                    *t = std::time::Instant::now();
                }
                due
            });
            if due.unwrap_or(true) {
                self.sink.send(Event::Sweep { progress, finished: false });
            }
        };
        let addrs = sweep_with_progress(&self.http, spec, SWEEP_PROBE_TIMEOUT, SWEEP_CONCURRENCY, &report).await;
        let total = usize::try_from(spec.probe_count()).unwrap_or(usize::MAX);
        let progress = SweepProgress { probed: total, total, answered: addrs.len() };
        self.sink.send(Event::Sweep { progress, finished: true });
        self.sink.log(LogLevel::Info, format!("sweep found {} agent(s)", addrs.len()));
        let candidates = addrs.into_iter().map(|addr| (addr, None, Source::Sweep));
        for (addr, result) in confirm_all(&self.http, candidates, self).await {
            self.report(addr, result);
        }
    }

    fn report(&self, addr: SocketAddr, result: Result<Found>) {
        match result {
            Ok(found) => {
                let token = self.token_for(&found.device.device_id);
                (self.deliver)(found, token);
            }
            // Never delivered: the registry entry keeps its address and key.
            Err(e @ FleetError::KeyMismatch { .. }) => self.sink.log(LogLevel::Warn, e.to_string()),
            Err(e) => self.sink.log(LogLevel::Warn, format!("{addr}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_or_say_why_not() {
        assert_eq!(resolve_addr("127.0.0.1:8470").unwrap(), "127.0.0.1:8470".parse().unwrap());
        let e = resolve_addr("no-port-here").unwrap_err().to_string();
        assert!(e.contains("`no-port-here` is not a reachable HOST:PORT"), "{e}");
    }

    #[tokio::test]
    async fn lookup_matches_resolve_without_blocking() {
        assert_eq!(lookup_addr("127.0.0.1:8470").await.unwrap(), "127.0.0.1:8470".parse().unwrap());
        assert!(matches!(lookup_addr("no-port-here").await, Err(FleetError::BadInput(_))));
    }
}
