//! `edgefleet-agent completions SHELL` and `edgefleet-agent man`.

use std::process::Command;

#[test]
fn the_agent_prints_completions_and_its_man_page() {
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_edgefleet-agent")).args(args).output().expect("run");
    let zsh = run(&["completions", "zsh"]);
    assert!(zsh.status.success());
    let zsh = String::from_utf8_lossy(&zsh.stdout);
    assert!(zsh.contains("edgefleet-agent") && zsh.contains("simulate"), "{zsh}");
    let man = run(&["man"]);
    assert!(man.status.success());
    assert!(String::from_utf8_lossy(&man.stdout).contains("edgefleet-agent"));
}
