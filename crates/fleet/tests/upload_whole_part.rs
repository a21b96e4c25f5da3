//! An upload cut off after its last byte, before the agent checked and
//! installed it (the console paused or killed at that moment), leaves a
//! part as large as the file. Uploading again must start over — no
//! `Content-Range` can resume at the end — and install the file.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use common::{mlp_path, start_agents};
use edgefleet_fleet::rollout::sha256_file;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_holding_the_whole_file_is_sent_again_and_installed() {
    let agents = start_agents(1).await;
    let model = mlp_path();
    let sha = sha256_file(&model).unwrap();
    let bytes = std::fs::read(&model).unwrap();
    // What an upload interrupted after its last byte leaves on the agent.
    let uploads = agents.dirs[0].path().join("uploads/digits");
    std::fs::create_dir_all(&uploads).unwrap();
    std::fs::write(uploads.join(format!("1.{sha}.part")), &bytes).unwrap();
    let client = agents.client(0);
    let held = client.upload_status("digits", "1").await.unwrap();
    assert_eq!((held.received_bytes, held.complete), (bytes.len() as u64, false));

    let done = client.upload_model("digits", "1", &model, &sha, |_, _| {}).await.unwrap();
    assert!(done.complete, "{done:?}");
    let status = client.upload_status("digits", "1").await.unwrap();
    assert!(status.complete && status.sha256.as_deref() == Some(sha.as_str()), "{status:?}");
}
