//! "Optimize for this device" (`fleet::optimize_for_device`) on the shipped
//! digits MLP: on a device it already fits with room the original is the
//! answer, said why, and no recipe is even tried; on a device with little
//! free memory the recipe search runs and the answer names the objective
//! and the winner's figures against the original's.

#![allow(clippy::unwrap_used)] // test code: a failure should panic

use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::{OptimizeChoice, VariantRequest, import_model, optimize_for_device};
use edgefleet_optimize::Objective;
use edgefleet_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_original_stays_when_it_fits_with_room_and_a_tight_device_gets_a_searched_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Mutex::new(Store::open(&dir.path().join("registry.db")).unwrap());
    let model = root().join("assets/models/mlp_digits.onnx");
    let data = root().join("assets/models/digits_eval.csv");
    let parent = import_model(&store, &model).unwrap();
    let out_dir = dir.path().join("variants");
    let req = |device| VariantRequest {
        parent_id: parent.id,
        name: "mlp_digits",
        model_path: &model,
        device,
        eval_data: &data,
        out_dir: &out_dir,
        objective: Objective::Size,
    };

    // A camera with 2 GB free: the 70 KB MLP fits with room.
    let roomy = Device::new("cam", DeviceType::SmartCamera, 4, 2048, 16.0);
    let mut tried = 0;
    let choice = optimize_for_device(&req(&roomy), &store, &mut |_, _, _| tried += 1).unwrap();
    assert!(choice.variant.is_none(), "{choice:?}");
    assert!(choice.why.starts_with("objective: smallest file"), "{}", choice.why);
    assert!(choice.why.contains("already fits cam with room"), "{}", choice.why);
    assert_eq!(tried, 0, "no recipe is tried when the original fits with room");
    assert_eq!(store.lock().unwrap().list_models().unwrap().len(), 1, "nothing was added");

    // A sensor with 2 MB free: the model (about 1.2 MB at batch 1: two
    // copies of its weights and 1 MB of runtime) fits, without room, so the
    // search runs.
    let mut tight = Device::new("tiny", DeviceType::IotSensor, 1, 256, 1.0);
    tight.free_memory_mb = Some(2);
    let mut tried = 0;
    let OptimizeChoice { variant, why } = optimize_for_device(&req(&tight), &store, &mut |_, _, _| tried += 1).unwrap();
    assert!(tried > 1, "the recipe search ran ({tried} candidates)");
    assert!(why.starts_with("objective: smallest file that loses at most 1.0 accuracy point"), "{why}");
    assert!(why.contains(" bytes") && why.contains(" ms") && why.contains("accuracy"), "{why}");
    match variant {
        Some(v) => {
            assert!(why.contains(&format!("chose `{}`", v.recipe.clone().unwrap())), "{why}");
            assert_eq!(v.parent_id, Some(parent.id));
            assert!(Path::new(&v.path).is_file());
        }
        None => assert!(why.contains("chose the original"), "{why}"),
    }
}
