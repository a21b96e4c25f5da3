//! The database file: data survives reopening, migrations are idempotent,
//! and files this build does not understand are refused byte-for-byte intact.

// Setup helpers outside #[test] fns: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use edgefleet_core::{Device, DeviceStatus, DeviceType, Location};
use edgefleet_store::{DeviceRecord, NewDeployment, NewModel, Store, StoreError, TelemetrySample, latest_version};
use std::path::Path;

fn device_record(id: &str, seen_ms: u64) -> DeviceRecord {
    let mut device = Device::new(id, DeviceType::EdgeServer, 8, 16_384, 256.0);
    device.location = Some(Location { latitude: 52.5, longitude: 13.4 });
    device.capabilities = vec!["fp16".into()];
    DeviceRecord {
        device,
        address: Some("127.0.0.1".into()),
        port: Some(8443),
        source: "manual".into(),
        first_seen_ms: seen_ms,
        last_seen_ms: seen_ms,
    }
}

fn new_model() -> NewModel {
    NewModel {
        name: "digits".into(),
        version: "1".into(),
        path: "/models/digits-1.onnx".into(),
        sha256: "12".repeat(32),
        size_bytes: 9_000,
        profile: None,
        parent_id: None,
        recipe: None,
        metrics: Some(serde_json::json!({"accuracy": 0.95})),
        created_ms: 7,
    }
}

fn new_deployment() -> NewDeployment {
    NewDeployment {
        model_name: "digits".into(),
        model_version: "1".into(),
        sha256: "12".repeat(32),
        model_path: "/models/digits-1.onnx".into(),
        size_bytes: 9_000,
        plan: serde_json::json!({"canary": "srv-1"}),
        targets: vec!["srv-1".into(), "srv-2".into()],
        created_ms: 50,
    }
}

fn fill(s: &Store) -> (i64, i64) {
    s.upsert_device(&device_record("srv-1", 10)).unwrap();
    s.upsert_device(&device_record("srv-1", 20)).unwrap();
    s.set_device_status("srv-1", DeviceStatus::Offline, 30).unwrap();
    s.set_token("srv-1", "tok-123").unwrap();
    let model_id = s.add_model(&new_model()).unwrap();
    let dep_id = s.create_deployment(&new_deployment()).unwrap();
    s.upsert_step(dep_id, "srv-1", "active", 9_000, Some("healthy"), 60).unwrap();
    s.set_deployment_state(dep_id, "canary", None, 61).unwrap();
    let sample = TelemetrySample { at_ms: 1_500, cpu_load: 0.5, memory_used_mb: 512.0, p99_ms: Some(4.0), qps: 12.0 };
    s.record_telemetry("srv-1", &sample, 1_000).unwrap();
    s.audit(70, "deploy", "digits@1", "to srv-1, srv-2").unwrap();
    (model_id, dep_id)
}

#[test]
fn every_table_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let store = Store::open(&path).unwrap();
    let (model_id, dep_id) = fill(&store);
    let before = (
        store.list_devices().unwrap(),
        store.sightings("srv-1", 10).unwrap(),
        store.list_models().unwrap(),
        store.list_deployments().unwrap(),
        store.telemetry("srv-1", 0).unwrap(),
        store.recent_audit(10).unwrap(),
    );
    assert_eq!(store.path().as_deref(), Some(path.as_path()));
    drop(store);

    let store = Store::open(&path).unwrap();
    let after = (
        store.list_devices().unwrap(),
        store.sightings("srv-1", 10).unwrap(),
        store.list_models().unwrap(),
        store.list_deployments().unwrap(),
        store.telemetry("srv-1", 0).unwrap(),
        store.recent_audit(10).unwrap(),
    );
    assert_eq!(before, after);

    // Spot-check the values themselves, not only that they round-trip.
    let dev = store.get_device("srv-1").unwrap().unwrap();
    assert_eq!(dev.device.status, DeviceStatus::Offline);
    assert_eq!((dev.first_seen_ms, dev.last_seen_ms), (10, 20));
    assert_eq!(dev.device.location, Some(Location { latitude: 52.5, longitude: 13.4 }));
    assert_eq!(store.token("srv-1").unwrap().as_deref(), Some("tok-123"));
    assert_eq!(after.1.len(), 2);
    assert_eq!(store.get_model(model_id).unwrap().unwrap().metrics, new_model().metrics);
    let dep = store.get_deployment(dep_id).unwrap().unwrap();
    assert_eq!(dep.state, "canary");
    assert_eq!(dep.steps[0].bytes_sent, 9_000);
    assert_eq!(store.unfinished_deployments().unwrap().len(), 1);
    assert_eq!(after.4[0].p99_ms, Some(4.0));
    assert_eq!(after.5[0].action, "deploy");
}

