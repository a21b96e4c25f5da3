//! kill -9 of the agent binary at random points of upload + activate, with
//! a console key pinned: after every restart the active version is one the
//! console signed, whole (its bytes hash to what was signed), and it
//! answers. Rounds alternate signed, unsigned and wrongly signed versions;
//! at most 100 rounds within 150 s.

// A failed unwrap is a failed test, which is what we want here.
#![allow(clippy::unwrap_used)]

mod common;

use common::{matmul_model, sha256_hex, spawn_binary};
use edgefleet_core::wire::{ModelsResponse, PredictResponse, model_signature_message};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const TOKEN: &str = "signed-kill-test-token";
const ROUNDS: usize = 100;
const BUDGET: Duration = Duration::from_secs(150);

fn key_pair() -> Ed25519KeyPair {
    let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
}

/// Upload `bytes` as `version`, then activate it with `signature` (if any).
async fn deploy(http: reqwest::Client, addr: SocketAddr, version: String, bytes: Vec<u8>, signature: Option<String>) {
    let sha = sha256_hex(&bytes);
    let put = http
        .put(format!("http://{addr}/v1/models/m/{version}"))
        .bearer_auth(TOKEN)
        .header("x-content-sha256", sha)
        .body(bytes);
    if put.send().await.is_err() {
        return;
    }
    let mut activate =
        http.post(format!("http://{addr}/v1/models/m/activate")).bearer_auth(TOKEN).json(&json!({"version": version}));
    if let Some(s) = signature {
        activate = activate.header("x-model-signature", s);
    }
    let _ = activate.send().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_upload_and_activate_never_leaves_an_unsigned_or_partial_model_active() {
    edgefleet_agent::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let (ours, theirs) = (key_pair(), key_pair());
    let sign = |k: &Ed25519KeyPair, v: &str, sha: &str| hex::encode(k.sign(&model_signature_message("m", v, sha)));

    let (mut child, mut addr) = spawn_binary(dir.path(), TOKEN, &["--no-advertise"]);
    let r = http
        .post(format!("http://{addr}/v1/trust"))
        .bearer_auth(TOKEN)
        .json(&json!({"console_key": hex::encode(ours.public_key().as_ref())}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first = matmul_model([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    let mut signed: HashMap<String, String> = HashMap::new();
    signed.insert("0".into(), sha256_hex(&first));
    deploy(http.clone(), addr, "0".into(), first, Some(sign(&ours, "0", &signed["0"]))).await;

    let mut rng = fastrand::Rng::with_seed(11);
    let started = Instant::now();
    let (mut rounds, mut new_active, mut refused_kinds_seen) = (0, 0, 0);
    while rounds < ROUNDS && started.elapsed() < BUDGET {
        rounds += 1;
        let version = format!("v{rounds}");
        let w = rounds as f32;
        let bytes = matmul_model([[w, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
        let sha = sha256_hex(&bytes);
        let signature = match rounds % 3 {
            0 => {
                signed.insert(version.clone(), sha.clone());
                Some(sign(&ours, &version, &sha))
            }
            1 => None,
            _ => Some(sign(&theirs, &version, &sha)),
        };
        let task = tokio::spawn(deploy(http.clone(), addr, version.clone(), bytes, signature));
        tokio::time::sleep(Duration::from_micros(rng.u64(0..40_000))).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        task.abort();
        (child, addr) = spawn_binary(dir.path(), TOKEN, &["--no-advertise"]);

        let listed: ModelsResponse =
            http.get(format!("http://{addr}/v1/models")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
        let active = listed.models.iter().find(|m| m.active).expect("a version stays active");
        let expected = signed.get(&active.version);
        assert_eq!(expected, Some(&active.sha256), "round {rounds}: active {} is not a signed version", active.version);
        let on_disk = std::fs::read(dir.path().join(format!("models/m/{}.onnx", active.version))).unwrap();
        assert_eq!(&sha256_hex(&on_disk), expected.unwrap(), "round {rounds}: the active file is not whole");
        let p: PredictResponse = http
            .post(format!("http://{addr}/v1/predict/m"))
            .bearer_auth(TOKEN)
            .json(&json!({"inputs": [[1.0, 2.0, 3.0]]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(p.model_version, active.version);
        new_active += usize::from(active.version == version);
        refused_kinds_seen += usize::from(rounds % 3 != 0 && listed.models.iter().any(|m| m.version == version));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!(
        "{rounds} kills in {:.0} s: the round's signed version became active {new_active} times; \
         an unsigned or wrongly signed version was installed (never active) {refused_kinds_seen} times",
        started.elapsed().as_secs_f64()
    );
    assert!(rounds >= 30, "only {rounds} rounds in {BUDGET:?}");
    assert!(new_active > 0, "no kill came late enough for a signed activation to finish");
    assert!(refused_kinds_seen > 0, "no kill came late enough for an unsigned version to be installed");
}
