//! `edgefleet add HOST:PORT --token T`: register one agent by hand, for
//! networks where mDNS does not reach it.

use super::GlobalArgs;
use super::store_args::open_store;
use crate::bad_input;
use edgefleet_fleet::{Source, now_ms};
use edgefleet_store::DeviceRecord;

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The agent's address, e.g. 192.0.2.10:8470.
    pub addr: String,
    /// Print the device as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &GlobalArgs, args: AddArgs) -> anyhow::Result<()> {
    let addr = match edgefleet_fleet::engine::resolve_addr(&args.addr) {
        Ok(a) => a,
        Err(e) => bad_input!("{e}"),
    };
    let store = open_store(global)?;
    // Stored tokens and pinned keys too: an address claiming a paired
    // device with another key is refused before any token is sent.
    let creds = super::scan_cmd::credentials(&store, global)?;
    let found = super::runtime()?.block_on(async {
        let http = edgefleet_fleet::http_client()?;
        edgefleet_fleet::scan::confirm(&http, addr, None, Source::Manual, &creds).await
    })?;
    if !found.confirmed {
        anyhow::bail!("{addr} did not confirm: {}", found.problem.as_deref().unwrap_or("unknown reason"));
    }
    let now = now_ms();
    store.upsert_device(&DeviceRecord {
        device: found.device.clone(),
        address: Some(addr.ip().to_string()),
        port: Some(addr.port()),
        source: Source::Manual.as_str().to_owned(),
        first_seen_ms: now,
        last_seen_ms: now,
    })?;
    if let Some(t) = &global.token {
        store.set_token(&found.device.device_id, t)?;
    }
    // The key it proved with the token accepted is its key from now on.
    if let Some(fp) = &found.device.key_fingerprint
        && store.key_fingerprint(&found.device.device_id)?.is_none()
    {
        store.set_key_fingerprint(&found.device.device_id, fp)?;
        println!("key {fp} pinned for {}", found.device.device_id);
    }
    store.audit(now, "device.added", &found.device.device_id, &addr.to_string())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found.device)?);
    } else {
        println!("added {} ({}) at {addr}", found.device.device_id, found.device.device_type.label());
    }
    Ok(())
}
