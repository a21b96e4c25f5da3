//! End to end on a virtual LAN of network namespaces (see `topology`): the
//! real `edgefleet-agent` binary in 8 namespaces on a bridge and 2 behind a
//! router, the real `edgefleet` CLI in a console namespace.
//!
//! - discovery over real multicast: time to the first device and to all 8;
//! - a sweep across the router finds the 2 that multicast cannot reach;
//! - a deploy through a link with delay, jitter and loss completes;
//! - a rollout survives a device that reboots for 10 s.
//!
//! Needs root and `ip` (namespaces); where they cannot be created every test
//! says so and passes without running. Tests run one at a time (timings
//! are measured) and tear their namespaces and processes down on exit.

// Test code: a failed setup step should fail the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod impair;
mod procs;
mod topology;
mod tun;

use impair::Impairment;
use procs::{AGENT_PORT, AgentProc, console};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use topology::{LAN, Lan, SUBNET};

/// One test at a time: timings must not share the two cores with another LAN.
static SERIAL: Mutex<()> = Mutex::new(());

/// Build the LAN, or say why this machine cannot and return `None`.
fn lan_or_skip(test: &str, lan_agents: usize, routed_agents: usize) -> Option<Lan> {
    match Lan::build(lan_agents, routed_agents) {
        Ok(lan) => Some(lan),
        Err(topology::Unsupported(why)) => {
            eprintln!("SKIPPED {test}: network namespaces cannot be created here ({why}); run as root with `ip`");
            None
        }
    }
}

fn start_agents(lan: &Lan, dir: &Path, namespaces: &[String]) -> Vec<AgentProc> {
    namespaces.iter().map(|ns| AgentProc::start(ns, &format!("cam-{}", lan.addr_of(ns)), &dir.join(ns))).collect()
}

/// The devices of a `scan --json` output.
fn scanned(out: &std::process::Output) -> Vec<Value> {
    let text = String::from_utf8_lossy(&out.stdout);
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(rows)) => rows,
        _ => {
            panic!("scan did not print a JSON list:\nstdout: {text}\nstderr: {}", String::from_utf8_lossy(&out.stderr))
        }
    }
}

fn addresses(rows: &[Value]) -> Vec<String> {
    let mut a: Vec<String> = rows.iter().filter_map(|r| r["address"].as_str().map(str::to_owned)).collect();
    a.sort();
    a
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

#[test]
fn discovery_over_multicast_and_a_sweep_across_the_router() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(lan) = lan_or_skip("discovery_over_multicast_and_a_sweep_across_the_router", 8, 2) else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut all = lan.lan_agents.clone();
    all.extend(lan.routed_agents.iter().cloned());
    let _agents = start_agents(&lan, dir.path(), &all);
    // Agents probe and announce for ~1 s after start; scans below find
    // them in steady state, as a console started later would.
    std::thread::sleep(Duration::from_millis(1500));

    let lan_addrs: Vec<String> = (11..=18).map(|i| format!("{LAN}.{i}")).collect();
    let (mut firsts, mut alls, mut walls) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..3 {
        let db = dir.path().join(format!("scan{round}.db"));
        let args = ["scan", "--interface", "lan0", "--json", "--expect", "8", "--timeout-ms", "3000"];
        let (out, wall) = console(&lan.console, &db, &args, Duration::from_secs(20));
        let rows = scanned(&out);
        assert_eq!(addresses(&rows), lan_addrs, "round {round}: mDNS finds exactly the 8 agents of the LAN");
        assert!(rows.iter().all(|r| r["paired"] == true && r["source"] == "mdns"), "{rows:#?}");
        let mut at: Vec<u64> = rows.iter().map(|r| r["found_after_ms"].as_u64().expect("found_after_ms")).collect();
        at.sort_unstable();
        println!(
            "netns discovery round {round}: first device after {} ms, all 8 after {} ms (scan process {} ms)",
            at[0],
            at[7],
            wall.as_millis()
        );
        firsts.push(at[0]);
        alls.push(at[7]);
        walls.push(wall.as_millis() as u64);
    }
    // Back to back: the agents multicast their answer to a query at most
    // once a second, so the scan above leaves them mute to multicast for a
    // moment; the one-shot (unicast) queries still find every one at once.
    let db = dir.path().join("scan-again.db");
    let args = ["scan", "--interface", "lan0", "--json", "--expect", "8", "--timeout-ms", "3000"];
    let (out, _) = console(&lan.console, &db, &args, Duration::from_secs(20));
    let rows = scanned(&out);
    assert_eq!(addresses(&rows), lan_addrs, "a scan right after another finds all 8");
    let last = rows.iter().filter_map(|r| r["found_after_ms"].as_u64()).max().unwrap_or(0);
    println!("netns discovery right after another scan: all 8 after {last} ms");

    // The GUI's path: the fleet engine in the console namespace (this test
    // binary, re-run there as a probe) reports each device as it is confirmed.
    let (first_ms, all_ms) = engine_probe(&lan.console);
    println!("netns engine (GUI path): first device after {first_ms} ms, all 8 after {all_ms} ms");
    assert!(first_ms <= 300, "the engine should report the first device within 300 ms, took {first_ms} ms");

    let (first, all8) = (median(firsts), median(alls));
    println!(
        "netns discovery (median of 3): first device {first} ms, all 8 {all8} ms, scan --expect 8 returned in {} ms",
        median(walls)
    );
    assert!(all8 <= 1000, "all 8 agents should be confirmed within 1 s over multicast, took {all8} ms");

    // The routed subnet: no multicast across the router, a sweep finds both.
    let db = dir.path().join("sweep.db");
    let sweep = format!("{SUBNET}.0/24:{AGENT_PORT}");
    let started = Instant::now();
    let (out, _) =
        console(&lan.console, &db, &["scan", "--no-mdns", "--sweep", &sweep, "--json"], Duration::from_secs(30));
    let rows = scanned(&out);
    assert_eq!(addresses(&rows), vec![format!("{SUBNET}.11"), format!("{SUBNET}.12")], "{rows:#?}");
    assert!(rows.iter().all(|r| r["source"] == "sweep" && r["paired"] == true));
    println!("netns sweep of {sweep} across the router: 2 of 2 found in {} ms", started.elapsed().as_millis());
}

