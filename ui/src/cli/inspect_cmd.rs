//! `edgefleet inspect` (not implemented yet).

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {}

pub fn run(_global: &GlobalArgs, _args: InspectArgs) -> anyhow::Result<()> {
    anyhow::bail!("`edgefleet inspect` is not implemented yet")
}
