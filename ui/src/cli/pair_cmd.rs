//! `edgefleet pair DEVICE_ID --token-file F`: check which key the device
//! proves over TLS, show it (or compare it with `--expect-fingerprint`),
//! check the token with exactly that key, then store token and key
//! together; from then on the device is reached only over TLS with that
//! key. With `--broker URL --fleet NAME` a device found through that broker
//! is paired through it instead (the token checked with a `models` command,
//! this console's key pinned with `trust`): for a device the console cannot
//! reach over HTTP. `edgefleet unpair DEVICE_ID`: forget both.

use super::GlobalArgs;
use super::store_args::open_store;
use crate::bad_input;
use edgefleet_fleet::{AgentClient, FleetError, http_client};
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, clap::Args)]
pub struct PairArgs {
    /// The device id (as `edgefleet scan` prints it).
    pub device_id: String,
    /// The key fingerprint the agent printed at start (`fingerprint …`):
    /// pairing fails unless the device proves exactly this key.
    #[arg(long, value_name = "FINGERPRINT")]
    pub expect_fingerprint: Option<String>,
    /// Trust the key the device presents without asking (scripts; prefer
    /// --expect-fingerprint).
    #[arg(long)]
    pub yes: bool,
    /// Replace the model-signing key another console pinned on the device
    /// (it then runs only models signed by this console).
    #[arg(long)]
    pub replace_console_key: bool,
    /// Pair a device found through this broker through it (it proves no
    /// key there: only the token is checked and this console's key pinned).
    #[command(flatten)]
    pub broker: super::broker_cmd::BrokerFlags,
}

/// Which key the device at `addr` proves, and the id it claims: `None` key
/// for a plain-HTTP agent (`--insecure-http`).
async fn presented_key(addr: SocketAddr) -> anyhow::Result<(Option<String>, Option<String>)> {
    let http = http_client()?;
    let (health, key) = match AgentClient::tls_probe(http.clone(), addr).health_and_key().await {
        Ok(answer) => answer,
        Err(_) => (AgentClient::new(http, addr, None).health().await?, None),
    };
    Ok((key, health.device_id))
}

/// Ask on the terminal whether `fingerprint` is the one the device printed.
fn confirmed_on_terminal(device_id: &str, fingerprint: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bad_input!(
            "{device_id} presents key {fingerprint}; compare it with the agent's `fingerprint` line and pass --expect-fingerprint {fingerprint} (or --yes)"
        );
    }
    eprint!("{device_id} presents key {fingerprint}\nIs this the fingerprint the agent printed? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub fn run(global: &GlobalArgs, args: PairArgs) -> anyhow::Result<()> {
    let Some(token) = global.token.as_deref().filter(|t| !t.trim().is_empty()) else {
        bad_input!(
            "give the device's token with --token-file FILE or --token T (the agent prints it when it first starts)"
        )
    };
    let store = open_store(global)?;
    let Some(rec) = store.get_device(&args.device_id)? else {
        bad_input!("{} is not in the registry: find it first with `edgefleet scan` or `edgefleet add`", args.device_id)
    };
    if args.broker.broker.is_some() {
        return pair_through_broker(global, &args, &store, token);
    }
    let (Some(address), Some(port)) = (rec.address.as_deref(), rec.port) else {
        bad_input!("{} has no known address: run `edgefleet scan` or `edgefleet add HOST:PORT`", args.device_id)
    };
    let Ok(ip) = address.parse::<IpAddr>() else {
        bad_input!("{} has an unusable address `{address}`", args.device_id)
    };
    let addr = SocketAddr::new(ip, port);
    let rt = super::runtime()?;
    let (key, claimed) = rt.block_on(presented_key(addr))?;
    if let Some(other) = claimed.filter(|c| c != &args.device_id) {
        bad_input!("the agent at {addr} says it is `{other}`, not `{}`: nothing stored", args.device_id);
    }
    match (&key, &args.expect_fingerprint) {
        (None, Some(_)) => {
            bad_input!("{} speaks plain HTTP (--insecure-http): it has no key to check; nothing stored", args.device_id)
        }
        (None, None) => {
            eprintln!("warning: {} speaks plain HTTP: the token crosses the network in clear", args.device_id)
        }
        (Some(fp), Some(expected)) if !same_fingerprint(fp, expected) => {
            bad_input!("{} presents key {fp}, not {expected}: nothing stored", args.device_id)
        }
        (Some(_), Some(_)) => {}
        (Some(fp), None) => {
            println!("{} presents key {fp}", args.device_id);
            if !args.yes && !confirmed_on_terminal(&args.device_id, fp)? {
                bad_input!("not confirmed: nothing stored");
            }
        }
    }
    // The token must work with exactly that key before either is stored.
    let client = AgentClient::for_device(http_client()?, addr, key.as_deref(), Some(token.to_owned()));
    if let Err(e) = rt.block_on(client.info()) {
        match e.status() {
            Some(401) => bad_input!("{} refused the token: nothing stored", args.device_id),
            _ => anyhow::bail!("cannot check the token with {}: {e}", args.device_id),
        }
    }
    store.set_token(&args.device_id, token)?;
    let detail = match &key {
        Some(fp) => {
            store.set_key_fingerprint(&args.device_id, fp)?;
            format!("token stored, key {fp} pinned")
        }
        None => {
            store.clear_key_fingerprint(&args.device_id)?;
            "token stored (plain HTTP, no key)".to_owned()
        }
    };
    // The device pins this console's model-signing key: from now on it
    // activates only models this console signed.
    let signer = super::store_args::open_signer(global)?;
    let trust = rt.block_on(client.with_signer(Some(signer)).trust(args.replace_console_key));
    finish(&store, &args.device_id, detail, trust)
}

