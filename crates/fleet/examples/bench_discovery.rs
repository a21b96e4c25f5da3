//! Discovery latency: how long until the first device, and until all of N
//! simulated agents (1, 10, 100), are discovered *and confirmed over HTTP*
//! by the fleet engine — against the reference of a bare mdns-sd browse that
//! only waits for the records to resolve, measured in the same run on the
//! same agents. mDNS stays on `lo`; HTTP on 127.0.0.1.
//!
//! Run: `cargo run --release -p edgefleet-fleet --example bench_discovery`

use edgefleet_agent::{SimulateOptions, simulate};
use edgefleet_fleet::{EngineConfig, Event, FleetEngine, discovery};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token";

/// Seconds until the first and until all `ids` resolved on a bare browse.
fn bare_browse(ids: &HashSet<String>) -> (f64, f64) {
    let daemon = discovery::daemon_on(&["lo".to_owned()]).expect("mdns daemon");
    let rx = daemon.browse(edgefleet_core::wire::SERVICE_TYPE).expect("browse");
    let start = Instant::now();
    let (mut first, mut seen) = (None, HashSet::new());
    while seen.len() < ids.len() && start.elapsed() < Duration::from_secs(60) {
        if let Ok(mdns_sd::ServiceEvent::ServiceResolved(svc)) = rx.recv_timeout(Duration::from_millis(100))
            && let Some(id) = discovery::device_id_of(&svc.fullname)
            && ids.contains(id)
        {
            first.get_or_insert(start.elapsed().as_secs_f64());
            seen.insert(id.to_owned());
        }
    }
    let all = start.elapsed().as_secs_f64();
    let _ = daemon.shutdown();
    (first.unwrap_or(f64::NAN), if seen.len() == ids.len() { all } else { f64::NAN })
}

/// Seconds until the engine reported the first and all `ids` as devices.
fn engine_discovery(ids: &HashSet<String>) -> (f64, f64) {
    let config = EngineConfig {
        interfaces: vec!["lo".into()],
        default_token: Some(TOKEN.into()),
        poll_interval_ms: 1_000,
        ..EngineConfig::default()
    };
    let start = Instant::now();
    let engine = FleetEngine::start(config, || {}).expect("engine");
    let (mut first, mut seen) = (None, HashSet::new());
    while seen.len() < ids.len() && start.elapsed() < Duration::from_secs(60) {
        if let Some(Event::Device(s)) = engine.recv_timeout(Duration::from_millis(100))
            && ids.contains(&s.device.device_id)
            && s.paired
        {
            first.get_or_insert(start.elapsed().as_secs_f64());
            seen.insert(s.device.device_id.clone());
        }
    }
    let all = start.elapsed().as_secs_f64();
    engine.shutdown();
    (first.unwrap_or(f64::NAN), if seen.len() == ids.len() { all } else { f64::NAN })
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!("discovery on lo: edgefleet engine (mDNS + HTTP confirm) vs bare mdns-sd browse (reference)");
    println!(
        "{:>6}  {:>12} {:>12}  {:>12} {:>12}  {:>9}",
        "agents", "first ms", "all ms", "ref first", "ref all", "all/ref"
    );
    for (i, n) in [1usize, 10, 100].into_iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = SimulateOptions::loopback(n, dir.path());
        opts.seed = 1_000 + i as u64;
        opts.token = Some(TOKEN.into());
        let fleet = rt.block_on(simulate(opts)).expect("simulate");
        let ids: HashSet<String> = fleet.agents().iter().map(|a| a.device_id.clone()).collect();
        let (rf, ra) = bare_browse(&ids);
        let (ef, ea) = engine_discovery(&ids);
        println!(
            "{n:>6}  {:>12.0} {:>12.0}  {:>12.0} {:>12.0}  {:>8.2}x",
            ef * 1e3,
            ea * 1e3,
            rf * 1e3,
            ra * 1e3,
            ea / ra
        );
        rt.block_on(fleet.shutdown());
    }
}
