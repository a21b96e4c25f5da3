//! Discovery end to end: real simulated agents on 127.0.0.1, mDNS on `lo`,
//! found by `scan` and tracked by the fleet engine.

use edgefleet_core::{DeviceStatus, DeviceType};
use edgefleet_e2e::{TEST_TOKEN, loopback_fleet, wait_for};
use edgefleet_fleet::{Command, EngineConfig, Event, FleetEngine, ScanOptions, Source, SweepSpec, http_client, scan};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn lo_scan(token: Option<&str>) -> ScanOptions {
    ScanOptions {
        interfaces: vec!["lo".into()],
        mdns: true,
        timeout: Duration::from_millis(2500),
        sweep: None,
        tokens: HashMap::new(),
        default_token: token.map(str::to_owned),
        pins: HashMap::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_finds_three_agents_with_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = loopback_fleet(3, 11, dir.path(), true).await;
    let http = http_client().unwrap();
    let found = scan(&http, &lo_scan(Some(TEST_TOKEN))).await.unwrap();
    let ours: Vec<_> =
        found.iter().filter(|f| fleet.agents().iter().any(|a| a.device_id == f.device.device_id)).collect();
    assert_eq!(ours.len(), 3, "found: {found:#?}");
    for f in ours {
        let agent = fleet.agents().iter().find(|a| a.device_id == f.device.device_id).unwrap();
        assert_eq!(f.addr, agent.addr);
        assert_eq!(f.source, Source::Mdns);
        assert!(f.confirmed && f.paired, "{f:?}");
        assert!(f.device.simulated, "simulated agents say so");
        assert_eq!(f.device.status, DeviceStatus::Online);
        assert!(f.device.cpu_cores >= 1 && f.device.memory_mb >= 64);
        assert!(f.device.location.is_some());
    }
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_reported_per_device_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = loopback_fleet(2, 12, dir.path(), true).await;
    let http = http_client().unwrap();
    let found = scan(&http, &lo_scan(Some("not-the-token"))).await.unwrap();
    let ours: Vec<_> =
        found.iter().filter(|f| fleet.agents().iter().any(|a| a.device_id == f.device.device_id)).collect();
    assert_eq!(ours.len(), 2);
    for f in ours {
        assert!(!f.paired && !f.confirmed);
        assert_eq!(f.problem.as_deref(), Some("the token was refused"));
        // The TXT description is still shown.
        assert!(f.device.memory_mb > 0);
    }
    fleet.shutdown().await;
}

/// Something on the swept range that is not an agent, and an mDNS record
/// with a malformed TXT, never stop the others from being found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_finds_agents_and_survives_bad_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = loopback_fleet(3, 13, dir.path(), false).await;
    // A port that speaks garbage.
    let junk = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let junk_port = junk.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = junk.accept().await {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nnope!").await;
        }
    });
    // A bad mDNS record on lo.
    let daemon = edgefleet_fleet::discovery::daemon_on(&["lo".to_owned()]).unwrap();
    let bad = mdns_sd::ServiceInfo::new(
        edgefleet_core::wire::SERVICE_TYPE,
        "broken-board",
        "broken-board.local.",
        "127.0.0.1",
        1,
        &[("id", "broken-board"), ("type", "toaster"), ("cores", "many"), ("api", "v1")][..],
    )
    .unwrap();
    daemon.register(bad).unwrap();

    let ports: Vec<u16> = fleet.agents().iter().map(|a| a.addr.port()).chain([junk_port]).collect();
    let (lo, hi) = (*ports.iter().min().unwrap(), *ports.iter().max().unwrap());
    let spec: SweepSpec = format!("127.0.0.1/32:{lo}-{hi}").parse().unwrap();
    let mut opts = lo_scan(Some(TEST_TOKEN));
    opts.sweep = Some(spec);
    opts.timeout = Duration::from_millis(1500);
    let found = scan(&http_client().unwrap(), &opts).await.unwrap();
    let ids: HashSet<&str> = found.iter().map(|f| f.device.device_id.as_str()).collect();
    for a in fleet.agents() {
        assert!(ids.contains(a.device_id.as_str()), "{} missing from {ids:?}", a.device_id);
    }
    assert!(!ids.contains("broken-board"));
    assert!(
        found
            .iter()
            .filter(|f| fleet.agents().iter().any(|a| a.device_id == f.device.device_id))
            .all(|f| f.source == Source::Sweep)
    );
    let _ = daemon.shutdown();
    fleet.shutdown().await;
}

