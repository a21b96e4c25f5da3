//! `edgefleet scan`: find agents by mDNS and/or a unicast sweep, confirm
//! each over HTTP, and/or read their retained state on an MQTT broker
//! (`--broker`); record them in the registry and print them.

use super::GlobalArgs;
use super::store_args::open_store;
use crate::bad_input;
use edgefleet_fleet::discovery::mqtt::scan_broker;
use edgefleet_fleet::{Found, ScanOptions, Source, SweepSpec, now_ms};
use edgefleet_store::{DeviceRecord, Store};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Network interface for mDNS (repeatable; default: all). Use `lo` for local agents.
    #[arg(long = "interface", value_name = "NAME")]
    pub interfaces: Vec<String>,
    /// How long to listen for mDNS answers.
    #[arg(long, default_value_t = 3000)]
    pub timeout_ms: u64,
    /// Return as soon as N devices are confirmed (the timeout still bounds the wait).
    #[arg(long, value_name = "N")]
    pub expect: Option<usize>,
    /// Also probe CIDR:PORTS by unicast, e.g. 127.0.0.1/32:7000-7100.
    #[arg(long, value_name = "CIDR:PORTS")]
    pub sweep: Option<String>,
    /// Skip mDNS (sweep and/or broker only).
    #[arg(long)]
    pub no_mdns: bool,
    #[command(flatten)]
    pub broker: super::broker_cmd::BrokerFlags,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The `--json` shape: one object per device.
#[derive(Serialize)]
struct Row<'a> {
    device_id: &'a str,
    name: &'a str,
    device_type: &'a str,
    address: String,
    port: u16,
    cpu_cores: u32,
    memory_mb: u64,
    status: &'a str,
    simulated: bool,
    source: &'a str,
    paired: bool,
    problem: Option<&'a str>,
    /// Milliseconds from the scan's start until the device was confirmed.
    found_after_ms: Option<u64>,
}

fn row(f: &Found) -> Row<'_> {
    Row {
        device_id: &f.device.device_id,
        name: f.device.display_name(),
        device_type: f.device.device_type.as_str(),
        address: f.addr.ip().to_string(),
        port: f.addr.port(),
        cpu_cores: f.device.cpu_cores,
        memory_mb: f.device.memory_mb,
        status: f.device.status.as_str(),
        simulated: f.device.simulated,
        source: f.source.as_str(),
        paired: f.paired,
        problem: f.problem.as_deref(),
        found_after_ms: f.found_after_ms,
    }
}

/// Scan options carrying only what pairing left in the store: each device's
/// token and pinned key, and `--token` for the others.
pub(super) fn credentials(store: &Store, global: &GlobalArgs) -> anyhow::Result<ScanOptions> {
    let mut tokens = std::collections::HashMap::new();
    for rec in store.list_devices()? {
        if let Some(t) = store.token(&rec.device.device_id)? {
            tokens.insert(rec.device.device_id, t);
        }
    }
    Ok(ScanOptions {
        tokens,
        default_token: global.token.clone(),
        pins: store.key_fingerprints()?,
        ..Default::default()
    })
}

pub fn run(global: &GlobalArgs, args: ScanArgs) -> anyhow::Result<()> {
    let sweep = match args.sweep.as_deref().map(str::parse::<SweepSpec>) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => bad_input!("{e}"),
    };
    let broker = args.broker.spec()?;
    if args.no_mdns && sweep.is_none() && broker.is_none() {
        bad_input!("--no-mdns needs --sweep CIDR:PORTS or --broker mqtt://HOST:PORT --fleet NAME");
    }
    let store = open_store(global)?;
    let creds = credentials(&store, global)?;
    let opts = ScanOptions {
        interfaces: args.interfaces,
        mdns: !args.no_mdns,
        timeout: Duration::from_millis(args.timeout_ms),
        sweep,
        ..creds
    };
    let lan = !args.no_mdns || opts.sweep.is_some();
    let found = super::runtime()?.block_on(async {
        let http = edgefleet_fleet::http_client()?;
        let (mut found, warnings) = if lan {
            edgefleet_fleet::scan::scan_with_warnings(&http, &opts, args.expect).await?
        } else {
            (Vec::new(), Vec::new())
        };
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        if let Some(spec) = &broker {
            let paired = |id: &str| opts.token_for(id).is_some();
            // A device found on the LAN too keeps its LAN record (confirmed over HTTP).
            let on_broker = scan_broker(spec, opts.timeout, args.expect, &paired).await?;
            eprintln!("broker {}: connected; {} device(s) online in fleet {}", spec.addr, on_broker.len(), spec.fleet);
            for f in on_broker {
                if !found.iter().any(|g| g.device.device_id == f.device.device_id) {
                    found.push(f);
                }
            }
        }
        anyhow::Ok(found)
    })?;
    let now = now_ms();
    for f in &found {
        store.upsert_device(&DeviceRecord {
            device: f.device.clone(),
            address: Some(f.addr.ip().to_string()),
            port: Some(f.addr.port()),
            source: f.source.as_str().to_owned(),
            first_seen_ms: now,
            last_seen_ms: now,
        })?;
        // A token that worked is the device's token from now on (a broker
        // state proves nothing about the token).
        if f.paired
            && f.confirmed
            && f.source != Source::Mqtt
            && !opts.tokens.contains_key(&f.device.device_id)
            && let Some(t) = &opts.default_token
        {
            store.set_token(&f.device.device_id, t)?;
        }
        // The key a device proved while accepting our token is pinned (trust
        // on first use; `edgefleet pair` shows it before trusting it).
        if f.confirmed
            && f.source != Source::Mqtt
            && !opts.pins.contains_key(&f.device.device_id)
            && let Some(fp) = &f.device.key_fingerprint
        {
            store.set_key_fingerprint(&f.device.device_id, fp)?;
        }
    }
    store.audit(now, "scan", "fleet", &format!("{} device(s) found", found.len()))?;
    if args.json {
        let rows: Vec<Row> = found.iter().map(row).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if found.is_empty() {
        println!(
            "no agents found (try --interface lo for local agents, or --sweep CIDR:PORTS where multicast is blocked)"
        );
        return Ok(());
    }
    println!(
        "{:<24} {:<18} {:<21} {:>5} {:>8} {:<8} {:<6} NOTE",
        "DEVICE", "TYPE", "ADDRESS", "CORES", "MEM MB", "STATUS", "SOURCE"
    );
    for f in &found {
        let note = match (&f.problem, f.device.simulated) {
            (Some(p), _) => p.clone(),
            (None, true) => "simulated".into(),
            (None, false) => String::new(),
        };
        println!(
            "{:<24} {:<18} {:<21} {:>5} {:>8} {:<8} {:<6} {note}",
            f.device.device_id,
            f.device.device_type.as_str(),
            f.addr.to_string(),
            f.device.cpu_cores,
            f.device.memory_mb,
            f.device.status.as_str(),
            f.source.as_str()
        );
    }
    println!("{} device(s)", found.len());
    Ok(())
}
