//! Benchmark: one staged rollout (canary 1, then `--parallel` at once) of a
//! model file to N real agents served in this process on 127.0.0.1, two
//! ways side by side in one run, against the same agents:
//!
//! - reference, HTTP: the console uploads to each agent (resumable PUT),
//!   verifies, activates and health-checks it over the agent's HTTP API;
//! - broker: the same rollout code with every device on the broker route:
//!   a `deploy` command, the agent pulls the file from the console's model
//!   file server, then `models`, `activate`, a one-run `benchmark` — all
//!   through one local Mosquitto.
//!
//! Each rollout installs a new version (so both move the same bytes); it
//! prints the wall time of each, the bytes moved per second, and the ratio
//! broker/HTTP. Debug builds of this workspace: compare the ratio, not the
//! absolute figures, with other machines.
//!
//! `cargo run -p edgefleet-fleet --example bench_broker_rollout -- [--devices 20] [--parallel 8] [--mb 4]`
//!
//! Needs `mosquitto` (scripts/install-test-deps.sh). Everything stays on
//! 127.0.0.1 and the run stops by itself.

// A benchmark binary: a failed setup step should stop it at once.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../agent/tests/support/mosquitto.rs"]
mod mosquitto;

use edgefleet_agent::{AgentConfig, AgentHandle, BrokerConfig, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::discovery::mqtt::{BrokerSpec, BrokerWatch};
use edgefleet_fleet::engine::Route;
use edgefleet_fleet::{Directory, RolloutPlan, RolloutRequest, http_client, run_rollout};
use mosquitto::Mosquitto;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-broker-rollout-token";
const FLEET: &str = "bench-rollout";
/// Bound on one rollout.
const ROLLOUT_TIMEOUT: Duration = Duration::from_secs(600);

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let devices = arg("--devices", 20).clamp(1, 200) as usize;
    let parallel = arg("--parallel", 8).clamp(1, 64) as usize;
    let mb = arg("--mb", 4).clamp(1, 64) as usize;
    let Some(broker) = Mosquitto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dirs: Vec<_> = (0..devices).map(|_| tempfile::tempdir().unwrap()).collect();
    let agents: Vec<AgentHandle> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut config =
                AgentConfig::new(Device::new(format!("bench-{i:03}"), DeviceType::EdgeServer, 2, 4096, 16.0), d.path());
            config.token = Some(TOKEN.into());
            config.benchmark_duration = Duration::from_millis(10);
            config.broker = Some(BrokerConfig::new(broker.url().parse().unwrap(), FLEET));
            rt.block_on(spawn(config)).unwrap()
        })
        .collect();
    let files = tempfile::tempdir().unwrap();
    let http_file = common::padded_model(files.path(), "bench_http.onnx", mb * 1_000_000, 1);
    let broker_file = common::padded_model(files.path(), "bench_broker.onnx", mb * 1_000_000, 2);
    let size = std::fs::metadata(&http_file).unwrap().len();
    let targets: Vec<String> = agents.iter().map(|a| a.device_id.clone()).collect();
    let plan = RolloutPlan { canary: 1, parallel, ..RolloutPlan::default() };
    println!("{devices} agents on 127.0.0.1, a {size}-byte model, canary 1 then {parallel} at once");

    let (http_s, broker_s) = rt.block_on(async {
        let http_dir = Directory::new(http_client().unwrap());
        for a in &agents {
            http_dir.insert_route(&a.device_id, a.addr, Some(TOKEN.into()), Route::Http);
        }
        let req = RolloutRequest {
            name: "bench".into(),
            version: "http".into(),
            ..RolloutRequest::for_file(&http_file, targets.clone(), plan.clone())
        };
        let started = Instant::now();
        let outcome =
            tokio::time::timeout(ROLLOUT_TIMEOUT, run_rollout(common::memory_store(), http_dir, req, Arc::new(|_| {})))
                .await
                .unwrap()
                .unwrap();
        let http_s = started.elapsed().as_secs_f64();
        assert_eq!(outcome.state, "done", "{outcome:?}");

        let watch = BrokerWatch::start(&BrokerSpec::new(&broker.url(), FLEET).unwrap(), |_| {});
        let mut status = watch.link().subscribe_status();
        tokio::time::timeout(Duration::from_secs(10), status.wait_for(|s| s.is_connected())).await.unwrap().unwrap();
        let broker_dir = Directory::new(http_client().unwrap());
        for a in &agents {
            // An address nothing listens on: only the broker reaches them.
            broker_dir.insert_route(&a.device_id, "127.0.0.1:9".parse().unwrap(), Some(TOKEN.into()), Route::Broker);
        }
        broker_dir.set_broker_link(Some(watch.link()));
        // The devices' retained states arrive once connected: give them a moment.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let req = RolloutRequest {
            name: "bench".into(),
            version: "broker".into(),
            ..RolloutRequest::for_file(&broker_file, targets.clone(), plan.clone())
        };
        // Where the first device's time goes, state by state.
        let first = targets[0].clone();
        let marks: Arc<std::sync::Mutex<Vec<(String, Instant)>>> = Arc::default();
        let m = marks.clone();
        let steps_of_first: edgefleet_fleet::rollout::ProgressFn = Arc::new(move |p| {
            let mut m = m.lock().unwrap();
            if p.device_id == first && m.last().is_none_or(|(s, _)| s != p.state.as_str()) {
                m.push((p.state.as_str().to_owned(), Instant::now()));
            }
        });
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            ROLLOUT_TIMEOUT,
            run_rollout(common::memory_store(), broker_dir, req, steps_of_first.clone()),
        )
        .await
        .unwrap()
        .unwrap();
        let broker_s = started.elapsed().as_secs_f64();
        let marks = marks.lock().unwrap();
        let spans: Vec<String> = marks
            .windows(2)
            .map(|w| format!("{} {:.0} ms", w[0].0, w[1].1.duration_since(w[0].1).as_secs_f64() * 1e3))
            .collect();
        println!("broker, first device: {}", spans.join(", "));
        assert_eq!(outcome.state, "done", "{outcome:?}");
        watch.stop();
        (http_s, broker_s)
    });
    let moved_mb = (size as f64 * devices as f64) / 1e6;
    println!("{:<28} {:>10} {:>12}", "", "wall s", "MB/s moved");
    println!("{:<28} {:>10.2} {:>12.1}", "HTTP upload (reference)", http_s, moved_mb / http_s);
    println!("{:<28} {:>10.2} {:>12.1}", "broker (agent pulls)", broker_s, moved_mb / broker_s);
    println!("ratio broker/HTTP wall time: {:.2}", broker_s / http_s);
    for a in agents {
        rt.block_on(a.shutdown());
    }
    broker.kill();
}
