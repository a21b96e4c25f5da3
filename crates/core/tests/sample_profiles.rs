//! The sample files in `assets/profiles/` load and give the verdicts the
//! README tells about.

use edgefleet_core::{Device, DeviceError, DeviceType, FitConfig, ModelProfile, ReasonKind, estimate_fit, fit_matrix};
use std::path::PathBuf;

fn read(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/profiles").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn model(name: &str) -> ModelProfile {
    ModelProfile::from_json(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn device(name: &str) -> Device {
    Device::from_json(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn hand_written_profiles_are_marked_as_samples() {
    // The digits profiles are computed from the shipped ONNX files (checked
    // in edgefleet-optimize's tests); only the detector is hand-written.
    assert!(model("big_detector.json").name.contains("sample"));
    let mlp = model("mlp_digits.json");
    // 64·128 + 128 + 128·64 + 64 + 64·10 + 10 parameters, 4 bytes each.
    assert_eq!(mlp.params, 17_226);
    assert_eq!(mlp.weights_bytes, 4 * mlp.params);
}

#[test]
fn digits_models_fit_the_sensor_and_the_detector_does_not() {
    let cfg = FitConfig::default();
    let sensor = device("sensor.json");
    assert_eq!(sensor.device_type, DeviceType::IotSensor);
    assert_eq!((sensor.cpu_cores, sensor.memory_mb), (1, 256));
    for name in ["mlp_digits.json", "cnn_digits.json"] {
        let fit = estimate_fit(&model(name), &sensor, &cfg);
        assert!(fit.compatible, "{name}: {:#?}", fit.reasons);
        assert!(fit.max_batch >= 1);
    }
    let big = estimate_fit(&model("big_detector.json"), &sensor, &cfg);
    assert!(!big.compatible);
    assert!(big.failures().any(|r| r.kind == ReasonKind::Memory));
    let on_server = estimate_fit(&model("big_detector.json"), &device("edge_server.json"), &cfg);
    assert!(on_server.compatible, "{:#?}", on_server.reasons);
    assert!(on_server.max_batch > 1);
    assert!(estimate_fit(&model("cnn_digits.json"), &device("camera.json"), &cfg).compatible);
}

#[test]
fn fleet_has_every_device_type_and_a_matrix() {
    let fleet = Device::list_from_json(&read("fleet.json")).unwrap();
    assert!((6..=10).contains(&fleet.len()));
    for t in DeviceType::ALL {
        assert!(fleet.iter().any(|d| d.device_type == t), "{t} missing");
    }
    let models = [model("mlp_digits.json"), model("cnn_digits.json"), model("big_detector.json")];
    let mx = fit_matrix(&models, &fleet, &FitConfig::default());
    assert_eq!(mx.compatible_devices(0).count(), fleet.len(), "the MLP runs everywhere");
    assert!(mx.compatible_devices(2).count() < fleet.len());
}

#[test]
fn bad_device_is_refused_for_its_latitude() {
    let err = Device::from_json(&read("bad_device.json")).unwrap_err();
    assert!(matches!(err, DeviceError::Invalid { field: "location.latitude", .. }), "{err}");
}
