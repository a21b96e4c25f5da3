//! Benchmark: the real app's frame time (logic, layout of every panel,
//! tessellation; headless egui context, no GPU) while N live simulated
//! agents stream telemetry into it, measured two ways side by side in one
//! run on the same agents:
//!
//! - broker: the app's broker setting (`UiCommand::SetBroker`, as Settings →
//!   Apply does), mDNS off, no sweep — every device and its telemetry come
//!   through one local Mosquitto;
//! - reference, HTTP: the same agents added by address
//!   (`UiCommand::AddDevice`, as the "Add device" box does), each confirmed
//!   and then polled once a second over HTTP.
//!
//! The broker and the agents run under a child process (this example re-run
//! with `--serve N`; it starts Mosquitto, then N agents each serving HTTP on
//! 127.0.0.1 and linked to the broker), so their work is not counted in the
//! app's frames. Frames are
//! paced like a 60 Hz display (one at most every 16.7 ms) so telemetry
//! arrives between them as it does in the running app. For each side: the
//! time until the app lists all N with metrics, then the median and p95 of
//! a fixed number of frames on the Map and the Charts tabs, and how many
//! devices were live (online, with telemetry taken in during those frames);
//! and the CPU this process (the app and its engine) and the agents'
//! process used meanwhile, since both share the machine's cores.
//!
//! `cargo run -p edgefleet --example frame_live -- [--devices 1000] [--frames 300] [--http-first]`
//! (`--http-first`: the HTTP side runs first, to see what the order does).
//! (the dev profile unless `--release`; say which when quoting figures).
//!
//! Needs `mosquitto` (scripts/install-test-deps.sh). Everything stays on
//! 127.0.0.1, mDNS is off, and the run stops by itself. The child stops its
//! agents and kills its broker when its stdin closes — at the end, when a
//! step here panics, and when this process is killed — and is itself killed
//! if it has not stopped within a bound.

// A benchmark binary: a failed setup step should stop it at once.
#![allow(clippy::unwrap_used)]

#[path = "../../crates/agent/tests/support/mosquitto.rs"]
mod mosquitto;

#[path = "../../crates/fleet/examples/support/agents_child.rs"]
mod agents_child;
#[path = "../benches/support/frame_fixture.rs"]
mod frame_fixture;

use agents_child::{arg, serve_until_stdin_closes, spawn_agents_child};
use edgefleet_agent::{BrokerConfig, SimulateOptions};
use edgefleet_core::DeviceStatus;
use edgefleet_fleet::EngineConfig;
use edgefleet_ui::app::{App, AppConfig, BrokerSettings, Tab, UiCommand};
use std::collections::HashMap;
use std::hint::black_box;
use std::process::Child;
use std::time::{Duration, Instant};

const TOKEN: &str = "frame-live-token-0123456789abcdef";
const FLEET: &str = "frame-live";
/// A 60 Hz display: the app never draws more often than this.
const FRAME_INTERVAL: Duration = Duration::from_micros(16_667);
/// Bound on waiting for every device to be listed with metrics.
const LIST_TIMEOUT: Duration = Duration::from_secs(120);
/// After all are listed: let the first burst of events pass.
const SETTLE: Duration = Duration::from_secs(3);
/// Untimed frames on a tab before the timed ones (its first layout).
const WARMUP_FRAMES: usize = 10;
/// Bound on the agents' process stopping once its stdin is closed.
const CHILD_STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound on the agents' shutdown in the child (below the one above, so the
/// child still kills its broker).
const AGENTS_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The child: a Mosquitto on 127.0.0.1 (`broker URL`, or `no broker`),
/// then N simulated agents on 127.0.0.1 linked to it, not advertised, until
/// stdin closes; one `ADDR` line each, then `ready`.
async fn serve(count: usize) {
    let Some(broker) = mosquitto::Mosquitto::start() else {
        return println!("no broker");
    };
    let url = broker.url();
    println!("broker {url}");
    let dir = tempfile::tempdir().unwrap();
    let opts = SimulateOptions {
        token: Some(TOKEN.into()),
        advertise: false,
        interfaces: Vec::new(),
        broker: Some(BrokerConfig::new(url.parse().unwrap(), FLEET)),
        ..SimulateOptions::loopback(count, dir.path())
    };
    serve_until_stdin_closes(opts, Some(AGENTS_STOP_TIMEOUT)).await;
    drop(broker);
}