/// Record and say how pinning this console's key went.
fn finish(
    store: &edgefleet_store::Store,
    device_id: &str,
    detail: String,
    trust: Result<edgefleet_core::wire::TrustResponse, FleetError>,
) -> anyhow::Result<()> {
    let detail = match trust {
        Ok(r) if r.require_signed => format!("{detail}; it runs only models signed by this console"),
        Ok(_) => format!("{detail}; console key pinned (the agent allows unsigned models)"),
        Err(e) if e.status() == Some(409) => bad_input!(
            "{device_id} trusts another console's model-signing key; pass --replace-console-key to replace it ({detail})"
        ),
        Err(e) => anyhow::bail!("{detail}, but the console key could not be pinned: {e}"),
    };
    store.audit(edgefleet_fleet::now_ms(), "device.paired", device_id, &detail)?;
    println!("paired {device_id}: {detail}");
    Ok(())
}

/// Pair a device found through the broker, through it: the token must be
/// accepted (a `models` command) before it is stored, then this console's
/// model-signing key is pinned with a `trust` command. The broker relays
/// whatever a device says, so no device key is proven or pinned here.
fn pair_through_broker(
    global: &GlobalArgs,
    args: &PairArgs,
    store: &edgefleet_store::Store,
    token: &str,
) -> anyhow::Result<()> {
    let id = &args.device_id;
    if args.expect_fingerprint.is_some() {
        bad_input!("{id} is paired through the broker, where it proves no key: drop --expect-fingerprint");
    }
    let (directory, _) = super::deploy_cmd::directory_from_store(store, global)?;
    let rt = super::runtime()?;
    let watch = super::broker_cmd::attach(&rt, &args.broker, &directory)?;
    let Some(link) = directory.link(id).filter(edgefleet_fleet::device_link::DeviceLink::is_broker) else {
        bad_input!("{id} was not found through a broker (see `edgefleet devices`): pair it without --broker")
    };
    let link = link.with_token(Some(token.to_owned()));
    if let Err(e) = rt.block_on(link.models()) {
        match e.status() {
            Some(401) => bad_input!("{id} refused the token: nothing stored"),
            _ => anyhow::bail!("cannot check the token with {id} through the broker: {e}"),
        }
    }
    store.set_token(id, token)?;
    let trust = rt.block_on(link.trust(args.replace_console_key));
    if let Some(w) = watch {
        w.stop();
    }
    finish(store, id, "token stored (through the broker, no device key)".to_owned(), trust)
}

/// Two fingerprints are the same key: equal once separators and case are
/// ignored (the full form, not a short prefix).
fn same_fingerprint(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.chars().filter(|c| *c != '-' && !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    norm(a) == norm(b)
}

#[derive(Debug, clap::Args)]
pub struct UnpairArgs {
    /// The device id (as `edgefleet devices` prints it).
    pub device_id: String,
}

/// Forget the token kept for a device; the device stays registered.
pub fn unpair(global: &GlobalArgs, args: UnpairArgs) -> anyhow::Result<()> {
    let store = open_store(global)?;
    if store.get_device(&args.device_id)?.is_none() {
        bad_input!("no device `{}` in the registry (see `edgefleet devices`)", args.device_id);
    }
    store.clear_token(&args.device_id)?;
    store.clear_key_fingerprint(&args.device_id)?;
    store.audit(edgefleet_fleet::now_ms(), "device.unpaired", &args.device_id, "token and key forgotten")?;
    println!("unpaired {}", args.device_id);
    Ok(())
}
