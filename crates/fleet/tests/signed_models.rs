//! Signed models against a real agent serving HTTPS on 127.0.0.1: once the
//! console's key is pinned, an unsigned version and one signed by another
//! key are refused at activation and the model that was active keeps
//! answering; the console's own deploys (upload + activate through a client
//! carrying its signer) activate, and so does a rollback to one of them.

// Helpers outside #[test] fns: a failed setup step should panic at once.
#![allow(clippy::unwrap_used)]

mod common;

use common::{mlp_path, padded_model, sha256_of};
use edgefleet_agent::{AgentConfig, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::model_signing::ModelSigner;
use edgefleet_fleet::{AgentClient, FleetError, http_client};
use std::time::Duration;

const TOKEN: &str = "signed-models-token-0123";

#[tokio::test]
async fn unsigned_and_wrongly_signed_versions_are_refused_and_the_old_model_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = AgentConfig::new(Device::new("sig-dev", DeviceType::EdgeServer, 2, 2048, 16.0), dir.path());
    config.token = Some(TOKEN.into());
    config.tls = true;
    config.benchmark_duration = Duration::from_millis(10);
    let agent = spawn(config).await.unwrap();

    let keys = tempfile::tempdir().unwrap();
    let ours = ModelSigner::load_or_create(&keys.path().join("ours.key")).unwrap();
    let theirs = ModelSigner::load_or_create(&keys.path().join("theirs.key")).unwrap();
    let base = AgentClient::pinned(http_client().unwrap(), agent.addr, &agent.fingerprint, Some(TOKEN.into()))
        .timeout(Duration::from_secs(30));
    let console = base.clone().with_signer(Some(ours.clone()));
    let unsigned = base.clone();
    let impostor = base.clone().with_signer(Some(theirs.clone()));

    // Before any key is pinned, unsigned versions activate (as before).
    let v0 = padded_model(keys.path(), "v0.onnx", 1024, 0);
    unsigned.upload_model("digits", "0", &v0, &sha256_of(&v0), |_, _| {}).await.unwrap();
    unsigned.activate("digits", "0", None).await.unwrap();

    let pinned = console.trust(false).await.unwrap();
    assert!(pinned.require_signed);
    assert_eq!(pinned.console_key, ours.public_key_hex());
    // Another console cannot take over without the deliberate replace.
    assert_eq!(impostor.trust(false).await.unwrap_err().status(), Some(409));

    // The console's own deploy activates.
    let v1 = mlp_path();
    console.upload_model("digits", "1", &v1, &sha256_of(&v1), |_, _| {}).await.unwrap();
    console.activate("digits", "1", None).await.unwrap();
    let row = vec![0.0f32; 64];
    assert!(console.predict("digits", vec![row.clone()]).await.is_ok());

    // Unsigned, wrongly signed, and v0 (active before the key was pinned,
    // never signed): all refused, and v1 keeps serving.
    let v2 = padded_model(keys.path(), "v2.onnx", 2048, 2);
    unsigned.upload_model("digits", "2", &v2, &sha256_of(&v2), |_, _| {}).await.unwrap();
    let v3 = padded_model(keys.path(), "v3.onnx", 4096, 3);
    impostor.upload_model("digits", "3", &v3, &sha256_of(&v3), |_, _| {}).await.unwrap();
    for (client, version, code) in
        [(&unsigned, "2", "unsigned_model"), (&impostor, "3", "bad_signature"), (&unsigned, "0", "unsigned_model")]
    {
        match client.activate("digits", version, None).await {
            Err(FleetError::Agent { status: 403, error, .. }) => assert_eq!(error, code, "version {version}"),
            other => panic!("version {version} was not refused: {other:?}"),
        }
        let models = console.models().await.unwrap().models;
        let active = models.iter().find(|m| m.name == "digits" && m.active).unwrap();
        assert_eq!(active.version, "1", "a refused activation changed the active version");
        assert!(console.predict("digits", vec![row.clone()]).await.is_ok(), "v1 stopped answering");
    }

    // A second signed version, then a rollback to the first: its signature was kept.
    let v4 = padded_model(keys.path(), "v4.onnx", 8192, 4);
    console.upload_model("digits", "4", &v4, &sha256_of(&v4), |_, _| {}).await.unwrap();
    console.activate("digits", "4", None).await.unwrap();
    assert_eq!(unsigned.rollback("digits").await.unwrap().active_version, "1");
    agent.shutdown().await;
}
