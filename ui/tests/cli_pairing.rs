//! `edgefleet pair` and `edgefleet unpair` on a real registry file.

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
fn pair_then_unpair_forgets_the_token_and_keeps_the_device() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("registry.db");
    {
        let store = Store::open(&db).expect("open");
        store
            .upsert_device(&DeviceRecord {
                device: Device::new("cam-1", DeviceType::SmartCamera, 4, 2048, 32.0),
                address: Some("127.0.0.1".into()),
                port: Some(7070),
                source: "manual".into(),
                first_seen_ms: 1,
                last_seen_ms: 1,
            })
            .expect("register");
    }
    let out = edgefleet(&db, &["pair", "cam-1", "--token", "lab-token-123"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(Store::open(&db).expect("open").token("cam-1").expect("token").as_deref(), Some("lab-token-123"));

    let out = edgefleet(&db, &["unpair", "cam-1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "unpaired cam-1");
    let store = Store::open(&db).expect("open");
    assert_eq!(store.token("cam-1").expect("token"), None);
    assert!(store.get_device("cam-1").expect("get").is_some(), "the device stays registered");

    let out = edgefleet(&db, &["unpair", "ghost"]);
    assert_eq!(out.status.code(), Some(2), "an unknown device is bad input");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no device `ghost`"));
}
