//! The start-up compute micro-benchmark: a short f32 matrix-multiply loop
//! whose GFLOP/s the estimator uses as this device's compute speed.
//!
//! It runs ndarray's `general_mat_mul` (matrixmultiply's sgemm, the crate
//! tract depends on and that is built optimized even in dev builds), so the
//! figure reflects a real SIMD kernel, not an unoptimized loop.

use std::time::{Duration, Instant};
use tract_onnx::prelude::tract_ndarray::{Array2, linalg::general_mat_mul};

/// Side of the square matrices: big enough to be compute-bound, small
/// enough (3 × 64 KiB) to stay in cache on small boards.
const N: usize = 128;

/// Measure single-thread f32 GFLOP/s for about `budget`.
pub fn measure_gflops(budget: Duration) -> f64 {
    let a = Array2::from_shape_fn((N, N), |(i, j)| ((i * 7 + j * 3) % 13) as f32 * 0.1);
    let b = Array2::from_shape_fn((N, N), |(i, j)| ((i * 5 + j * 11) % 17) as f32 * 0.05);
    let mut c = Array2::<f32>::zeros((N, N));
    // One warm-up run so page faults and cache misses are not timed.
    general_mat_mul(1.0, &a, &b, 0.0, &mut c);
    let start = Instant::now();
    let mut iterations = 0u64;
    while iterations == 0 || start.elapsed() < budget {
        general_mat_mul(1.0, &a, &b, 0.0, &mut c);
        iterations += 1;
    }
    std::hint::black_box(&c);
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let flops = 2.0 * (N * N * N) as f64 * iterations as f64;
    flops / secs / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_plausible_speed_in_budget() {
        let start = Instant::now();
        let g = measure_gflops(Duration::from_millis(50));
        let took = start.elapsed();
        assert!(g > 0.05 && g < 2000.0, "{g} GFLOP/s");
        assert!(took < Duration::from_millis(500), "{took:?}");
    }
}
