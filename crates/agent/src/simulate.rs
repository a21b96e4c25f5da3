//! Simulated fleets: N real agents in one process, each with its own port,
//! data dir, token and mDNS record (on one shared daemon), with synthetic
//! hardware and load.

use crate::advertise::MdnsDaemon;
use crate::config::AgentConfig;
use crate::error::AgentError;
use crate::identity::random_hex;
use crate::server::{AgentHandle, spawn_on};
use crate::synthetic::synthetic_device;
use edgefleet_core::DeviceType;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// A new directory `<system temp>/<prefix>-<random>` only this user can
/// enter (0700). Created with `create_dir`, never reused: an existing path
/// (someone else's dir or symlink) makes it try another name.
pub fn private_temp_dir(prefix: &str) -> Result<PathBuf, AgentError> {
    let base = std::env::temp_dir();
    let mut last = None;
    for _ in 0..8 {
        let path = base.join(format!("{prefix}-{}", random_hex(12)));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(AgentError::io(format!("cannot create {}", path.display()), e)),
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::other("no free name"));
    Err(AgentError::io(format!("cannot create a private dir under {}", base.display()), e))
}

/// What `simulate` starts.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub count: usize,
    pub seed: u64,
    /// Centre (lat, lon) the devices are scattered around.
    pub center: (f64, f64),
    /// mDNS interfaces; empty = all.
    pub interfaces: Vec<String>,
    /// One token for every agent; `None` = each generates its own.
    pub token: Option<String>,
    /// Each agent's data dir is `base_dir/<device_id>`.
    pub base_dir: PathBuf,
    pub advertise: bool,
    pub bind: IpAddr,
    /// Give every agent that is not an edge server an edge server of the
    /// fleet as its upstream (round robin), so unsure predictions fall back
    /// to a bigger machine — the edge/cloud offload demo.
    pub offload_to_edge: bool,
    /// Every agent also joins this broker (one MQTT connection each).
    pub broker: Option<crate::mqtt_link::BrokerConfig>,
    /// Agents serve HTTPS, each with its own identity key.
    pub tls: bool,
}

impl SimulateOptions {
    /// `count` agents on 127.0.0.1, advertised on `lo`, seed 0, centred on Paris.
    pub fn loopback(count: usize, base_dir: impl Into<PathBuf>) -> Self {
        SimulateOptions {
            count,
            seed: 0,
            center: (48.8566, 2.3522),
            interfaces: vec!["lo".into()],
            token: None,
            base_dir: base_dir.into(),
            advertise: true,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            offload_to_edge: false,
            broker: None,
            tls: false,
        }
    }
}

/// The running agents of a simulated fleet.
#[derive(Debug)]
pub struct SimulatedFleet {
    agents: Vec<AgentHandle>,
    daemon: Option<MdnsDaemon>,
}

impl SimulatedFleet {
    pub fn agents(&self) -> &[AgentHandle] {
        &self.agents
    }

    /// Remove agent `idx` from the fleet (to stop or abort it alone).
    /// Panics when `idx` is out of range, like `Vec::remove`.
    pub fn take(&mut self, idx: usize) -> AgentHandle {
        self.agents.remove(idx)
    }

    /// Stop every agent gracefully (goodbyes), then the shared daemon.
    pub async fn shutdown(self) {
        futures_util::future::join_all(self.agents.into_iter().map(AgentHandle::shutdown)).await;
        if let Some(d) = self.daemon {
            d.shutdown().await;
        }
    }
}

/// Start `opts.count` simulated agents. On error the ones already started
/// are stopped again.
pub async fn simulate(opts: SimulateOptions) -> Result<SimulatedFleet, AgentError> {
    if opts.count == 0 {
        return Err(AgentError::Config("simulate needs --count of at least 1".into()));
    }
    let daemon = if opts.advertise { Some(MdnsDaemon::new(&opts.interfaces)?) } else { None };
    let mut fleet = SimulatedFleet { agents: Vec::with_capacity(opts.count), daemon };
    let devices: Vec<_> = (0..opts.count).map(|i| synthetic_device(i, opts.seed, opts.center)).collect();
    // Edge servers start first so the others can name one as their upstream.
    let mut order: Vec<usize> = (0..opts.count).collect();
    if opts.offload_to_edge {
        order.sort_by_key(|&i| devices[i].device_type != DeviceType::EdgeServer);
    }
    let mut started: Vec<(usize, AgentHandle)> = Vec::with_capacity(opts.count);
    // (base URL, token, key fingerprint) of each edge server started.
    let mut servers: Vec<(String, String, String)> = Vec::new();
    for index in order {
        let device = devices[index].clone();
        let is_server = device.device_type == DeviceType::EdgeServer;
        let mut config = AgentConfig::new(device.clone(), opts.base_dir.join(&device.device_id));
        config.simulated = true;
        // Never a token found on disk: each agent gets a fresh one unless
        // the fleet was given one.
        config.token = Some(opts.token.clone().unwrap_or_else(|| random_hex(32)));
        config.interfaces = opts.interfaces.clone();
        config.advertise = opts.advertise;
        config.broker = opts.broker.clone();
        config.tls = opts.tls;
        config.mdns = fleet.daemon.clone();
        config.seed = opts.seed ^ (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D);
        if opts.offload_to_edge && !is_server && !servers.is_empty() {
            let (url, token, fingerprint) = &servers[index % servers.len()];
            config.upstream = Some(url.clone());
            config.upstream_token = Some(token.clone());
            // Over HTTPS the upstream is trusted by its key, as a console pins it.
            config.upstream_fingerprint = opts.tls.then(|| fingerprint.clone());
        }
        match spawn_on(SocketAddr::new(opts.bind, 0), config).await {
            Ok(handle) => {
                if is_server {
                    servers.push((handle.base_url(), handle.token.clone(), handle.fingerprint.clone()));
                }
                started.push((index, handle));
            }
            Err(e) => {
                fleet.agents.extend(started.into_iter().map(|(_, h)| h));
                fleet.shutdown().await;
                return Err(e);
            }
        }
    }
    // Keep `agents()` in device-index order whatever the start order was.
    started.sort_by_key(|(i, _)| *i);
    fleet.agents.extend(started.into_iter().map(|(_, h)| h));
    Ok(fleet)
}
