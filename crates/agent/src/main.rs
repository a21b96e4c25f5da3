//! `edgefleet-agent`: parses arguments and runs the agent library.

mod broker_args;
mod cli;

use clap::Parser;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Counts heap bytes so `/v1/benchmark` reports what a model really takes
/// (resident memory hides it when freed heap is reused). Declared here, not
/// in the library, so the console that links the library keeps its own
/// allocator; see `edgefleet_agent::heap_count`.
#[global_allocator]
static ALLOCATOR: edgefleet_agent::CountingAlloc = edgefleet_agent::CountingAlloc;

/// Log to stderr. `RUST_LOG` takes full filter syntax; without it a fixed
/// filter is built directly, so a default start does not compile
/// `EnvFilter`'s directive regexes.
fn init_logging() {
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => {
            tracing_subscriber::registry().with(fmt).with(tracing_subscriber::EnvFilter::new(spec)).init()
        }
        _ => tracing_subscriber::registry()
            .with(fmt)
            .with(Targets::new().with_default(LevelFilter::INFO).with_target("mdns_sd", LevelFilter::WARN))
            .init(),
    }
}

fn main() -> anyhow::Result<()> {
    init_logging();
    let cli = cli::Cli::parse();
    // Two workers: the agent is I/O-bound and inference runs on the
    // blocking pool, so a small runtime keeps the idle footprint low.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(cli::execute(cli))
}
