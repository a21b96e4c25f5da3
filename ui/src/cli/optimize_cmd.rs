//! `edgefleet optimize` (not implemented yet).

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct OptimizeArgs {}

pub fn run(_global: &GlobalArgs, _args: OptimizeArgs) -> anyhow::Result<()> {
    anyhow::bail!("`edgefleet optimize` is not implemented yet")
}
