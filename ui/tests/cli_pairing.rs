//! `edgefleet pair` and `edgefleet unpair` on a real registry file, against
//! a real agent serving HTTPS on 127.0.0.1: pairing checks the key the
//! agent proves against `--expect-fingerprint` and the token with exactly
//! that key, then stores both and pins the console's signing key there.

use edgefleet_agent::{AgentConfig, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_store::{DeviceRecord, Store};
use std::path::Path;
use std::process::{Command, Output};

fn edgefleet(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgefleet"))
        .arg("--db")
        .arg(db)
        .env_remove("EDGEFLEET_DB")
        .env_remove("EDGEFLEET_TOKEN")
        .args(args)
        .output()
        .expect("run edgefleet")
}

#[test]
fn pair_checks_the_key_then_unpair_forgets_token_and_key() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let mut config =
        AgentConfig::new(Device::new("cam-1", DeviceType::SmartCamera, 4, 2048, 32.0), dir.path().join("agent"));
    config.token = Some("lab-token-123".into());
    config.tls = true;
    config.benchmark_duration = std::time::Duration::from_millis(10);
    let agent = rt.block_on(spawn(config)).expect("agent");
    let db = dir.path().join("registry.db");
    {
        let store = Store::open(&db).expect("open");
        store
            .upsert_device(&DeviceRecord {
                device: Device::new("cam-1", DeviceType::SmartCamera, 4, 2048, 32.0),
                address: Some(agent.addr.ip().to_string()),
                port: Some(agent.addr.port()),
                source: "manual".into(),
                first_seen_ms: 1,
                last_seen_ms: 1,
            })
            .expect("register");
    }
    // Another key than the one the agent printed: refused, nothing stored.
    let wrong = "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AA";
    let out = edgefleet(&db, &["pair", "cam-1", "--token", "lab-token-123", "--expect-fingerprint", wrong]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("presents key {}", agent.fingerprint)));
    assert_eq!(Store::open(&db).expect("open").token("cam-1").expect("token"), None);
    // Not on a terminal and no fingerprint given: it says what to compare, stores nothing.
    let out = edgefleet(&db, &["pair", "cam-1", "--token", "lab-token-123"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--expect-fingerprint"));
    // A wrong token with the right key: refused.
    let out =
        edgefleet(&db, &["pair", "cam-1", "--token", "not-the-token", "--expect-fingerprint", &agent.fingerprint]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the token"));

    let out =
        edgefleet(&db, &["pair", "cam-1", "--token", "lab-token-123", "--expect-fingerprint", &agent.fingerprint]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("key {} pinned", agent.fingerprint)), "{stdout}");
    assert!(stdout.contains("runs only models signed by this console"), "{stdout}");
    let store = Store::open(&db).expect("open");
    assert_eq!(store.token("cam-1").expect("token").as_deref(), Some("lab-token-123"));
    assert_eq!(store.key_fingerprint("cam-1").expect("key").as_deref(), Some(agent.fingerprint.as_str()));
    drop(store);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.path().join("model-signing.key");
        assert_eq!(std::fs::metadata(&key).expect("signing key").permissions().mode() & 0o777, 0o600);
    }

    // Another agent claiming cam-1 (its own key) answers a sweep: the scan
    // warns, and the registry keeps the real device's address.
    let other_dir = dir.path().join("impostor");
    let mut config = AgentConfig::new(Device::new("cam-1", DeviceType::SmartCamera, 4, 2048, 32.0), &other_dir);
    config.token = Some("lab-token-123".into());
    config.tls = true;
    config.benchmark_duration = std::time::Duration::from_millis(10);
    let impostor = rt.block_on(spawn(config)).expect("impostor");
    let sweep = format!("127.0.0.1/32:{}", impostor.addr.port());
    let out =
        edgefleet(&db, &["scan", "--no-mdns", "--sweep", &sweep, "--token", "lab-token-123", "--timeout-ms", "3000"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: device cam-1 now presents a different key"), "{stderr}");
    let rec = Store::open(&db).expect("open").get_device("cam-1").expect("get").expect("cam-1");
    assert_eq!(rec.port, Some(agent.addr.port()), "the entry was re-pointed to the impostor");
    rt.block_on(impostor.shutdown());

    let out = edgefleet(&db, &["unpair", "cam-1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "unpaired cam-1");
    let store = Store::open(&db).expect("open");
    assert_eq!(store.token("cam-1").expect("token"), None);
    assert_eq!(store.key_fingerprint("cam-1").expect("key"), None);
    assert!(store.get_device("cam-1").expect("get").is_some(), "the device stays registered");

    let out = edgefleet(&db, &["unpair", "ghost"]);
    assert_eq!(out.status.code(), Some(2), "an unknown device is bad input");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no device `ghost`"));
    rt.block_on(agent.shutdown());
}
