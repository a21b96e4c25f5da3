//! The app's "Distill for this device" (`fleet::distill::distill_for_device`)
//! on the shipped digits MLP: a real search under a short budget writes a
//! student that fits the camera and joins the library under its teacher; a
//! cancelled one writes and adds nothing.

#![allow(clippy::unwrap_used)] // test code: a failure should panic

use edgefleet_core::Device;
use edgefleet_fleet::distill::{DistillJobError, ForDevice, distill_for_device};
use edgefleet_optimize::distill::DistillError;
use edgefleet_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn camera() -> Device {
    Device::from_json(&std::fs::read_to_string(root().join("assets/profiles/camera.json")).unwrap()).unwrap()
}

#[test]
fn a_student_for_the_camera_joins_the_library_and_a_cancelled_search_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Mutex::new(Store::open(&dir.path().join("registry.db")).unwrap());
    let (teacher, data, device) =
        (root().join("assets/models/mlp_digits.onnx"), root().join("assets/models/digits_eval.csv"), camera());
    let out_dir = dir.path().join("models");
    let job = ForDevice {
        teacher_path: &teacher,
        device: &device,
        data_path: &data,
        out_dir: &out_dir,
        time_budget: Duration::from_secs(10),
    };

    let cancelled = AtomicBool::new(true);
    let e = distill_for_device(&store, &job, &cancelled, &mut |_| {}).unwrap_err();
    assert!(matches!(e, DistillJobError::Distill(DistillError::Cancelled)), "{e}");
    assert!(store.lock().unwrap().list_models().unwrap().is_empty(), "nothing added");
    assert!(!out_dir.exists() || std::fs::read_dir(&out_dir).unwrap().next().is_none(), "nothing written");

    let mut stages = 0;
    let (student, report) = distill_for_device(&store, &job, &AtomicBool::new(false), &mut |_| stages += 1).unwrap();
    assert!(stages > 0, "progress was reported");
    let models = store.lock().unwrap().list_models().unwrap();
    let parent = models.iter().find(|m| m.parent_id.is_none()).expect("the teacher was added");
    assert_eq!(student.parent_id, Some(parent.id));
    assert_eq!(student.name, "mlp_digits");
    assert!(Path::new(&student.path).is_file() && student.path.starts_with(out_dir.to_str().unwrap()));
    assert!(student.size_bytes < parent.size_bytes, "the student is smaller than its teacher");
    assert!(report.agreement.value >= 0.95, "agreement {}", report.agreement.value);
    assert!(student.recipe.as_deref().is_some_and(|r| r.contains("distill")), "{:?}", student.recipe);
}
