//! Demo mode: N real simulated agents in this process, on 127.0.0.1 with
//! mDNS on `lo` only, sharing one random token, in a scratch directory that
//! also holds the demo database — so a demo never touches the user's
//! registry and never sends a packet beyond loopback.
//!
//! The agents serve HTTPS, each with its own identity key, as real devices
//! do. The demo pairs them as a user would (their token, and the key each
//! one proves pinned), except that it does not have to ask anyone for the
//! fingerprint: it started the agents, so it knows each key in-process and
//! pins it before the first contact — never trust on first use.
//!
//! Small devices name an edge server of the fleet as their upstream, and a
//! light stream of real predictions (rows of the digits evaluation set) goes
//! to every agent with an active model — so the charts move and unsure
//! predictions visibly fall back to an edge server.

use anyhow::Context as _;
use edgefleet_agent::{SimulateOptions, SimulatedFleet, private_temp_dir, simulate};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// What the demo starts.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub count: usize,
    pub seed: u64,
    /// (lat, lon) the fleet is scattered around: Paris.
    pub center: (f64, f64),
    /// Rows (CSV: features, then label) to send as demo traffic; none: no traffic.
    pub traffic_csv: Option<PathBuf>,
}

impl DemoOptions {
    pub fn new(count: usize) -> Self {
        DemoOptions { count, seed: 7, center: (48.8566, 2.3522), traffic_csv: None }
    }
}

/// A running demo fleet; dropping it stops the agents and removes the
/// scratch directory.
pub struct DemoFleet {
    runtime: Option<tokio::runtime::Runtime>,
    fleet: Option<SimulatedFleet>,
    /// Dropping it stops the demo traffic.
    _traffic_stop: Option<tokio::sync::oneshot::Sender<()>>,
    token: String,
    dir: PathBuf,
    /// Agents the app has not yet paired (sent the engine's Pair for).
    unpaired: std::collections::HashSet<String>,
}

impl DemoFleet {
    /// Start the agents (blocks until they listen: well under a second for
    /// dozens of agents; done before the window opens).
    pub fn start(opts: &DemoOptions) -> anyhow::Result<DemoFleet> {
        if opts.count == 0 {
            anyhow::bail!("--demo needs at least 1 device");
        }
        let token = random_token();
        // A new private dir (0700, random name): nothing of the token in its
        // name, no other user can read the agents' files.
        let dir = private_temp_dir("edgefleet-demo").context("cannot create the demo dir")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("edgefleet-demo")
            .enable_all()
            .build()
            .context("cannot start the demo runtime")?;
        let sim = SimulateOptions {
            count: opts.count,
            seed: opts.seed,
            center: opts.center,
            // Loopback only, always: a demo must not advertise on the LAN.
            interfaces: vec!["lo".into()],
            token: Some(token.clone()),
            base_dir: dir.join("agents"),
            advertise: true,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            offload_to_edge: true,
            broker: None,
            tls: true,
        };
        let fleet = runtime.block_on(simulate(sim)).context("cannot start the simulated agents")?;
        let rows = match &opts.traffic_csv {
            None => Vec::new(),
            Some(path) => match edgefleet_optimize::EvalData::from_path(path) {
                Ok(data) => data.rows,
                Err(e) => {
                    tracing::warn!("demo traffic is off: {e}");
                    Vec::new()
                }
            },
        };
        let traffic_stop = (!rows.is_empty()).then(|| {
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
            let targets = fleet.agents().iter().map(|a| (a.addr, pinned_key(a), a.token.clone())).collect();
            runtime.spawn(demo_traffic(targets, rows, stop_rx));
            stop_tx
        });
        let unpaired = fleet.agents().iter().map(|a| a.device_id.clone()).collect();
        Ok(DemoFleet { runtime: Some(runtime), fleet: Some(fleet), _traffic_stop: traffic_stop, token, dir, unpaired })
    }

    /// The engine's Pair for a demo agent the console just found, once:
    /// its token and the key the demo knows it holds (`None` for a
    /// plain-HTTP agent). `None` for a device already paired or not ours.
    pub fn pairing_for(&mut self, device_id: &str) -> Option<edgefleet_fleet::Command> {
        if !self.unpaired.remove(device_id) {
            return None;
        }
        let a = self.agents().iter().find(|a| a.device_id == device_id)?;
        Some(edgefleet_fleet::Command::Pair {
            device_id: a.device_id.clone(),
            token: a.token.clone(),
            fingerprint: pinned_key(a),
        })
    }

    /// The token every demo agent accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The scratch directory (demo database, optimized models).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn agents(&self) -> &[edgefleet_agent::AgentHandle] {
        self.fleet.as_ref().map_or(&[], |f| f.agents())
    }
}

impl Drop for DemoFleet {
    fn drop(&mut self) {
        if let (Some(rt), Some(fleet)) = (self.runtime.as_ref(), self.fleet.take()) {
            rt.block_on(fleet.shutdown());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
        // Best effort: a leftover scratch dir in /tmp is harmless.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The key to pin for a demo agent: the one it serves HTTPS with.
pub fn pinned_key(agent: &edgefleet_agent::AgentHandle) -> Option<String> {
    agent.tls.then(|| agent.fingerprint.clone())
}

/// Rows sent to each agent with an active model, per second.
const TRAFFIC_ROWS_PER_S: usize = 4;

/// Every second, send a few evaluation rows to every agent that has a model
/// active. Errors are expected (no model yet, model just swapped) and ignored:
/// this is background load, not a check.
async fn demo_traffic(
    targets: Vec<(std::net::SocketAddr, Option<String>, String)>,
    rows: Vec<Vec<f32>>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(http) = edgefleet_fleet::http_client() else { return };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    // A small LCG is plenty to pick rows; no need for a RNG crate here.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        let mut calls = tokio::task::JoinSet::new();
        for (addr, key, token) in &targets {
            let client =
                edgefleet_fleet::AgentClient::for_device(http.clone(), *addr, key.as_deref(), Some(token.clone()));
            let batch: Vec<Vec<f32>> = (0..TRAFFIC_ROWS_PER_S)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    rows[(state >> 33) as usize % rows.len()].clone()
                })
                .collect();
            calls.spawn(async move {
                let Ok(models) = client.models().await else { return };
                for m in models.models.into_iter().filter(|m| m.active) {
                    let _ = client.predict(&m.name, batch.clone()).await;
                }
            });
        }
        while calls.join_next().await.is_some() {}
    }
}

/// 32 hex digits of OS randomness (the agent's own token generator).
fn random_token() -> String {
    edgefleet_agent::random_hex(16)
}
