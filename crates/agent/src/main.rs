//! `edgefleet-agent`: parses arguments and runs the agent library.

mod cli;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,mdns_sd=warn".into()),
        )
        .init();
    let cli = cli::Cli::parse();
    // Two workers: the agent is I/O-bound and inference runs on the
    // blocking pool, so a small runtime keeps the idle footprint low.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(cli::execute(cli))
}
