//! `edgefleet import` and `edgefleet models`, the CLI twins of the app's
//! library: the real binary on a temporary registry.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn edgefleet(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_edgefleet"));
    c.arg("--db").arg(db).env_remove("EDGEFLEET_DB").env_remove("EDGEFLEET_TOKEN");
    c
}

fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models").join(name)
}

fn text(out: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn models(db: &Path) -> Vec<serde_json::Value> {
    let out = edgefleet(db).args(["models", "--json"]).output().expect("run edgefleet models");
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("models --json prints JSON")
}

#[test]
fn import_adds_once_refuses_bad_files_and_models_lists_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("registry.db");
    let model = asset("mlp_digits.onnx");

    let first = edgefleet(&db).arg("import").arg(&model).arg("--json").output().expect("run edgefleet import");
    assert!(first.status.success(), "{}", text(&first));
    let added: serde_json::Value = serde_json::from_slice(&first.stdout).expect("import --json prints JSON");
    assert_eq!(added["name"], "mlp_digits");
    let sha = added["sha256"].as_str().expect("sha256");
    assert_eq!(added["version"].as_str(), Some(&sha[..12]), "the version is the SHA-256 prefix");

    // The same file again: a clear error, exit 2, nothing added.
    let again = edgefleet(&db).arg("import").arg(&model).output().expect("run edgefleet import");
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already in the library as mlp_digits"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    // Bad files: exit 2 with a one-line reason, nothing added.
    let broken = dir.path().join("broken.onnx");
    std::fs::write(&broken, b"\x08\x07 definitely not protobuf").expect("write");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "hello").expect("write");
    for (bad, why) in [
        (broken, "is not a usable ONNX model"),
        (notes, "not an .onnx file"),
        (dir.path().join("missing.onnx"), "cannot read"),
    ] {
        let out = edgefleet(&db).arg("import").arg(&bad).output().expect("run edgefleet import");
        assert_eq!(out.status.code(), Some(2), "{}: {}", bad.display(), text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why) && stderr.trim().lines().count() == 1, "{}: {stderr}", bad.display());
    }

    let listed = models(&db);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], "mlp_digits");
    assert_eq!(listed[0]["sha256"].as_str(), Some(sha));
    assert!(listed[0]["params"].as_u64().is_some_and(|p| p > 0));
    assert_eq!(listed[0]["variants"].as_array().map(Vec::len), Some(0));

    let table = edgefleet(&db).arg("models").output().expect("run edgefleet models");
    assert!(table.status.success(), "{}", text(&table));
    assert!(String::from_utf8_lossy(&table.stdout).contains(&sha[..12]), "{}", text(&table));
}

#[test]
fn remove_model_takes_it_out_of_the_library_but_refuses_a_parent_and_keeps_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("registry.db");
    let model = asset("mlp_digits.onnx");
    let out = edgefleet(&db).arg("import").arg(&model).arg("--json").output().expect("import");
    assert!(out.status.success(), "{}", text(&out));
    let parent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let parent_id = parent["id"].as_i64().expect("id");
    // A variant row under it (as optimize or distill would add).
    let variant_id = {
        let store = edgefleet_store::Store::open(&db).expect("open");
        let rec = store.get_model(parent_id).expect("get").expect("the import");
        store
            .add_model(&edgefleet_store::NewModel {
                version: "v2".into(),
                sha256: "0".repeat(64),
                parent_id: Some(parent_id),
                recipe: Some("int8".into()),
                name: rec.name,
                path: rec.path,
                size_bytes: rec.size_bytes,
                profile: rec.profile,
                metrics: None,
                created_ms: 1,
            })
            .expect("add variant")
    };
    let refused = edgefleet(&db).args(["remove-model", &parent_id.to_string()]).output().expect("remove");
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("remove them first"), "{}", text(&refused));
    assert_eq!(models(&db).len(), 1, "nothing removed");

    for id in [variant_id, parent_id] {
        let out = edgefleet(&db).args(["remove-model", &id.to_string(), "--json"]).output().expect("remove");
        assert!(out.status.success(), "{}", text(&out));
    }
    assert!(models(&db).is_empty());
    assert!(model.is_file(), "the file stays on disk");
    let gone = edgefleet(&db).args(["remove-model", &parent_id.to_string()]).output().expect("remove");
    assert_eq!(gone.status.code(), Some(2), "{}", text(&gone));
}
