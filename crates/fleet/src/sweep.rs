//! Unicast sweep of a CIDR and port range, for networks that block multicast.
//!
//! Spec syntax: `CIDR:PORTS`, e.g. `127.0.0.1/32:7000-7100` or
//! `10.0.0.0/28:8470`. Every address × port is probed with `GET /v1/health`
//! (over TLS and plain HTTP at once)
//! (short timeout, bounded concurrency); what answers as an edgefleet agent
//! is reported.

use crate::client::AgentClient;
use crate::error::{FleetError, Result};
use futures_util::StreamExt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Refuse sweeps larger than this many probes (a /16 × 100 ports is a mistake).
pub const MAX_PROBES: u64 = 65_536;

/// A parsed sweep target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepSpec {
    pub network: Ipv4Addr,
    pub prefix: u8,
    pub ports: std::ops::RangeInclusive<u16>,
}

impl std::str::FromStr for SweepSpec {
    type Err = FleetError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            FleetError::BadInput(format!("bad sweep `{s}`: {why} (expected CIDR:PORTS, e.g. 127.0.0.1/32:7000-7100)"))
        };
        let (cidr, ports) = s.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let (ip, prefix) = cidr.split_once('/').unwrap_or((cidr, "32"));
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| bad("prefix must be 0..=32"))?;
        let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
        let lo: u16 = lo.parse().ok().filter(|p| *p > 0).ok_or_else(|| bad("bad port"))?;
        let hi: u16 = hi.parse().map_err(|_| bad("bad port"))?;
        if hi < lo {
            return Err(bad("port range is reversed"));
        }
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        let spec = SweepSpec { network: Ipv4Addr::from(u32::from(ip) & mask), prefix, ports: lo..=hi };
        if spec.probe_count() > MAX_PROBES {
            return Err(bad(&format!("{} probes is more than the limit of {MAX_PROBES}", spec.probe_count())));
        }
        Ok(spec)
    }
}

impl SweepSpec {
    /// Host addresses in the network (all of them for /31 and /32).
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let base = u32::from(self.network);
        let size = 1u64 << (32 - self.prefix as u32);
        // Skip network and broadcast addresses where they exist.
        let (first, last) = if size > 2 { (1, size - 2) } else { (0, size - 1) };
        (first..=last).map(move |i| Ipv4Addr::from(base.wrapping_add(i as u32)))
    }

    pub fn probe_count(&self) -> u64 {
        let size = 1u64 << (32 - self.prefix as u32);
        let hosts = if size > 2 { size - 2 } else { size };
        hosts * (u64::from(*self.ports.end()) - u64::from(*self.ports.start()) + 1)
    }
}

/// Probe every target; returns the addresses that answered as agents.
pub async fn sweep(http: &reqwest::Client, spec: &SweepSpec, timeout: Duration, concurrency: usize) -> Vec<SocketAddr> {
    sweep_with_progress(http, spec, timeout, concurrency, &|_| {}).await
}

/// How far a sweep has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepProgress {
    pub probed: usize,
    pub total: usize,
    /// Addresses that answered as an agent so far.
    pub answered: usize,
}

/// [`sweep`], calling `progress` after every probe.
pub async fn sweep_with_progress(
    http: &reqwest::Client,
    spec: &SweepSpec,
    timeout: Duration,
    concurrency: usize,
    progress: &(dyn Fn(SweepProgress) + Sync),
) -> Vec<SocketAddr> {
    let targets: Vec<SocketAddr> =
        spec.hosts().flat_map(|ip| spec.ports.clone().map(move |p| SocketAddr::new(IpAddr::V4(ip), p))).collect();
    let total = targets.len();
    let mut probes = futures_util::stream::iter(targets)
        .map(|addr| {
            // HTTPS agents, then `--insecure-http` ones (no token). Most swept
            // ports are closed: one bare connect tells, so a closed port costs
            // one connection attempt, not one per protocol, and the probes in
            // flight stay at `concurrency` connections.
            let tls = AgentClient::tls_probe(http.clone(), addr).timeout(timeout);
            let plain = AgentClient::new(http.clone(), addr, None).timeout(timeout);
            async move {
                let open = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await;
                if !matches!(open, Ok(Ok(_))) {
                    return None;
                }
                if tls.health().await.is_ok() || plain.health().await.is_ok() { Some(addr) } else { None }
            }
        })
        .buffer_unordered(concurrency.max(1));
    let (mut found, mut probed) = (Vec::new(), 0);
    while let Some(answer) = probes.next().await {
        probed += 1;
        found.extend(answer);
        progress(SweepProgress { probed, total, answered: found.len() });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let s: SweepSpec = "127.0.0.1/32:7000-7002".parse().unwrap();
        assert_eq!(s.hosts().collect::<Vec<_>>(), vec![Ipv4Addr::LOCALHOST]);
        assert_eq!(s.probe_count(), 3);
        let s: SweepSpec = "10.1.2.77/29:80".parse().unwrap();
        assert_eq!(s.network, Ipv4Addr::new(10, 1, 2, 72));
        assert_eq!(s.hosts().count(), 6);
    }

    #[test]
    fn refuses_bad_specs() {
        for bad in
            ["127.0.0.1", "127.0.0.1/33:80", "x/24:80", "127.0.0.1/32:90-80", "127.0.0.1/32:0", "10.0.0.0/8:1-100"]
        {
            assert!(bad.parse::<SweepSpec>().is_err(), "{bad}");
        }
    }
}
