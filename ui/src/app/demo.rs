//! Demo mode: N real simulated agents in this process, on 127.0.0.1 with
//! mDNS on `lo` only, sharing one random token, in a scratch directory that
//! also holds the demo database — so a demo never touches the user's
//! registry and never sends a packet beyond loopback.

use anyhow::Context as _;
use edgefleet_agent::{SimulateOptions, SimulatedFleet, simulate};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// What the demo starts.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub count: usize,
    pub seed: u64,
    /// (lat, lon) the fleet is scattered around: Paris.
    pub center: (f64, f64),
}

impl DemoOptions {
    pub fn new(count: usize) -> Self {
        DemoOptions { count, seed: 7, center: (48.8566, 2.3522) }
    }
}

/// A running demo fleet; dropping it stops the agents and removes the
/// scratch directory.
pub struct DemoFleet {
    runtime: Option<tokio::runtime::Runtime>,
    fleet: Option<SimulatedFleet>,
    token: String,
    dir: PathBuf,
}

impl DemoFleet {
    /// Start the agents (blocks until they listen: well under a second for
    /// dozens of agents; done before the window opens).
    pub fn start(opts: &DemoOptions) -> anyhow::Result<DemoFleet> {
        if opts.count == 0 {
            anyhow::bail!("--demo needs at least 1 device");
        }
        let token = random_token();
        let dir = std::env::temp_dir().join(format!("edgefleet-demo-{}-{}", std::process::id(), &token[..8]));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
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
        };
        let fleet = runtime.block_on(simulate(sim)).context("cannot start the simulated agents")?;
        Ok(DemoFleet { runtime: Some(runtime), fleet: Some(fleet), token, dir })
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

/// 32 hex digits of OS randomness (the agent's own token generator).
fn random_token() -> String {
    edgefleet_agent::random_hex(16)
}
