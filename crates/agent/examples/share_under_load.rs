//! How true the fit's scheduler-share model is on this machine: the share
//! of a core a new inference thread gets while `k` other threads keep the
//! cores busy, predicted by `edgefleet_core::fit::thread_share(cores,
//! load)` (load = k ÷ cores, at most 1) against measured — the calls per
//! second one thread runs a 512 × 512 dense layer at batch 64 through
//! tract while `k` threads spin, ÷ the same with none spinning (the
//! reference, measured in the same run; its absolute figure is printed).
//!
//! ```text
//! cargo run -p edgefleet-agent --example share_under_load -- [--window-ms 1500]
//! ```
//!
//! Every spinner stops at the end of its window; the run takes about
//! (cores + 2) × the window.

#[path = "../tests/common/dense.rs"]
mod dense;

use anyhow::Result;
use edgefleet_core::fit::thread_share;
use edgefleet_optimize::{Runner, TractRuntime};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const BATCH: usize = 64;

/// Calls per second of `runner` over `window`, with `spinners` threads
/// keeping cores busy meanwhile.
fn calls_per_s(runner: &Runner, data: &[f32], spinners: usize, window: Duration) -> Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..spinners)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
        .collect();
    // Let the spinners get scheduled before timing.
    std::thread::sleep(Duration::from_millis(100));
    let shape = runner.input_shape(BATCH);
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < window {
        std::hint::black_box(runner.session().run(&shape, data)?);
        calls += 1;
    }
    let rate = calls as f64 / start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    Ok(rate)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let window_ms: u64 = args
        .iter()
        .position(|a| a == "--window-ms")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
        .clamp(200, 10_000);
    let window = Duration::from_millis(window_ms);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let runner = Runner::load_bytes(&TractRuntime, &dense::dense_mlp(&[512, 512], 3))?;
    let data: Vec<f32> = (0..BATCH * 512).map(|i| (i % 17) as f32 * 0.05).collect();
    runner.session().run(&runner.input_shape(BATCH), &data)?;
    let idle = calls_per_s(&runner, &data, 0, window)?;
    println!("{cores} cores; reference: one thread alone runs {idle:.0} calls/s (512 × 512 layer, batch {BATCH})");
    println!(
        "{:>14} {:>6} {:>16} {:>15} {:>18}",
        "busy threads", "load", "predicted share", "measured share", "measured ÷ predicted"
    );
    for k in 0..=cores + 1 {
        let load = (k as f64 / cores as f64).min(1.0);
        let predicted = thread_share(cores as u32, load, 0.05);
        let measured = calls_per_s(&runner, &data, k, window)? / idle;
        println!("{k:>14} {load:>6.2} {predicted:>16.2} {measured:>15.2} {:>18.2}", measured / predicted);
    }
    Ok(())
}
