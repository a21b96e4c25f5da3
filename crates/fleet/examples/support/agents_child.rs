//! Simulated agents in a child process, for the benchmarks that must not
//! count their own agents' CPU and memory as the console's: the benchmark
//! runs itself again with `--serve …` (the child), which starts the agents
//! on 127.0.0.1 and prints one `host:port` line per agent, then `ready`,
//! and serves until its stdin closes. Shared by `bench_broker`,
//! `soak_console` and the GUI's `frame_live`; also the `--name VALUE`
//! argument reader they all use.
// Benchmark harness: a failed unwrap ends the run with its reason.
#![allow(dead_code, clippy::unwrap_used)]

use edgefleet_agent::{SimulateOptions, simulate};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The number after `--name` on the command line, else `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The child: start the agents `opts` describes, print one `host:port` line
/// each, then `ready`; serve until stdin closes, then shut them down (within
/// `stop_timeout` when given).
pub async fn serve_until_stdin_closes(opts: SimulateOptions, stop_timeout: Option<Duration>) {
    let fleet = simulate(opts).await.unwrap();
    for a in fleet.agents() {
        println!("{}", a.addr);
    }
    println!("ready");
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await;
    match stop_timeout {
        Some(t) => {
            let _ = tokio::time::timeout(t, fleet.shutdown()).await;
        }
        None => fleet.shutdown().await,
    }
}

/// The parent: run this executable again with `args` (its stdin kept open:
/// dropping it stops the child) and read the lines it prints before
/// `ready` (or before it ends).
pub fn spawn_agents_child(args: &[&str]) -> (Child, Vec<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "ready" {
            break;
        }
        lines.push(line);
    }
    (child, lines)
}
