//! Property tests: laws the estimators must obey on any input.

use edgefleet_core::{
    Device, DeviceType, FitConfig, FitSummary, ModelProfile, PlacementBin, PlacementItem, PlacementProblem, calibrate,
    estimate_fit, fit_matrix, place_exact, place_heuristic,
};
use proptest::prelude::*;
use std::cmp::Ordering;

const OPS: [&str; 6] = ["Gemm", "Relu", "Conv", "Softmax", "MatMul", "Loop"];

fn arb_type() -> impl Strategy<Value = DeviceType> {
    prop::sample::select(DeviceType::ALL.to_vec())
}

prop_compose! {
    fn arb_model()(
        weights_mb in 0u64..2048,
        act_kb in 0u64..200_000,
        flops in 0u64..100_000_000_000,
        file_extra in 0u64..1_000_000,
        ops in prop::sample::subsequence(OPS.to_vec(), 0..4),
        targets in prop::collection::vec(arb_type(), 0..3),
    ) -> ModelProfile {
        ModelProfile {
            name: "m".into(),
            params: weights_mb * 262_144,
            weights_bytes: weights_mb * 1024 * 1024,
            file_bytes: weights_mb * 1024 * 1024 + file_extra,
            flops_per_sample: flops,
            peak_activation_bytes_per_sample: act_kb * 1024,
            ops: ops.into_iter().map(String::from).collect(),
            opset: Some(13),
            inputs: vec![],
            outputs: vec![],
            target_device_types: targets,
            accuracy: None,
            work: Default::default(),
        }
    }
}

