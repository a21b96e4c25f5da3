//! `edgefleet completions SHELL` and `edgefleet man`: generated from the
//! clap definitions by the code the agent's binary uses too.

use std::process::Command;

fn edgefleet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edgefleet")).args(args).output().expect("run edgefleet")
}

#[test]
fn completions_and_man_pages_name_the_subcommands() {
    let bash = edgefleet(&["completions", "bash"]);
    assert!(bash.status.success());
    let bash = String::from_utf8_lossy(&bash.stdout);
    assert!(bash.contains("edgefleet") && bash.contains("distill") && bash.contains("optimize"), "{bash}");
    let man = edgefleet(&["man"]);
    assert!(man.status.success());
    let man = String::from_utf8_lossy(&man.stdout);
    assert!(man.starts_with(".ie") || man.contains(".TH edgefleet"), "{man}");
    let dir = tempfile::tempdir().expect("tmp");
    let out = edgefleet(&["man", "--dir", dir.path().to_str().expect("utf-8")]);
    assert!(out.status.success());
    assert!(dir.path().join("edgefleet.1").exists() && dir.path().join("edgefleet-distill.1").exists());
    let bad = edgefleet(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2), "clap refuses an unknown shell");
}
