//! The fleet-wide fit matrix at 10,000 devices × 100 models, against the
//! naive reference: `estimate_fit` per pair (reasons, strings and all), run
//! on a 1,000-pair sample and scaled per pair.
//!
//! Prints ns per pair for both and the ratio. Run: `cargo bench -p edgefleet-core`.

use criterion::Criterion;
use edgefleet_core::{Device, DeviceType, FitConfig, ModelProfile, estimate_fit, fit_matrix};
use std::hint::black_box;
use std::time::{Duration, Instant};

const DEVICES: usize = 10_000;
const MODELS: usize = 100;
const NAIVE_DEVICES: usize = 100;
const NAIVE_MODELS: usize = 10;

/// A small deterministic generator so every run sees the same fleet.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fleet(n: usize, rng: &mut Lcg) -> Vec<Device> {
    (0..n)
        .map(|i| {
            let ty = DeviceType::ALL[rng.below(6) as usize];
            let (cores, mem) = match ty {
                DeviceType::IotSensor => (1, 256),
                DeviceType::EdgeServer => (32, 65_536),
                DeviceType::MobilePhone => (8, 8192),
                _ => (4, 4096),
            };
            let mut d = Device::new(format!("dev-{i}"), ty, cores, mem, 1.0 + rng.below(500) as f64);
            d.free_memory_mb = Some(mem * (20 + rng.below(80)) / 100);
            d.current_load = rng.below(100) as f64 / 100.0;
            if rng.below(2) == 0 {
                d.gflops = Some(1.0 + rng.below(500) as f64);
            }
            d
        })
        .collect()
}

fn models(n: usize, rng: &mut Lcg) -> Vec<ModelProfile> {
    let ops = ["Conv", "Gemm", "MatMul", "Relu", "Softmax", "Add", "Reshape"];
    (0..n)
        .map(|i| {
            let weights = 1024 * (1 + rng.below(1 << 19));
            ModelProfile {
                name: format!("model-{i}"),
                params: weights / 4,
                weights_bytes: weights,
                file_bytes: weights + 4096,
                flops_per_sample: 1_000 + rng.below(20_000_000_000),
                peak_activation_bytes_per_sample: 1024 * (1 + rng.below(64 * 1024)),
                ops: ops.iter().take(2 + rng.below(5) as usize).map(|s| s.to_string()).collect(),
                opset: Some(13),
                inputs: vec![],
                outputs: vec![],
                target_device_types: if rng.below(4) == 0 { vec![DeviceType::EdgeServer] } else { vec![] },
                accuracy: None,
                work: Default::default(),
            }
        })
        .collect()
}

fn naive(models: &[ModelProfile], devices: &[Device], cfg: &FitConfig) -> usize {
    let mut compatible = 0;
    for m in models {
        for d in devices {
            compatible += usize::from(estimate_fit(m, d, cfg).compatible);
        }
    }
    compatible
}

/// Median wall time of `runs` calls.
fn median_time(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let mut rng = Lcg(42);
    let devices = fleet(DEVICES, &mut rng);
    let ms = models(MODELS, &mut rng);
    let cfg = FitConfig::default();
    let naive_devices = &devices[..NAIVE_DEVICES];
    let naive_models = &ms[..NAIVE_MODELS];

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    c.bench_function("fit_matrix 10000 devices x 100 models", |b| {
        b.iter(|| fit_matrix(black_box(&ms), black_box(&devices), &cfg))
    });
    c.bench_function("naive estimate_fit 100 devices x 10 models", |b| {
        b.iter(|| naive(black_box(naive_models), black_box(naive_devices), &cfg))
    });
    c.final_summary();

    // The figures to compare, timed here so they can be printed side by side.
    let matrix_pairs = (DEVICES * MODELS) as f64;
    let naive_pairs = (NAIVE_DEVICES * NAIVE_MODELS) as f64;
    let matrix = median_time(15, || {
        black_box(fit_matrix(black_box(&ms), black_box(&devices), &cfg));
    });
    let reference = median_time(15, || {
        black_box(naive(black_box(naive_models), black_box(naive_devices), &cfg));
    });
    let matrix_ns = matrix.as_nanos() as f64 / matrix_pairs;
    let naive_ns = reference.as_nanos() as f64 / naive_pairs;
    let compatible = fit_matrix(&ms, &devices, &cfg).compatible_count();
    println!(
        "fit_matrix: {:.2} ms for {DEVICES} x {MODELS} = {matrix_ns:.2} ns/pair ({compatible} compatible pairs)",
        matrix.as_secs_f64() * 1e3
    );
    println!("naive estimate_fit per pair: {naive_ns:.1} ns/pair (on {naive_pairs} pairs)");
    println!("ratio naive / matrix: {:.0}x", naive_ns / matrix_ns);
}
