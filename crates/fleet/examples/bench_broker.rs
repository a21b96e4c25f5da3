//! Benchmark: the console's fleet engine on N simulated agents (a child
//! process: this example re-run with `--serve N URL`) that also join one
//! local Mosquitto, measured two ways side by side in one run:
//!
//! - broker: `Command::SetBroker`, mDNS off, no sweep — time until the
//!   engine lists all N (their retained states), then telemetry messages
//!   per second handled over a window (each agent publishes once a second);
//! - reference, HTTP: the same agents added by address (`AddManual`: each
//!   confirmed over HTTP, then polled once a second) — time until all N are
//!   listed, then metrics per second handled over the same window.
//!
//! For each: the console process's CPU time per second of the window and
//! its RSS growth during the phase; then the ratios broker/HTTP.
//!
//! `cargo run -p edgefleet-fleet --example bench_broker -- [--devices 1000] [--window-s 10]`
//!
//! Needs `mosquitto` (scripts/install-test-deps.sh). Everything stays on
//! 127.0.0.1 and the run stops by itself.

// A benchmark binary: a failed setup step should stop it at once.
#![allow(clippy::unwrap_used)]

#[path = "support/agents_child.rs"]
mod agents_child;
#[path = "../../agent/tests/support/mosquitto.rs"]
mod mosquitto;

use agents_child::{arg, serve_until_stdin_closes, spawn_agents_child};
use edgefleet_agent::{BrokerConfig, SimulateOptions};
use edgefleet_fleet::discovery::mqtt::BrokerSpec;
use edgefleet_fleet::{Command, EngineConfig, Event, FleetEngine};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-broker-token";
const FLEET: &str = "bench";
/// Bound on waiting for all devices to be listed.
const LIST_TIMEOUT: Duration = Duration::from_secs(300);

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

/// CPU time (user + system) this process has used, seconds.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)`: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Clock ticks: 100 per second on Linux.
    (tick(11) + tick(12)) / 100.0
}

struct Phase {
    list_s: f64,
    listed: usize,
    metrics_per_s: f64,
    cpu_per_s: f64,
    rss_growth_mb: f64,
}

/// Run one phase: `join` tells the engine about the fleet; wait for all
/// `n` to be listed, then count metrics over `window`.
fn phase(n: usize, window: Duration, join: impl FnOnce(&FleetEngine)) -> Phase {
    let rss0 = rss_mb();
    let config = EngineConfig { mdns: false, default_token: Some(TOKEN.into()), ..EngineConfig::default() };
    let engine = FleetEngine::start(config, || {}).unwrap();
    let started = Instant::now();
    join(&engine);
    let mut listed = HashSet::new();
    while listed.len() < n && started.elapsed() < LIST_TIMEOUT {
        if let Some(Event::Device(d)) = engine.recv_timeout(Duration::from_millis(100)) {
            listed.insert(d.device.device_id.clone());
        }
    }
    let list_s = started.elapsed().as_secs_f64();
    // Let the first second's burst pass, then measure a steady window.
    std::thread::sleep(Duration::from_secs(2));
    while engine.try_recv().is_some() {}
    let (cpu0, t0) = (cpu_s(), Instant::now());
    let mut metrics = 0u64;
    while t0.elapsed() < window {
        if let Some(Event::Metrics { .. }) = engine.recv_timeout(Duration::from_millis(50)) {
            metrics += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu_per_s = (cpu_s() - cpu0) / secs;
    let rss_growth_mb = rss_mb() - rss0;
    engine.shutdown();
    Phase { list_s, listed: listed.len(), metrics_per_s: metrics as f64 / secs, cpu_per_s, rss_growth_mb }
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
            broker: Some(BrokerConfig::new(args[i + 2].parse().unwrap(), FLEET)),
            ..SimulateOptions::loopback(count, dir.path())
        };
        return rt.block_on(serve_until_stdin_closes(opts, None));
    }
    let devices = arg("--devices", 1000).clamp(1, 5000) as usize;
    let window = Duration::from_secs(arg("--window-s", 10).clamp(1, 120));
    let Some(broker) = mosquitto::Mosquitto::start() else { return };

    let agents_started = Instant::now();
    let (mut child, addrs) = spawn_agents_child(&["--serve", &devices.to_string(), &broker.url()]);
    assert_eq!(addrs.len(), devices, "the child started every agent");
    println!(
        "bench_broker: {devices} simulated agents (one child process, 127.0.0.1) up in {:.1} s, all joined to mosquitto at {}",
        agents_started.elapsed().as_secs_f64(),
        broker.url()
    );

    let spec = BrokerSpec::new(&broker.url(), FLEET).unwrap();
    let via_broker = phase(devices, window, |e| e.send(Command::SetBroker { broker: Some(spec) }).unwrap());
    let via_http = phase(devices, window, |e| {
        for addr in &addrs {
            e.send(Command::AddManual { addr: addr.clone(), token: Some(TOKEN.into()) }).unwrap();
        }
    });

    println!("\nconsole engine, {devices} devices, steady window {} s (measured in this run)", window.as_secs());
    println!("{:<36} {:>14} {:>14} {:>14}", "", "broker (MQTT)", "HTTP (ref.)", "broker / HTTP");
    let row = |name: &str, b: f64, h: f64, unit: &str| {
        println!("{name:<36} {:>11.2} {unit:<2} {:>11.2} {unit:<2} {:>14.2}", b, h, b / h);
    };
    println!("{:<36} {:>14} {:>14}", "devices listed", via_broker.listed, via_http.listed);
    row("time until all listed", via_broker.list_s, via_http.list_s, "s");
    row("metrics handled per second", via_broker.metrics_per_s, via_http.metrics_per_s, "/s");
    row("console CPU (cores busy)", via_broker.cpu_per_s, via_http.cpu_per_s, "");
    row("console RSS growth in the phase", via_broker.rss_growth_mb, via_http.rss_growth_mb, "MB");
    println!("(GUI frame time with 1,000 live devices, broker vs HTTP: cargo run -p edgefleet --example frame_live)");

    drop(child.stdin.take());
    let _ = child.wait();
}
