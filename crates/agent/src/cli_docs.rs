//! Shell completions and man pages generated from a clap definition, so
//! they never drift from the flags. Both binaries (`edgefleet-agent` and
//! `edgefleet`) offer `completions SHELL` and `man [--dir DIR]` through
//! these; the .deb packages install what they print.

use std::path::PathBuf;

/// Arguments of a `completions` subcommand.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of a `man` subcommand.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write the main page and a page per subcommand (BIN.1, BIN-SUB.1, …)
    /// into DIR instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Print the completion script of `cmd` (whose binary is `bin_name`) for
/// `args.shell` on stdout. `cmd` is passed in so this module does not
/// import the CLI that dispatches to it.
pub fn print_completions(args: &CompletionsArgs, mut cmd: clap::Command, bin_name: &str) {
    clap_complete::generate(args.shell, &mut cmd, bin_name, &mut std::io::stdout().lock());
}

/// Print the main man page of `cmd`, or write every page into `args.dir`.
pub fn write_man(args: &ManArgs, cmd: clap::Command) -> std::io::Result<()> {
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            clap_mangen::generate_to(cmd, dir)
        }
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout().lock()),
    }
}
