//! mDNS on the loopback interface only: an advertised agent is found with
//! its TXT record, and its goodbye removes it.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use edgefleet_core::wire::SERVICE_TYPE;
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent};
use std::time::{Duration, Instant};

fn loopback_browser() -> (ServiceDaemon, mdns_sd::Receiver<ServiceEvent>) {
    let daemon = ServiceDaemon::new().unwrap();
    daemon.disable_interface(IfKind::All).unwrap();
    daemon.enable_interface("lo").unwrap();
    let rx = daemon.browse(SERVICE_TYPE).unwrap();
    (daemon, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_advertised_on_lo_is_found_with_its_txt_and_says_goodbye() {
    let agent = common::start("mdns-test-dev", |c| {
        c.advertise = true;
        c.interfaces = vec!["lo".into()];
        c.device.name = Some("Loopback board".into());
        c.device.location = Some(edgefleet_core::Location { latitude: 48.85, longitude: 2.35 });
    })
    .await;
    let (browser, rx) = loopback_browser();
    let port = agent.handle.addr.port();

    let rx2 = rx.clone();
    let resolved = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(ev) = rx2.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if let ServiceEvent::ServiceResolved(s) = ev
                && s.get_property_val_str("id") == Some("mdns-test-dev")
            {
                return Some(s);
            }
        }
        None
    })
    .await
    .unwrap()
    .expect("agent found on lo within 10 s");
    assert_eq!(resolved.get_port(), port);
    assert_eq!(resolved.get_hostname(), "mdns-test-dev.local.");
    assert!(resolved.get_addresses_v4().contains(&std::net::Ipv4Addr::LOCALHOST));
    let txt = |k| resolved.get_property_val_str(k).map(str::to_owned);
    assert_eq!(txt("type").as_deref(), Some("embedded_device"));
    assert_eq!(txt("cores").as_deref(), Some("2"));
    assert_eq!(txt("mem_mb").as_deref(), Some("1024"));
    assert_eq!(txt("api").as_deref(), Some("v1"));
    assert_eq!(txt("lat").as_deref(), Some("48.85000"));
    assert_eq!(txt("name").as_deref(), Some("Loopback board"));
    assert_eq!(txt("sim").as_deref(), Some("0"));

    let fullname = resolved.get_fullname().to_owned();
    agent.handle.shutdown().await;
    let removed = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(ev) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if let ServiceEvent::ServiceRemoved(_, name) = ev
                && name == fullname
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(removed, "goodbye seen after graceful shutdown");
    let _ = browser.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_fleet_shares_one_daemon_and_every_agent_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = edgefleet_agent::SimulateOptions::loopback(5, dir.path());
    opts.seed = 1234;
    let fleet = edgefleet_agent::simulate(opts).await.unwrap();
    let mut want: std::collections::HashSet<String> = fleet.agents().iter().map(|a| a.device_id.clone()).collect();
    let (browser, rx) = loopback_browser();
    let found = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !want.is_empty() {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(ServiceEvent::ServiceResolved(s)) => {
                    if s.get_property_val_str("sim") == Some("1")
                        && let Some(id) = s.get_property_val_str("id")
                    {
                        want.remove(id);
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        want
    })
    .await
    .unwrap();
    assert!(found.is_empty(), "not found: {found:?}");
    fleet.shutdown().await;
    let _ = browser.shutdown();
}

/// The 200-agent figure of the report: `cargo test -p edgefleet-agent
/// --test mdns -- --ignored --nocapture`. Ignored by default: it takes a
/// few seconds and floods `lo` with 200 records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn two_hundred_simulated_agents_start_and_are_all_discovered() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let fleet = edgefleet_agent::simulate(edgefleet_agent::SimulateOptions::loopback(200, dir.path())).await.unwrap();
    let startup = started.elapsed();
    let mut want: std::collections::HashSet<String> = fleet.agents().iter().map(|a| a.device_id.clone()).collect();
    let (browser, rx) = loopback_browser();
    let browse_started = Instant::now();
    let missing = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !want.is_empty() {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(ServiceEvent::ServiceResolved(s)) => {
                    if let Some(id) = s.get_property_val_str("id") {
                        want.remove(id);
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        want
    })
    .await
    .unwrap();
    let discovery = browse_started.elapsed();
    // Every agent answers HTTP.
    let client = reqwest::Client::new();
    for a in fleet.agents() {
        let r = client.get(format!("{}/v1/health", a.base_url())).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let stop = Instant::now();
    fleet.shutdown().await;
    println!(
        "200 agents: startup {startup:?}, all discovered on lo in {discovery:?}, graceful shutdown {:?}",
        stop.elapsed()
    );
    assert!(missing.is_empty(), "{} not discovered: {missing:?}", missing.len());
    let _ = browser.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_is_like_a_crash_no_goodbye_and_http_gone() {
    let agent = common::start("crash-dev", |c| {
        c.advertise = true;
        c.interfaces = vec!["lo".into()];
    })
    .await;
    let (browser, rx) = loopback_browser();
    let addr = agent.handle.addr;
    let events = tokio::task::spawn_blocking(move || {
        let mut resolved = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(ev) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if let ServiceEvent::ServiceResolved(s) = ev
                && s.get_property_val_str("id") == Some("crash-dev")
            {
                resolved = Some(s.get_fullname().to_owned());
                break;
            }
        }
        (resolved, rx)
    });
    let (resolved, rx) = events.await.unwrap();
    let fullname = resolved.expect("found before the crash");
    agent.handle.abort();
    let goodbye = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Ok(ev) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if matches!(&ev, ServiceEvent::ServiceRemoved(_, name) if *name == fullname) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(!goodbye, "an aborted agent must not say goodbye");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(reqwest::get(format!("http://{addr}/v1/health")).await.is_err(), "HTTP is gone");
    let _ = browser.shutdown();
}
