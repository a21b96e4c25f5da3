//! `edgefleet-agent completions SHELL` and `edgefleet-agent man`: shell
//! completions and the man page generated from the clap definitions, so
//! they never drift from the flags. The .deb package installs them.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write edgefleet-agent.1 (and a page per subcommand) into DIR instead
    /// of printing edgefleet-agent.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Print the completion script for `args.shell` on stdout. `cmd` is the
/// agent's clap definition (passed in, so this module does not import the
/// CLI that dispatches to it).
pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> anyhow::Result<()> {
    clap_complete::generate(args.shell, &mut cmd, "edgefleet-agent", &mut std::io::stdout().lock());
    Ok(())
}

/// Print the man page, or write every page into `args.dir`.
pub fn man(args: ManArgs, cmd: clap::Command) -> anyhow::Result<()> {
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(cmd, &dir)?;
        }
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout().lock())?,
    }
    Ok(())
}
