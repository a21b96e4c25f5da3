//! Unit tests of the memory calibration: heap runs count whatever the
//! model's size, RSS runs hidden by the allocator's reuse do not; weight
//! copies are told apart from overhead when the weights differ enough.

use super::*;
use crate::wire::BatchLatency;

const BATCHES: [u32; 4] = [1, 8, 32, 128];

/// The device's memory, as the runs are made to measure it.
#[derive(Clone, Copy)]
struct Truth {
    copies: f64,
    plan_copies: f64,
    overhead_mb: f64,
    factor: f64,
}

/// tract's copies (2 loaded, 1 more per other batch size).
fn truth(overhead_mb: f64, factor: f64) -> Truth {
    Truth { copies: 2.0, plan_copies: 1.0, overhead_mb, factor }
}

/// A run of a model with `weights_mb` of weights and `act_kb` of
/// activations a sample on a device whose memory is `t`; `peak_mb` is what
/// the agent reported per batch.
fn run(weights_mb: f64, act_kb: u64, t: Truth, memory: BenchmarkMemory) -> BenchmarkRun {
    let act_bytes = act_kb * 1024;
    let results = BATCHES
        .iter()
        .map(|&b| BatchLatency {
            batch: b,
            latency_ms_p50: 1.0,
            latency_ms_p90: 1.1,
            peak_mb: Some(
                t.copies * weights_mb
                    + t.overhead_mb
                    + if b > 1 { t.plan_copies * weights_mb } else { 0.0 }
                    + f64::from(b) * act_bytes as f64 * t.factor / BYTES_PER_MB,
            ),
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
    // 0.07 MB of weights: RSS showed nothing, the heap 0.24 MB.
    let runs = [run(0.07, 1, truth(0.1, 3.0), reused_rss(Some(0.24)))];
    assert!(runs[0].memory.as_ref().unwrap().heap());
    let fit = fit_memory(&runs, 2.0);
    assert!((fit.overhead_mb.unwrap() - 0.1).abs() < 1e-5, "{fit:?}"); // weights rounded to bytes
    assert!((fit.activation_factor.unwrap() - 3.0).abs() < 1e-6, "{fit:?}");
    // One run cannot tell copies from overhead; 0.07 MB is too small to count a plan's copy.
    assert_eq!((fit.copies_loaded, fit.copies_per_batch_size), (None, None));
}

#[test]
fn the_same_run_reported_by_rss_alone_is_left_out() {
    let runs = [run(0.07, 1, truth(0.1, 3.0), reused_rss(None))];
    assert!(!runs[0].memory.as_ref().unwrap().heap());
    assert_eq!(fit_memory(&runs, 2.0), MemoryFit::default());
}

#[test]
fn an_rss_run_that_grew_by_its_weights_still_counts() {
    let rss =
        BenchmarkMemory { rss_before_load_mb: 20.0, rss_after_load_mb: 30.0, load_mb: 10.0, ..Default::default() };
    let fit = fit_memory(&[run(4.0, 16, truth(2.0, 2.0), rss)], 2.0);
    assert!((fit.overhead_mb.unwrap() - 2.0).abs() < 1e-9, "{fit:?}");
    assert!((fit.activation_factor.unwrap() - 2.0).abs() < 1e-9, "{fit:?}");
    assert!((fit.copies_per_batch_size.unwrap() - 1.0).abs() < 1e-9, "{fit:?}");
}

#[test]
fn models_of_different_weights_tell_copies_from_overhead() {
    // A runtime keeping 1.5 copies, 0.5 more per batch size, 0.3 MB besides.
    let t = Truth { copies: 1.5, plan_copies: 0.5, overhead_mb: 0.3, factor: 1.2 };
    let heap = |w: f64| reused_rss(Some(1.5 * w + 0.3));
    let runs = [run(0.5, 8, t, heap(0.5)), run(3.0, 8, t, heap(3.0)), run(1.2, 8, t, heap(1.2))];
    let fit = fit_memory(&runs, 2.0);
    assert!((fit.copies_loaded.unwrap() - 1.5).abs() < 1e-6, "{fit:?}");
    assert!((fit.overhead_mb.unwrap() - 0.3).abs() < 1e-6, "{fit:?}");
    assert!((fit.copies_per_batch_size.unwrap() - 0.5).abs() < 1e-6, "{fit:?}");
    assert!((fit.activation_factor.unwrap() - 1.2).abs() < 1e-6, "{fit:?}");
    // Weights too alike to separate them: the configured copies stay.
    let alike = [run(1.0, 8, t, heap(1.0)), run(1.2, 8, t, heap(1.2))];
    let fit = fit_memory(&alike, 2.0);
    assert_eq!(fit.copies_loaded, None);
    // What is left over 2 copies: 1.5 w + 0.3 − 2 w, never below 0 (median of 0.0 and −0.1 → 0).
    assert!(fit.overhead_mb.unwrap().abs() < 1e-9, "{fit:?}");
}

#[test]
fn heap_and_rss_runs_give_the_median_and_bad_figures_are_skipped() {
    let heap = |load| reused_rss(Some(load));
    let mut bad = run(1.0, 8, truth(9.0, 9.0), heap(10.0));
    bad.results[1].peak_mb = Some(f64::NAN);
    let mut no_load = run(1.0, 8, truth(9.0, 9.0), heap(10.0));
    no_load.memory.as_mut().unwrap().heap_after_load_mb = Some(f64::INFINITY);
    let runs = [
        run(1.0, 8, truth(2.0, 1.0), heap(4.0)),
        run(1.0, 8, truth(3.0, 2.0), heap(5.0)),
        run(0.5, 8, truth(4.0, 4.0), reused_rss(None)), // hidden by reuse: out
        bad,
        no_load,
        run(1.0, 8, truth(5.0, 3.0), heap(7.0)),
    ];
    let fit = fit_memory(&runs, 2.0);
    assert!((fit.overhead_mb.unwrap() - 3.0).abs() < 1e-9, "{fit:?}");
    assert!((fit.activation_factor.unwrap() - 2.0).abs() < 1e-9, "{fit:?}");
}

#[test]
fn one_batch_takes_the_overhead_from_batch_1() {
    let mut one = run(2.0, 8, truth(1.5, 1.0), reused_rss(Some(5.5)));
    one.results.truncate(1);
    let fit = fit_memory(&[one], 2.0);
    // Batch 1 less nothing (no slope known): 2 × 2 + 1.5 + 8 KB, less 2 copies.
    assert!((fit.overhead_mb.unwrap() - (1.5 + 8.0 / 1024.0)).abs() < 1e-9, "{fit:?}");
    assert_eq!((fit.activation_factor, fit.copies_per_batch_size), (None, None));
}

#[test]
fn source_names_the_kind_of_figure() {
    assert_eq!(reused_rss(Some(1.0)).source(), "heap");
    assert_eq!(reused_rss(None).source(), "RSS");
    // Only one heap figure (a garbled answer) is not a heap measurement.
    let half = BenchmarkMemory { heap_before_load_mb: Some(1.0), ..Default::default() };
    assert!(!half.heap() && half.heap_load_mb().is_none());
}
