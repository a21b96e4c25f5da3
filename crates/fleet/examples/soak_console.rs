//! Soak: the console's fleet engine tracking 1,000 simulated agents (a
//! child process: this example re-run with `--serve N`) on 127.0.0.1 for a
//! set time, printing the console's RSS, the events it drained and the
//! time one drain of a second's events took (the work a GUI frame does with
//! them). All should stay flat; a climb is a leak.
//!
//! `cargo run --release -p edgefleet-fleet --example soak_console -- [--devices 1000] [--duration-s 600] [--every-s 30]`
//!
//! The engine polls each agent once a second on 127.0.0.1 only, and the
//! run stops by itself.

// A benchmark binary: a failed setup step should stop it at once.
#![allow(clippy::unwrap_used)]

#[path = "support/agents_child.rs"]
mod agents_child;

use agents_child::{arg, serve_until_stdin_closes, spawn_agents_child};
use edgefleet_agent::SimulateOptions;
use edgefleet_fleet::{Command, EngineConfig, Event, FleetEngine};
use std::time::{Duration, Instant};

const TOKEN: &str = "soak-token";

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let count: usize = args[i + 1].parse().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let opts = SimulateOptions {
            token: Some(TOKEN.into()),
            advertise: false,
            interfaces: Vec::new(),
            ..SimulateOptions::loopback(count, dir.path())
        };
        return rt.block_on(serve_until_stdin_closes(opts, None));
    }
    let devices = arg("--devices", 1000).clamp(1, 5000) as usize;
    let duration = Duration::from_secs(arg("--duration-s", 600));
    let every = Duration::from_secs(arg("--every-s", 30).max(1));

    let (mut child, addrs) = spawn_agents_child(&["--serve", &devices.to_string()]);
    assert_eq!(addrs.len(), devices, "the child started every agent");

    let config = EngineConfig { mdns: false, default_token: Some(TOKEN.into()), ..EngineConfig::default() };
    let engine = FleetEngine::start(config, || {}).unwrap();
    for addr in &addrs {
        engine.send(Command::AddManual { addr: addr.clone(), token: Some(TOKEN.into()) }).unwrap();
    }
    let rss0 = rss_mb();
    println!(
        "soak: console engine tracking {devices} simulated agents for {} s; start RSS {rss0:.1} MB",
        duration.as_secs()
    );
    println!("{:>7} {:>8} {:>10} {:>12} {:>8}", "t_s", "devices", "events", "drain_ms", "rss_mb");
    let started = Instant::now();
    let mut next_report = started + every;
    let mut known = std::collections::HashSet::new();
    let (mut events, mut drain_ms_max) = (0u64, 0.0f64);
    while started.elapsed() < duration {
        // Once a second, like a GUI frame after a second's worth of events.
        std::thread::sleep(Duration::from_secs(1));
        let t = Instant::now();
        while let Some(ev) = engine.try_recv() {
            events += 1;
            if let Event::Device(d) = ev {
                known.insert(d.device.device_id.clone());
            }
        }
        drain_ms_max = drain_ms_max.max(t.elapsed().as_secs_f64() * 1e3);
        if Instant::now() >= next_report {
            next_report += every;
            println!(
                "{:>7.0} {:>8} {:>10} {:>12.3} {:>8.1}",
                started.elapsed().as_secs_f64(),
                known.len(),
                events,
                drain_ms_max,
                rss_mb()
            );
            drain_ms_max = 0.0;
        }
    }
    println!("soak done: {} devices, {events} events; RSS {rss0:.1} → {:.1} MB", known.len(), rss_mb());
    engine.shutdown();
    drop(child.stdin.take());
    let _ = child.wait();
}