/// The agents' process: asked to stop (stdin closed) and killed if it has
/// not within [`CHILD_STOP_TIMEOUT`] — on every way out, a panic included.
struct AgentsProcess {
    child: Child,
}

impl Drop for AgentsProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let asked = Instant::now();
        while asked.elapsed() < CHILD_STOP_TIMEOUT {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the broker and N agents in a child process; the broker's URL and
/// the agents' `host:port`s (`None`: no mosquitto here).
fn start_agents(devices: usize) -> Option<(AgentsProcess, String, Vec<String>)> {
    let (child, lines) = spawn_agents_child(&["--serve", &devices.to_string()]);
    let process = AgentsProcess { child };
    let (first, addrs) = lines.split_first()?;
    if first == "no broker" {
        return None;
    }
    let url = first.strip_prefix("broker ").expect("the agents' process starts a broker first").to_owned();
    assert_eq!(addrs.len(), devices, "the child started every agent");
    Some((process, url, addrs.to_vec()))
}

/// One whole frame of the app (`run_ui` + tessellation), ms.
fn frame_ms(ctx: &egui::Context, app: &mut App) -> f64 {
    let start = Instant::now();
    let mut out = ctx.run_ui(frame_fixture::input(), |ui| app.frame_ui(ui));
    // No renderer here to upload font atlas changes to.
    out.textures_delta.clear();
    black_box(ctx.tessellate(out.shapes, out.pixels_per_point));
    start.elapsed().as_secs_f64() * 1e3
}

/// Run one frame, then wait out the rest of the display interval.
fn paced_frame(ctx: &egui::Context, app: &mut App) -> f64 {
    let start = Instant::now();
    let ms = frame_ms(ctx, app);
    if let Some(rest) = FRAME_INTERVAL.checked_sub(start.elapsed()) {
        std::thread::sleep(rest);
    }
    ms
}

/// CPU time (user + system) process `pid` ("self" for this one) has used, s.
fn cpu_s(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Clock ticks: 100 per second on Linux.
    (tick(11) + tick(12)) / 100.0
}

/// Each device's last telemetry timestamp, as the app holds it.
fn telemetry_stamps(app: &App) -> HashMap<String, u64> {
    app.state
        .fleet
        .entries()
        .iter()
        .filter_map(|e| Some((e.id().to_owned(), e.metrics.as_ref()?.timestamp_ms)))
        .collect()
}

struct TabFrames {
    median_ms: f64,
    p95_ms: f64,
    /// Online and with telemetry taken in during the timed frames.
    live: usize,
}

struct Side {
    listed: usize,
    with_metrics: usize,
    list_s: f64,
    tabs: Vec<(Tab, TabFrames)>,
    /// Cores busy during the timed frames: this process (the app, its
    /// engine and its broker or HTTP client) and the agents' process.
    app_cores: f64,
    agents_cores: f64,
}

/// Time `frames` paced frames on `tab`; count the devices live meanwhile.
fn time_tab(ctx: &egui::Context, app: &mut App, tab: Tab, frames: usize) -> TabFrames {
    app.push_command(UiCommand::SetTab(tab));
    for _ in 0..WARMUP_FRAMES {
        paced_frame(ctx, app);
    }
    let before = telemetry_stamps(app);
    let mut times: Vec<f64> = (0..frames).map(|_| paced_frame(ctx, app)).collect();
    let after = telemetry_stamps(app);
    let live = app
        .state
        .fleet
        .entries()
        .iter()
        .filter(|e| e.status() == DeviceStatus::Online && after.get(e.id()) != before.get(e.id()))
        .count();
    times.sort_by(f64::total_cmp);
    // Nearest rank.
    let p95 = times[(times.len() * 95).div_ceil(100).saturating_sub(1)];
    TabFrames { median_ms: times[times.len() / 2], p95_ms: p95, live }
}

/// One side: a fresh app (mDNS off, in-memory registry, no library), told
/// about the fleet by `join`; frames run until all `n` are listed with
/// metrics, then timed on each tab.
fn side(n: usize, frames: usize, agents_pid: &str, join: impl FnOnce(&mut App)) -> Side {
    let engine = EngineConfig { mdns: false, default_token: Some(TOKEN.into()), ..EngineConfig::default() };
    let mut app = App::new_for_test(AppConfig { seed_library: false, ..AppConfig::new(engine, None) }).unwrap();
    let ctx = egui::Context::default();
    paced_frame(&ctx, &mut app);
    join(&mut app);
    let started = Instant::now();
    let all_live =
        |app: &App| app.state.fleet.len() >= n && app.state.fleet.entries().iter().all(|e| e.metrics.is_some());
    while !all_live(&app) && started.elapsed() < LIST_TIMEOUT {
        paced_frame(&ctx, &mut app);
    }
    let list_s = started.elapsed().as_secs_f64();
    let listed = app.state.fleet.len();
    let with_metrics = app.state.fleet.entries().iter().filter(|e| e.metrics.is_some()).count();
    let settle = Instant::now();
    while settle.elapsed() < SETTLE {
        paced_frame(&ctx, &mut app);
    }
    let (app_cpu0, agents_cpu0, t0) = (cpu_s("self"), cpu_s(agents_pid), Instant::now());
    let tabs = [Tab::Map, Tab::Charts].into_iter().map(|tab| (tab, time_tab(&ctx, &mut app, tab, frames))).collect();
    let secs = t0.elapsed().as_secs_f64();
    let app_cores = (cpu_s("self") - app_cpu0) / secs;
    let agents_cores = (cpu_s(agents_pid) - agents_cpu0) / secs;
    Side { listed, with_metrics, list_s, tabs, app_cores, agents_cores }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let count: usize = args[i + 1].parse().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        return rt.block_on(serve(count));
    }
    let devices = arg("--devices", 1000).clamp(1, 5000) as usize;
    let frames = arg("--frames", 300).clamp(20, 3000) as usize;
    let profile = if cfg!(debug_assertions) { "dev (debug assertions on)" } else { "release" };
    let agents_started = Instant::now();
    let Some((agents, url, addrs)) = start_agents(devices) else { return };
    println!(
        "frame_live: {devices} simulated agents (one child process, 127.0.0.1, mDNS off) up in {:.1} s, each linked to mosquitto at {url}",
        agents_started.elapsed().as_secs_f64(),
    );
    println!(
        "profile {profile}; screen {}×{}; {frames} timed frames per tab after {WARMUP_FRAMES} untimed, one at most every {:.1} ms",
        frame_fixture::SCREEN.x,
        frame_fixture::SCREEN.y,
        FRAME_INTERVAL.as_secs_f64() * 1e3
    );

    let settings = BrokerSettings { url, fleet_name: FLEET.into(), ..BrokerSettings::default() };
    let pid = agents.child.id().to_string();
    let broker_side = || side(devices, frames, &pid, |app| app.push_command(UiCommand::SetBroker(settings)));
    let http_side = || {
        side(devices, frames, &pid, |app| {
            for addr in &addrs {
                app.push_command(UiCommand::AddDevice { addr: addr.clone() });
            }
        })
    };
    let http_first = args.iter().any(|a| a == "--http-first");
    let (via_broker, via_http) = if http_first {
        let h = http_side();
        (broker_side(), h)
    } else {
        let b = broker_side();
        (b, http_side())
    };
    drop(agents);

    let order = if http_first { "HTTP side first" } else { "broker side first" };
    println!("\nthe app's frame with {devices} live devices (measured in this run, {order})");
    println!("{:<40} {:>14} {:>14} {:>14}", "", "broker (MQTT)", "HTTP (ref.)", "broker / HTTP");
    let row = |name: &str, b: f64, h: f64, unit: &str| {
        println!("{name:<40} {:>11.2} {unit:<2} {:>11.2} {unit:<2} {:>14.2}", b, h, b / h.max(1e-9));
    };
    println!("{:<40} {:>14} {:>14}", "devices listed", via_broker.listed, via_http.listed);
    println!("{:<40} {:>14} {:>14}", "devices listed with metrics", via_broker.with_metrics, via_http.with_metrics);
    row("time until all listed with metrics", via_broker.list_s, via_http.list_s, "s");
    for ((tab, b), (_, h)) in via_broker.tabs.iter().zip(&via_http.tabs) {
        let label = tab.label();
        println!("{:<40} {:>14} {:>14}", format!("{label}: devices live during the frames"), b.live, h.live);
        row(&format!("{label}: frame time, median"), b.median_ms, h.median_ms, "ms");
        row(&format!("{label}: frame time, p95"), b.p95_ms, h.p95_ms, "ms");
    }
    row("app process CPU during the frames", via_broker.app_cores, via_http.app_cores, "c");
    row("agents' process CPU during the frames", via_broker.agents_cores, via_http.agents_cores, "c");
    println!("(c: cores busy; this machine has {})", std::thread::available_parallelism().map_or(0, |n| n.get()));
}
