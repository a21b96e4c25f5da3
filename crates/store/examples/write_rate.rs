//! Measures the store's write rates on a real file (WAL, synchronous=NORMAL):
//! telemetry samples folded into buckets, device upserts with sightings, and
//! a deployment read with its steps. Run:
//! `cargo run -p edgefleet-store --example write_rate -- [devices] [samples_per_device]`

use edgefleet_core::{Device, DeviceType};
use edgefleet_store::{DeviceRecord, NewDeployment, Store, TelemetrySample};
use std::error::Error;
use std::time::Instant;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let devices: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);
    let samples: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("bench.db"))?;

    let started = Instant::now();
    for d in 0..devices {
        let rec = DeviceRecord {
            device: Device::new(format!("dev-{d:05}"), DeviceType::IotSensor, 2, 512, 8.0),
            address: Some("127.0.0.1".into()),
            port: Some(7000),
            source: "mdns".into(),
            first_seen_ms: 1,
            last_seen_ms: 1,
        };
        store.upsert_device(&rec)?;
    }
    let upsert_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    for s in 0..samples {
        for d in 0..devices {
            let sample =
                TelemetrySample { at_ms: s * 1_000, cpu_load: 0.5, memory_used_mb: 100.0, p99_ms: Some(3.0), qps: 1.0 };
            store.record_telemetry(&format!("dev-{d:05}"), &sample, 10_000)?;
        }
    }
    let telemetry_s = started.elapsed().as_secs_f64();
    let writes = (samples * devices) as f64;

    let targets: Vec<String> = (0..devices).map(|d| format!("dev-{d:05}")).collect();
    let id = store.create_deployment(&NewDeployment {
        model_name: "m".into(),
        model_version: "1".into(),
        sha256: "ab".repeat(32),
        model_path: "/m.onnx".into(),
        size_bytes: 1,
        plan: serde_json::json!({}),
        targets,
        created_ms: 1,
    })?;
    let started = Instant::now();
    let read = store.get_deployment(id)?.ok_or("deployment vanished")?;
    let read_ms = started.elapsed().as_secs_f64() * 1e3;

    println!("{devices} device upserts: {:.1} µs each", upsert_s * 1e6 / devices as f64);
    println!(
        "{writes} telemetry writes: {:.1} µs each ({:.0}/s), {} buckets per device",
        telemetry_s * 1e6 / writes,
        writes / telemetry_s,
        store.telemetry("dev-00000", 0)?.len()
    );
    println!("deployment with {} steps read in {read_ms:.2} ms", read.steps.len());
    Ok(())
}
