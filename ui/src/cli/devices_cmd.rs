//! `edgefleet devices`: the fleet registry kept in the store.

use super::GlobalArgs;
use super::store_args::open_store;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct DevicesArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row<'a> {
    device_id: &'a str,
    name: &'a str,
    device_type: &'a str,
    status: &'a str,
    address: Option<&'a str>,
    port: Option<u16>,
    cpu_cores: u32,
    memory_mb: u64,
    storage_gb: f64,
    source: &'a str,
    last_seen_ms: u64,
    paired: bool,
    simulated: bool,
}

pub fn run(global: &GlobalArgs, args: DevicesArgs) -> anyhow::Result<()> {
    let store = open_store(global)?;
    let recs = store.list_devices()?;
    let mut rows = Vec::with_capacity(recs.len());
    for r in &recs {
        let paired = store.token(&r.device.device_id)?.is_some();
        rows.push(Row {
            device_id: &r.device.device_id,
            name: r.device.display_name(),
            device_type: r.device.device_type.as_str(),
            status: r.device.status.as_str(),
            address: r.address.as_deref(),
            port: r.port,
            cpu_cores: r.device.cpu_cores,
            memory_mb: r.device.memory_mb,
            storage_gb: r.device.storage_gb,
            source: &r.source,
            last_seen_ms: r.last_seen_ms,
            paired,
            simulated: r.device.simulated,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no devices yet: run `edgefleet scan` or `edgefleet add HOST:PORT --token T`");
        return Ok(());
    }
    println!(
        "{:<24} {:<18} {:<8} {:<21} {:>5} {:>8} {:<6}",
        "DEVICE", "TYPE", "STATUS", "ADDRESS", "CORES", "MEM MB", "PAIRED"
    );
    for r in rows {
        let addr = match (r.address, r.port) {
            (Some(a), Some(p)) => format!("{a}:{p}"),
            _ => "-".into(),
        };
        println!(
            "{:<24} {:<18} {:<8} {:<21} {:>5} {:>8} {:<6}",
            r.device_id,
            r.device_type,
            r.status,
            addr,
            r.cpu_cores,
            r.memory_mb,
            if r.paired { "yes" } else { "no" }
        );
    }
    Ok(())
}