#[test]
fn engine_tracks_liveness_and_writes_the_store() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut fleet = rt.block_on(loopback_fleet(3, 14, dir.path(), true));
    let ids: Vec<String> = fleet.agents().iter().map(|a| a.device_id.clone()).collect();
    let store = Arc::new(Mutex::new(edgefleet_store::Store::open(&dir.path().join("fleet.db")).unwrap()));
    let config = EngineConfig {
        interfaces: vec!["lo".into()],
        poll_interval_ms: 200,
        default_token: Some(TEST_TOKEN.into()),
        store: Some(store.clone()),
        telemetry_bucket_ms: 1_000,
        ..EngineConfig::default()
    };
    let engine = FleetEngine::start(config, || {}).unwrap();

    let mut seen = HashSet::new();
    let mut metrics_for = HashSet::new();
    assert!(
        wait_for(&engine, Duration::from_secs(10), |ev| {
            match ev {
                Event::Device(s) if ids.contains(&s.device.device_id) => {
                    seen.insert(s.device.device_id.clone());
                }
                Event::Metrics { device_id, metrics, .. } if ids.contains(device_id) => {
                    assert!(metrics.memory_total_mb > 0);
                    metrics_for.insert(device_id.clone());
                }
                _ => {}
            }
            seen.len() == 3 && metrics_for.len() == 3
        }),
        "devices {seen:?}, metrics {metrics_for:?}"
    );

    // A graceful stop says goodbye: Offline at once.
    let leaving = fleet.take(0);
    let leaving_id = leaving.device_id.clone();
    rt.block_on(leaving.shutdown());
    assert!(
        wait_for(
            &engine,
            Duration::from_secs(6),
            |ev| matches!(ev, Event::Status { device_id, status: DeviceStatus::Offline } if *device_id == leaving_id)
        ),
        "{leaving_id} never went offline"
    );

    // A crash says nothing: missed heartbeats make it Stale, then Offline.
    let crashing = fleet.take(0);
    let crashed_id = crashing.device_id.clone();
    crashing.abort();
    let mut stale = false;
    assert!(
        wait_for(&engine, Duration::from_secs(12), |ev| match ev {
            Event::Status { device_id, status } if *device_id == crashed_id => {
                stale |= *status == DeviceStatus::Stale;
                *status == DeviceStatus::Offline
            }
            _ => false,
        }),
        "{crashed_id} never went offline"
    );
    assert!(stale, "went Offline without passing Stale");

    // Manual add of a device mDNS did not announce (a fresh agent, not advertised).
    let extra_dir = tempfile::tempdir().unwrap();
    let extra = rt.block_on(loopback_fleet(1, 15, extra_dir.path(), false));
    let extra_id = extra.agents()[0].device_id.clone();
    engine
        .send(Command::AddManual { addr: extra.agents()[0].addr.to_string(), token: Some(TEST_TOKEN.into()) })
        .unwrap();
    assert!(wait_for(
        &engine,
        Duration::from_secs(5),
        |ev| matches!(ev, Event::Device(s) if s.device.device_id == extra_id && s.source == Source::Manual)
    ));
    engine.shutdown();

    // Nothing is deleted, and the registry survives in SQLite.
    let store = store.lock().unwrap();
    let recs = store.list_devices().unwrap();
    for id in ids.iter().chain([&extra_id]) {
        assert!(recs.iter().any(|r| &r.device.device_id == id), "{id} not stored");
    }
    let left = store.get_device(&leaving_id).unwrap().unwrap();
    assert_eq!(left.device.status, DeviceStatus::Offline);
    assert!(!store.telemetry(&ids[2], 0).unwrap().is_empty(), "telemetry stored");
    assert!(recs.iter().all(|r| DeviceType::ALL.contains(&r.device.device_type)));
    rt.block_on(fleet.shutdown());
    rt.block_on(extra.shutdown());
}
