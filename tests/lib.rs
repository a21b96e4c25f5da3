//! Shared helpers for the end-to-end tests: simulated fleets on loopback and
//! waiting on the fleet engine's events.

use edgefleet_agent::{SimulateOptions, SimulatedFleet, simulate};
use edgefleet_fleet::{Event, FleetEngine};
use std::time::{Duration, Instant};

/// The token every agent of a test fleet shares.
pub const TEST_TOKEN: &str = "e2e-test-token";

/// `count` simulated agents on 127.0.0.1, advertised on `lo` only.
pub async fn loopback_fleet(count: usize, seed: u64, dir: &std::path::Path, advertise: bool) -> SimulatedFleet {
    let mut opts = SimulateOptions::loopback(count, dir);
    opts.seed = seed;
    opts.token = Some(TEST_TOKEN.to_owned());
    opts.advertise = advertise;
    simulate(opts).await.expect("simulated fleet starts")
}

/// Drain engine events until `pred` has seen what it wants or `timeout`
/// passes; returns whether it did.
pub fn wait_for(engine: &FleetEngine, timeout: Duration, mut pred: impl FnMut(&Event) -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Some(ev) = engine.recv_timeout(left.min(Duration::from_millis(200)))
            && pred(&ev)
        {
            return true;
        }
    }
    false
}
