//! Unit tests of the memory calibration: heap runs count whatever the
//! model's size, RSS runs hidden by the allocator's reuse do not.

use super::*;
use crate::wire::BatchLatency;

const BATCHES: [u32; 4] = [1, 8, 32, 128];

/// A run of a model with `weights_mb` of weights and `act_kb` of
/// activations a sample, on a device whose runtime keeps `overhead_mb` and
/// whose activations take `factor` × the profile's; `peak_mb` is what the
/// agent reported per batch.
fn run(weights_mb: f64, act_kb: u64, overhead_mb: f64, factor: f64, memory: BenchmarkMemory) -> BenchmarkRun {
    let act_bytes = act_kb * 1024;
    let results = BATCHES
        .iter()
        .map(|&b| BatchLatency {
            batch: b,
            latency_ms_p50: 1.0,
            latency_ms_p90: 1.1,
            peak_mb: Some(weights_mb + overhead_mb + f64::from(b) * act_bytes as f64 * factor / BYTES_PER_MB),
        })
        .collect();
    BenchmarkRun {
        model: "m".into(),
        flops_per_sample: 1_000_000,
        weights_bytes: (weights_mb * BYTES_PER_MB) as u64,
        activation_bytes_per_sample: act_bytes,
        results,
        memory: Some(memory),
        synthetic: false,
        convolutional: false,
        work: Default::default(),
    }
}

/// Resident memory that did not grow on loading (the allocator reused
/// freed memory), with or without heap figures beside it.
fn reused_rss(heap_load_mb: Option<f64>) -> BenchmarkMemory {
    BenchmarkMemory {
        rss_before_load_mb: 40.0,
        rss_after_load_mb: 40.0,
        load_mb: 0.0,
        heap_before_load_mb: heap_load_mb.map(|_| 12.0),
        heap_after_load_mb: heap_load_mb.map(|l| 12.0 + l),
    }
}

#[test]
fn a_small_model_counted_on_the_heap_calibrates_memory() {
    // 0.07 MB of weights: RSS showed nothing, the heap 1.2 MB.
    let runs = [run(0.07, 1, 1.13, 3.0, reused_rss(Some(1.2)))];
    assert!(runs[0].memory.as_ref().unwrap().heap());
    let (overhead, factor) = fit_memory(&runs);
    assert!((overhead.unwrap() - 1.13).abs() < 1e-5, "{overhead:?}"); // weights rounded to bytes
    assert!((factor.unwrap() - 3.0).abs() < 1e-9, "{factor:?}");
}

#[test]
fn the_same_run_reported_by_rss_alone_is_left_out() {
    let runs = [run(0.07, 1, 1.13, 3.0, reused_rss(None))];
    assert!(!runs[0].memory.as_ref().unwrap().heap());
    assert_eq!(fit_memory(&runs), (None, None));
}

#[test]
fn an_rss_run_that_grew_by_its_weights_still_counts() {
    let rss = BenchmarkMemory { rss_before_load_mb: 20.0, rss_after_load_mb: 28.0, load_mb: 8.0, ..Default::default() };
    let (overhead, factor) = fit_memory(&[run(4.0, 16, 4.0, 2.0, rss)]);
    assert!((overhead.unwrap() - 4.0).abs() < 1e-9);
    assert!((factor.unwrap() - 2.0).abs() < 1e-9);
}

#[test]
fn heap_and_rss_runs_give_the_median_and_bad_figures_are_skipped() {
    let heap = |load| reused_rss(Some(load));
    let mut bad = run(1.0, 8, 9.0, 9.0, heap(10.0));
    bad.results[1].peak_mb = Some(f64::NAN);
    let mut no_load = run(1.0, 8, 9.0, 9.0, heap(10.0));
    no_load.memory.as_mut().unwrap().heap_after_load_mb = Some(f64::INFINITY);
    let runs = [
        run(1.0, 8, 2.0, 1.0, heap(3.0)),
        run(2.0, 8, 3.0, 2.0, heap(5.0)),
        run(0.5, 8, 4.0, 4.0, reused_rss(None)), // hidden by reuse: out
        bad,
        no_load,
        run(3.0, 8, 5.0, 3.0, heap(8.0)),
    ];
    let (overhead, factor) = fit_memory(&runs);
    assert!((overhead.unwrap() - 3.0).abs() < 1e-9, "{overhead:?}");
    assert!((factor.unwrap() - 2.0).abs() < 1e-9, "{factor:?}");
}

#[test]
fn one_batch_takes_the_overhead_from_the_load() {
    let mut one = run(2.0, 8, 1.5, 1.0, reused_rss(Some(3.5)));
    one.results.truncate(1);
    let (overhead, factor) = fit_memory(&[one]);
    assert!((overhead.unwrap() - 1.5).abs() < 1e-9, "{overhead:?}");
    assert_eq!(factor, None);
}

#[test]
fn source_names_the_kind_of_figure() {
    assert_eq!(reused_rss(Some(1.0)).source(), "heap");
    assert_eq!(reused_rss(None).source(), "RSS");
    // Only one heap figure (a garbled answer) is not a heap measurement.
    let half = BenchmarkMemory { heap_before_load_mb: Some(1.0), ..Default::default() };
    assert!(!half.heap() && half.heap_load_mb().is_none());
}
