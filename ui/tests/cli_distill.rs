//! `edgefleet distill`: the real binary distills the shipped digits MLP into
//! a small student, writes it and adds it to the library as a child of its
//! teacher; a search for a device chooses a student; bad input exits 2 with
//! one clear line and writes nothing.

use edgefleet_store::Store;
use prost::Message;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tract_onnx::pb;

fn edgefleet(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_edgefleet"));
    c.arg("--db").arg(db).env_remove("EDGEFLEET_DB").env_remove("EDGEFLEET_TOKEN");
    c
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(out: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn distill(db: &Path, args: &[&str]) -> Output {
    edgefleet(db)
        .arg("distill")
        .arg(root().join("assets/models/mlp_digits.onnx"))
        .args(args)
        .output()
        .expect("run edgefleet distill")
}

#[test]
fn distill_writes_a_student_that_joins_the_library_under_its_teacher() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("registry.db");
    let out_path = dir.path().join("student.onnx");
    let data = root().join("assets/models/digits_eval.csv");
    // A device known to the registry, named by --device-id.
    let camera = std::fs::read_to_string(root().join("assets/profiles/camera.json")).expect("read camera.json");
    let camera = edgefleet_core::Device::from_json(&camera).expect("camera.json");
    let camera_id = camera.device_id.clone();
    let record = edgefleet_store::DeviceRecord {
        device: camera,
        address: None,
        port: None,
        source: "file".into(),
        first_seen_ms: 1,
        last_seen_ms: 1,
    };
    Store::open(&db).expect("open the registry").upsert_device(&record).expect("add the camera");
    let unknown = distill(
        &db,
        &[
            "--data",
            data.to_str().expect("utf-8 path"),
            "--labels-last",
            "--student",
            "mlp:16",
            "--device-id",
            "nope",
            "-o",
            out_path.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no device `nope`"), "{}", text(&unknown));
    let out = distill(
        &db,
        &[
            "--data",
            data.to_str().expect("utf-8 path"),
            "--labels-last",
            "--device-id",
            &camera_id,
            "--student",
            "mlp:16",
            "--epochs",
            "60",
            "--time-budget-s",
            "30",
            "-o",
            out_path.to_str().expect("utf-8 path"),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let agreement = v["report"]["agreement"]["value"].as_f64().expect("agreement");
    assert!(agreement >= 0.9, "held-out agreement {agreement}");
    assert_eq!(v["report"]["recipe"]["arch"], "mlp:16");
    assert_eq!(v["report"]["student"]["fits_device"], true, "fitted to the registry's camera");
    assert!(out_path.exists());
    let profile = edgefleet_optimize::inspect_path(&out_path).expect("the student inspects");
    assert_eq!(profile.params, 1210);

    let store = Store::open(&db).expect("open the registry");
    let models = store.list_models().expect("list");
    assert_eq!(models.len(), 2, "teacher and student: {models:?}");
    let teacher = models.iter().find(|m| m.parent_id.is_none()).expect("the teacher");
    let student = models.iter().find(|m| m.parent_id == Some(teacher.id)).expect("the student is its child");
    let recipe = student.recipe.as_deref().unwrap_or_default();
    assert!(recipe.starts_with("distill:mlp:16 T=4 epochs="), "{recipe}");
    let sha = v["report"]["recipe"]["data_sha256"].as_str().expect("data hash");
    assert!(recipe.contains(&format!("data=sha256:{}", &sha[..12])), "{recipe}");
    let metrics = student.metrics.as_ref().expect("metrics");
    assert!(metrics["distill"]["recipe"]["temperature"].as_f64() == Some(4.0), "{metrics}");
}

#[test]
fn a_search_for_a_device_chooses_a_student_and_prints_the_front() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("registry.db");
    let out_path = dir.path().join("searched.onnx");
    let data = root().join("assets/models/digits_eval.csv");
    let device = root().join("assets/profiles/camera.json");
    let out = distill(
        &db,
        &[
            "--data",
            data.to_str().expect("utf-8 path"),
            "--labels-last",
            "--search",
            "--device",
            device.to_str().expect("utf-8 path"),
            "--min-agreement",
            "0.9",
            "--max-latency-ms",
            "20",
            "--time-budget-s",
            "5",
            "--no-library",
            "-o",
            out_path.to_str().expect("utf-8 path"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rounds of successive halving"), "{stdout}");
    let chosen = stdout.lines().find(|l| l.starts_with('*')).expect("a chosen row");
    assert!(chosen.contains(" yes "), "{chosen}");
    assert!(out_path.exists());
    assert!(!db.exists(), "--no-library leaves the registry alone");
}

fn value(name: &str, elem_type: i32, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value as D};
    let mut dim = vec![Dimension { value: Some(D::DimParam("N".into())), ..Default::default() }];
    dim.extend(dims.iter().map(|&d| Dimension { value: Some(D::DimValue(d)), ..Default::default() }));
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn write_model(path: &Path, inputs: Vec<pb::ValueInfoProto>, node: pb::NodeProto) {
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
        graph: Some(pb::GraphProto {
            node: vec![node],
            input: inputs,
            output: vec![value("y", 1, &[4])],
            ..Default::default()
        }),
        ..Default::default()
    };
    std::fs::write(path, model.encode_to_vec()).expect("write model");
}

#[test]
fn bad_input_exits_2_with_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("registry.db");
    let out_path = dir.path().join("never.onnx");
    let digits = root().join("assets/models/digits_eval.csv");
    let text_of = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).expect("write csv");
        p
    };
    let empty = text_of("empty.csv", "# no rows\n\n");
    let with_nan =
        text_of("nan.csv", &std::fs::read_to_string(&digits).expect("read digits").replacen("0.6875", "NaN", 1));
    let two_inputs = dir.path().join("two_inputs.onnx");
    let add = pb::NodeProto {
        op_type: "Add".into(),
        input: vec!["a".into(), "b".into()],
        output: vec!["y".into()],
        ..Default::default()
    };
    write_model(&two_inputs, vec![value("a", 1, &[4]), value("b", 1, &[4])], add);
    let int_input = dir.path().join("int_input.onnx");
    let cast = pb::NodeProto {
        op_type: "Cast".into(),
        input: vec!["x".into()],
        output: vec!["y".into()],
        attribute: vec![pb::AttributeProto { name: "to".into(), r#type: 2, i: 1, ..Default::default() }],
        ..Default::default()
    };
    write_model(&int_input, vec![value("x", 7, &[4])], cast);

    let digits_s = digits.to_str().expect("utf-8");
    let cases: Vec<(Option<&Path>, Vec<&str>, &str)> = vec![
        (None, vec!["--data", digits_s, "--student", "mlp:8"], "--labels-last"),
        (None, vec!["--data", empty.to_str().expect("utf-8"), "--labels-last", "--student", "mlp:8"], "holds no rows"),
        (None, vec!["--data", with_nan.to_str().expect("utf-8"), "--labels-last", "--student", "mlp:8"], "is NaN"),
        (
            None,
            vec!["--data", digits_s, "--labels-last", "--student", "mlp:8", "--time-budget-s", "0.000001"],
            "too small to train anything",
        ),
        (Some(&two_inputs), vec!["--data", digits_s, "--student", "mlp:8"], "has 2 inputs"),
        (Some(&int_input), vec!["--data", digits_s, "--student", "mlp:8"], "needs a float input"),
        (None, vec!["--data", digits_s, "--labels-last", "--student", "rnn:8"], "bad student architecture"),
    ];
    for (teacher, args, why) in cases {
        let mut cmd = edgefleet(&db);
        cmd.arg("distill").arg(teacher.map_or_else(|| root().join("assets/models/mlp_digits.onnx"), Path::to_path_buf));
        let out = cmd.args(&args).arg("-o").arg(&out_path).output().expect("run edgefleet distill");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why) && stderr.trim().lines().count() == 1, "{args:?}: {stderr}");
        assert!(!out_path.exists(), "{args:?}: nothing written");
        assert!(!db.exists(), "{args:?}: the registry is not touched");
    }
}

#[test]
fn ctrl_c_stops_a_search_writes_nothing_and_exits_130() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("registry.db");
    let out_path = dir.path().join("never.onnx");
    let data = root().join("assets/models/digits_eval.csv");
    let child = edgefleet(&db)
        .arg("distill")
        .arg(root().join("assets/models/mlp_digits.onnx"))
        .args(["--data", data.to_str().expect("utf-8 path"), "--labels-last", "--search"])
        .args(["--time-budget-s", "120", "-o", out_path.to_str().expect("utf-8 path"), "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start edgefleet distill");
    // Let it load the teacher and start training, then interrupt it.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("run kill");
    assert!(killed.success());
    let started = std::time::Instant::now();
    let out = child.wait_with_output().expect("wait for edgefleet distill");
    assert!(started.elapsed().as_secs() < 60, "stopped at the next check, not at the end of the budget");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cancelled: nothing written"), "{}", text(&out));
    assert!(!out_path.exists(), "nothing written");
    assert!(!db.exists() || Store::open(&db).expect("open").list_models().expect("list").is_empty());
}
