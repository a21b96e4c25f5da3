//! The `edgefleet` binary: parse arguments, run, map errors to exit codes.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = edgefleet_ui::cli::Cli::parse();
    match edgefleet_ui::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("edgefleet: {err:#}");
            ExitCode::from(edgefleet_ui::cli::exit_code(&err))
        }
    }
}