#[test]
fn migrations_are_idempotent_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), latest_version());
    fill(&store);
    drop(store);
    for _ in 0..3 {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), latest_version());
        assert_eq!(store.list_devices().unwrap().len(), 1);
        assert_eq!(store.list_models().unwrap().len(), 1);
    }
    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn foreign_keys_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fk.db");
    drop(Store::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "foreign_keys", true).unwrap();
    // A sighting of a device the registry does not know would be an orphan.
    assert!(raw.execute("INSERT INTO sightings (device_id, at_ms, source) VALUES ('ghost', 1, 'mdns')", []).is_err());
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn newer_schema_is_refused_and_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    {
        let store = Store::open(&path).unwrap();
        fill(&store);
    }
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.pragma_update(None, "user_version", latest_version() + 5).unwrap();
        // Leave the file in rollback-journal mode with everything in the main file.
        let _: String = raw.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0)).unwrap();
    }
    let original = bytes(&path);

    let err = Store::open(&path).unwrap_err();
    match &err {
        StoreError::SchemaTooNew { found, supported, .. } => {
            assert_eq!((*found, *supported), (latest_version() + 5, latest_version()));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("newer") || message.contains("only knows"), "{message}");
    assert!(message.contains("future.db"), "{message}");
    assert_eq!(bytes(&path), original, "a refused file must not be modified");
    assert!(!dir.path().join("future.db-wal").exists());
}

#[test]
fn random_bytes_are_refused_and_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    for (name, len) in [("noise.db", 8_192usize), ("short.db", 37), ("page.db", 100)] {
        let path = dir.path().join(name);
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64;
        let noise: Vec<u8> = (0..len)
            .map(|_| {
                // xorshift: deterministic noise without a dependency
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        std::fs::write(&path, &noise).unwrap();

        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains("not an SQLite database"), "{err}");
        assert_eq!(bytes(&path), noise, "{name} must not be modified");
    }
}

#[test]
fn a_foreign_sqlite_file_is_refused_and_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other-app.db");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch("CREATE TABLE devices (whatever TEXT); INSERT INTO devices VALUES ('keep me');").unwrap();
    }
    let original = bytes(&path);
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::ForeignDatabase { .. }), "{err:?}");
    assert_eq!(bytes(&path), original);

    let path = dir.path().join("tagged.db");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.pragma_update(None, "application_id", 1234).unwrap();
    }
    let original = bytes(&path);
    assert!(matches!(Store::open(&path), Err(StoreError::ForeignDatabase { .. })));
    assert_eq!(bytes(&path), original);
}

#[test]
fn an_empty_file_becomes_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), latest_version());
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no").join("such").join("dir.db");
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("dir.db"), "{err}");
}

#[test]
fn two_connections_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let writer = Store::open(&path).unwrap();
    let reader = Store::open(&path).unwrap();
    writer.audit(1, "pair", "srv-1", "").unwrap();
    assert_eq!(reader.recent_audit(5).unwrap().len(), 1);
    // A store moves to another thread (the fleet engine's worker).
    let handle = std::thread::spawn(move || writer.audit(2, "deploy", "srv-1", "").map(|()| writer));
    let writer = handle.join().unwrap().unwrap();
    assert_eq!(reader.recent_audit(5).unwrap().len(), 2);
    drop(writer);
}
