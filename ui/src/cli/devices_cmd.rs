//! `edgefleet devices` (not implemented yet).

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct DevicesArgs {}

pub fn run(_global: &GlobalArgs, _args: DevicesArgs) -> anyhow::Result<()> {
    anyhow::bail!("`edgefleet devices` is not implemented yet")
}
