//! The per-call overhead, refined while the agent runs: the start-up
//! probe's figure is only a first reading.
//!
//! Why: on a shared or virtual machine a core alternates between a fast and
//! a slow state for stretches of a tenth of a second to over a second. On
//! the 2-core VM this was written on, the p50 of 200 near-empty calls,
//! sampled every 100 ms in one process, read either 10.5–12 µs or 15–19 µs;
//! the start-up probe (a few tenths of a second) can fall wholly in a slow
//! stretch, while the models' own benchmarks, spread over seconds, mostly
//! see the fast one. A 1.6× too-high overhead puts every small model's
//! estimate that far off, and calibration from a large model (whose calls
//! say little about overhead) cannot correct it.
//!
//! So the agent samples the overhead again — 200 near-empty calls, about
//! 3 ms of one core — [`EARLY_SAMPLES`] times [`EARLY_EVERY`] apart after
//! start, then every [`LATER_EVERY`], and keeps the lowest p50: what a call
//! costs here when nothing slows it (the load is accounted for apart, as the
//! scheduler share). It skips a sample while a benchmark runs, so it never
//! disturbs one. `/v1/info` reports the figure kept
//! ([`crate::app_state::BestOverhead`]).

use crate::app_state::AppState;
use crate::gflops::{call_overhead_p50_ms, overhead_runner};
use edgefleet_optimize::Runner;
use std::sync::Arc;
use std::time::Duration;

/// Samples soon after start, and how far apart.
pub const EARLY_SAMPLES: u32 = 40;
pub const EARLY_EVERY: Duration = Duration::from_millis(250);
/// Then one sample this often.
pub const LATER_EVERY: Duration = Duration::from_secs(60);
/// Near-empty calls per sample.
const CALLS: usize = 200;

/// One sample: the p50 of [`CALLS`] near-empty calls, ms; `None` while a
/// benchmark runs.
fn sample(tiny: &Runner) -> Option<Result<f64, edgefleet_optimize::OptimizeError>> {
    let _quiet = crate::bench_routes::BENCH_LOCK.try_lock().ok()?;
    Some(call_overhead_p50_ms(tiny, CALLS))
}

/// Sample the overhead for as long as the agent runs (abort the task to
/// stop it), lowering `state.best_overhead` when a sample is lower.
pub(crate) async fn refine_overhead(state: Arc<AppState>) {
    let runtime = state.runtime.clone();
    let tiny = match tokio::task::spawn_blocking(move || overhead_runner(runtime.as_ref())).await {
        Ok(Ok(r)) => Arc::new(r),
        Ok(Err(e)) => return tracing::warn!("cannot refine the call overhead: {e}"),
        Err(e) => return tracing::warn!("cannot refine the call overhead: {e}"),
    };
    for n in 0u32.. {
        tokio::time::sleep(if n < EARLY_SAMPLES { EARLY_EVERY } else { LATER_EVERY }).await;
        let runner = tiny.clone();
        match tokio::task::spawn_blocking(move || sample(&runner)).await {
            Ok(Some(Ok(ms))) => state.best_overhead.offer(ms),
            Ok(None) => {}
            Ok(Some(Err(e))) => return tracing::warn!("cannot refine the call overhead: {e}"),
            Err(e) => return tracing::warn!("cannot refine the call overhead: {e}"),
        }
    }
}