/// Set in the probe child: run the engine and report, instead of testing.
const PROBE_ENV: &str = "EDGEFLEET_NETNS_ENGINE_PROBE";

/// Run [`engine_probe_child`] in `ns` and read its (first, all 8) times.
fn engine_probe(ns: &str) -> (u64, u64) {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("timeout")
        .args(["30", "ip", "netns", "exec", ns])
        .arg(exe)
        .args(["engine_probe_child", "--exact", "--nocapture", "--test-threads", "1"])
        .env(PROBE_ENV, "8")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.split_once("PROBE ").map(|(_, r)| r)).unwrap_or_else(|| {
        panic!("the engine probe did not report:\n{text}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    let mut nums = line.split_whitespace().filter_map(|w| w.split_once('=')).map(|(_, v)| v.parse::<u64>().unwrap());
    (nums.next().unwrap(), nums.next().unwrap())
}

/// The probe itself: a fleet engine browsing `lan0` in the namespace it was
/// started in, timing `Event::Device` for the first device and the N-th.
/// Does nothing in an ordinary test run.
#[test]
fn engine_probe_child() {
    let Some(expect) = std::env::var(PROBE_ENV).ok().and_then(|v| v.parse::<usize>().ok()) else { return };
    let config = edgefleet_fleet::EngineConfig {
        interfaces: vec!["lan0".into()],
        default_token: Some(procs::TOKEN.into()),
        ..Default::default()
    };
    let started = Instant::now();
    let engine = edgefleet_fleet::FleetEngine::start(config, || {}).unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut first = None;
    while seen.len() < expect && started.elapsed() < Duration::from_secs(10) {
        if let Some(edgefleet_fleet::Event::Device(d)) = engine.recv_timeout(Duration::from_millis(50))
            && d.paired
            && seen.insert(d.device.device_id.clone())
        {
            first.get_or_insert(started.elapsed().as_millis());
        }
    }
    let all = started.elapsed().as_millis();
    engine.shutdown();
    assert_eq!(seen.len(), expect, "the engine found {seen:?}");
    println!("PROBE first_ms={} all_ms={all}", first.unwrap_or(all));
}

/// `mlp_digits.onnx` grown to `size_bytes` with an unknown top-level
/// protobuf field (field 1000, bytes), which ONNX readers skip: a valid,
/// loadable model of any size.
fn padded_model(dir: &Path, size_bytes: usize) -> PathBuf {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models/mlp_digits.onnx");
    let mut bytes = std::fs::read(assets).unwrap();
    let pad = size_bytes.saturating_sub(bytes.len() + 16).max(1);
    let varint = |mut v: u64, out: &mut Vec<u8>| {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    };
    varint((1000 << 3) | 2, &mut bytes);
    varint(pad as u64, &mut bytes);
    bytes.extend((0..pad).map(|i| (i % 251) as u8));
    let path = dir.join("padded.onnx");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn register(ns: &str, db: &Path, addrs: &[String]) {
    for a in addrs {
        let (out, _) = console(ns, db, &["add", &format!("{a}:{AGENT_PORT}")], Duration::from_secs(30));
        assert!(out.status.success(), "add {a}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

fn deploy_outcome(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "deploy did not print JSON:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn deploy_through_a_link_with_delay_and_loss() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(mut lan) = lan_or_skip("deploy_through_a_link_with_delay_and_loss", 8, 0) else { return };
    let dir = tempfile::tempdir().unwrap();
    let agents_ns = lan.lan_agents.clone();
    let _agents = start_agents(&lan, dir.path(), &agents_ns);
    let imp = Impairment { delay_ms: 20, jitter_ms: 5, loss_percent: 2.0 };
    let (cim, link) = lan.impaired_console(imp, 0x5eed).expect("the impaired link is set up");
    let db = dir.path().join("console.db");
    let addrs: Vec<String> = agents_ns.iter().map(|ns| lan.addr_of(ns)).collect();
    register(&cim, &db, &addrs);

    let mb: usize = std::env::var("NETNS_DEPLOY_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let model = padded_model(dir.path(), mb * 1024 * 1024);
    let started = Instant::now();
    let args = ["deploy", model.to_str().unwrap(), "--all", "--parallel", "8", "--retries", "6", "--json"];
    let (out, _) = console(&cim, &db, &args, Duration::from_secs(240));
    let outcome = deploy_outcome(&out);
    assert_eq!(outcome["state"], "done", "{outcome:#}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(outcome["done"].as_array().map(Vec::len), Some(8));
    println!(
        "netns deploy of {mb} MB to 8 agents over {}±{} ms one-way, {}% loss: done in {:.1} s ({} packets forwarded, {} dropped)",
        imp.delay_ms,
        imp.jitter_ms,
        imp.loss_percent,
        started.elapsed().as_secs_f64(),
        link.forwarded(),
        link.dropped()
    );
    assert!(link.dropped() > 0, "the link dropped packets: the deploy went through the impairment");
}

/// A board that reboots in the middle of its upload: killed (SIGKILL) as
/// soon as part of the model has arrived, started again 10 s later on the
/// same port and data dir. The rollout waits for it, resumes the upload and
/// ends `done` without a rerun.
#[test]
fn a_rollout_waits_for_a_rebooting_device() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(lan) = lan_or_skip("a_rollout_waits_for_a_rebooting_device", 4, 0) else { return };
    let dir = tempfile::tempdir().unwrap();
    let agents_ns = lan.lan_agents.clone();
    let mut agents = start_agents(&lan, dir.path(), &agents_ns);
    let db = dir.path().join("console.db");
    register(&lan.console, &db, &agents_ns.iter().map(|ns| lan.addr_of(ns)).collect::<Vec<_>>());

    let model = padded_model(dir.path(), 48 * 1024 * 1024);
    let (out, err) = (dir.path().join("deploy.out"), dir.path().join("deploy.err"));
    let args = ["deploy", model.to_str().unwrap(), "--all", "--canary", "0", "--parallel", "4", "--json"];
    let args = [&args[..], &["--wait-for-device-s", "60"]].concat();
    let started = Instant::now();
    let mut deploy = procs::console_bg(&lan.console, &db, &args, &out, &err, Duration::from_secs(180));

    // The second agent reboots once part of the model has reached it.
    let victim = &mut agents[1];
    let uploads = victim.data_dir.join("uploads");
    let deadline = Instant::now() + Duration::from_secs(60);
    while procs::bytes_under(&uploads) == 0 {
        assert!(Instant::now() < deadline, "no upload reached {} within 60 s", victim.name);
        std::thread::sleep(Duration::from_millis(2));
    }
    let held = procs::bytes_under(&uploads);
    victim.kill();
    let killed_at = started.elapsed();
    std::thread::sleep(Duration::from_secs(10));
    victim.restart();

    let status = deploy.wait().unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    let outcome: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap())
        .unwrap_or_else(|_| panic!("deploy printed no JSON; stderr:\n{stderr}"));
    assert!(status.success(), "{outcome:#}\n{stderr}");
    assert_eq!(outcome["state"], "done", "{outcome:#}\n{stderr}");
    assert_eq!(outcome["done"].as_array().map(Vec::len), Some(4));
    assert!(stderr.contains("waiting for device"), "the wait is shown:\n{stderr}");
    assert!(stderr.contains("resuming at"), "the upload resumed instead of starting over:\n{stderr}");
    println!(
        "netns reboot: agent killed {:.1} s into the rollout with {held} bytes held, back 10 s later; rollout done in {:.1} s, no rerun",
        killed_at.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