prop_compose! {
    fn arb_device()(
        ty in arb_type(),
        cores in 1u32..64,
        memory_mb in 64u64..65_536,
        free_frac in prop::option::of(0.0f64..=1.0),
        storage_gb in 0.1f64..2000.0,
        storage_free_frac in prop::option::of(0.0f64..=1.0),
        gflops in prop::option::of(0.1f64..2000.0),
        load in 0.0f64..=1.0,
        custom_ops in prop::option::weighted(0.2, prop::sample::subsequence(OPS.to_vec(), 0..6)),
    ) -> Device {
        let mut d = Device::new("d", ty, cores, memory_mb, storage_gb);
        d.free_memory_mb = free_frac.map(|f| (memory_mb as f64 * f) as u64);
        d.free_storage_gb = storage_free_frac.map(|f| storage_gb * f);
        d.gflops = gflops;
        d.current_load = load;
        d.runtime_ops = custom_ops.map(|ops| ops.into_iter().map(String::from).collect());
        d
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn more_free_memory_never_turns_a_fit_into_a_misfit(m in arb_model(), d in arb_device(), extra in 0u64..100_000) {
        let cfg = FitConfig::default();
        let mut more = d.clone();
        more.memory_mb = d.memory_mb + extra;
        more.free_memory_mb = Some(d.effective_free_memory_mb() + extra);
        let before = estimate_fit(&m, &d, &cfg);
        let after = estimate_fit(&m, &more, &cfg);
        prop_assert!(!before.compatible || after.compatible, "{:?} then {:?}", before.reasons, after.reasons);
        prop_assert!(after.max_batch >= before.max_batch, "{} then {}", before.max_batch, after.max_batch);
    }

    #[test]
    fn latency_grows_with_batch(m in arb_model(), d in arb_device()) {
        let fit = estimate_fit(&m, &d, &FitConfig::default());
        prop_assert_eq!(fit.compatible, fit.max_batch > 0);
        prop_assert_eq!(fit.per_batch.is_empty(), !fit.compatible);
        prop_assert_eq!(fit.per_batch.last().map(|b| b.batch), (fit.max_batch > 0).then_some(fit.max_batch));
        for e in &fit.per_batch {
            prop_assert!(e.latency_ms.low > 0.0 && e.latency_ms.low <= e.latency_ms.high, "{:?}", e.latency_ms);
            prop_assert!(e.throughput_per_s.low <= e.throughput_per_s.high);
            prop_assert!(e.energy_mj.low <= e.energy_mj.high);
            prop_assert!(e.memory_mb <= fit.free_memory_mb, "batch {} needs {} of {}", e.batch, e.memory_mb, fit.free_memory_mb);
        }
        for w in fit.per_batch.windows(2) {
            prop_assert!(w[0].batch < w[1].batch);
            prop_assert!(w[1].latency_ms.low >= w[0].latency_ms.low);
            prop_assert!(w[1].latency_ms.high >= w[0].latency_ms.high);
            if m.flops_per_sample > 0 {
                prop_assert!(w[1].latency_ms.high > w[0].latency_ms.high);
            }
        }
    }

    #[test]
    fn calibrated_range_contains_the_measurement(m in arb_model(), d in arb_device(), factor in 0.05f64..20.0) {
        // Make the pair compatible: only memory can still refuse it.
        let m = ModelProfile { target_device_types: vec![], ops: vec!["Gemm".into()], ..m };
        let d = Device { memory_mb: 262_144, free_memory_mb: None, storage_gb: 4096.0, free_storage_gb: None, runtime_ops: None, ..d };
        let mut fit = estimate_fit(&m, &d, &FitConfig::default());
        prop_assume!(fit.compatible);
        let measured = fit.per_batch[0].estimated_latency_ms.mid() * factor;
        prop_assume!(measured > fit.fixed_overhead_ms * 1.01);
        calibrate(&mut fit, &[(1, measured)]).unwrap();
        let b1 = &fit.per_batch[0];
        prop_assert!(b1.latency_ms.low <= measured * (1.0 + 1e-9) && measured <= b1.latency_ms.high * (1.0 + 1e-9),
            "{measured} outside {:?}", b1.latency_ms);
        prop_assert_eq!(b1.measured_latency_ms, Some(measured));
    }

    #[test]
    fn matrix_agrees_with_estimate_fit(
        models in prop::collection::vec(arb_model(), 1..6),
        devices in prop::collection::vec(arb_device(), 1..12),
    ) {
        let cfg = FitConfig::default();
        let mx = fit_matrix(&models, &devices, &cfg);
        for (i, m) in models.iter().enumerate() {
            for (j, d) in devices.iter().enumerate() {
                let want = FitSummary::from_fit(&estimate_fit(m, d, &cfg));
                let got = mx.get(i, j).unwrap();
                prop_assert!(got.same_as(&want), "pair ({i}, {j}): {:?} vs {:?}", got, want);
            }
        }
    }
}

prop_compose! {
    fn arb_problem()(n in 1usize..=8, k in 1usize..=5)(
        items in prop::collection::vec((0.0f64..100.0, 0.0f64..5.0), n),
        caps in prop::collection::vec(0.0f64..250.0, k),
        lat in prop::collection::vec(prop::collection::vec(prop::option::weighted(0.8, 0.1f64..100.0), k), n),
        cost in prop::collection::vec(prop::collection::vec(0.0f64..20.0, k), n),
    ) -> PlacementProblem {
        PlacementProblem {
            items: items.into_iter().enumerate()
                .map(|(i, (memory_mb, priority))| PlacementItem {
                    name: format!("m{i}"),
                    priority,
                    memory_mb,
                    storage_gb: 0.0,
                    rate_per_s: 0.0,
                })
                .collect(),
            bins: caps.into_iter().enumerate()
                .map(|(b, capacity_mb)| PlacementBin {
                    device_id: format!("d{b}"),
                    capacity_mb,
                    storage_gb: None,
                    base_utilisation: 0.0,
                })
                .collect(),
            latency_ms: lat,
            cost,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn exact_placement_is_never_worse_than_the_heuristic(p in arb_problem()) {
        let exact = place_exact(&p).unwrap();
        let heuristic = place_heuristic(&p).unwrap();
        for s in [&exact, &heuristic] {
            let cost = p.evaluate(&s.assignment);
            prop_assert!(cost.is_some(), "infeasible: {:?}", s);
            prop_assert!((cost.unwrap_or(f64::NAN) - s.cost).abs() < 1e-6);
            prop_assert_eq!(s.unplaced.len(), s.assignment.iter().filter(|a| a.is_none()).count());
        }
        prop_assert_ne!(exact.compare(&heuristic), Ordering::Greater, "exact {:?} vs heuristic {:?}", exact, heuristic);
    }
}
