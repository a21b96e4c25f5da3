//! `edgefleet estimate` (not implemented yet).

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct EstimateArgs {}

pub fn run(_global: &GlobalArgs, _args: EstimateArgs) -> anyhow::Result<()> {
    anyhow::bail!("`edgefleet estimate` is not implemented yet")
}
