//! `courier completions SHELL` (the completion script on stdout) and the hidden
//! `courier man --out DIR` (a man page for `courier` and each of its subcommands, nested
//! ones included: `courier-hub-backup.1`), which the Debian package is built with.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs, ManArgs, Shell};

pub(crate) fn completions(args: &CompletionsArgs) -> Result<ExitCode> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    // Into memory first: the generator panics on a write error, `print` exits quietly.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "courier", &mut script);
    crate::print(&String::from_utf8_lossy(&script));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn man(args: &ManArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Built, each subcommand is named by its path (`courier-hub-backup`).
    cmd.build();
    let mut written = Vec::new();
    pages(&cmd, &args.out, &mut written)?;
    written.sort();
    eprintln!(
        "wrote {} man pages into {}",
        written.len(),
        args.out.display()
    );
    crate::print(&format!("{}\n", written.join("\n")));
    Ok(ExitCode::SUCCESS)
}

/// Writes `cmd`'s page and its visible subcommands' pages into `out`.
fn pages(cmd: &clap::Command, out: &Path, written: &mut Vec<String>) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages(sub, out, written)?;
    }
    let page = clap_mangen::Man::new(cmd.clone())
        .manual("Courier Manual")
        .source(format!("Courier {}", env!("CARGO_PKG_VERSION")));
    let name = page.get_filename();
    let mut roff = Vec::new();
    page.render(&mut roff)?;
    let path = out.join(&name);
    std::fs::write(&path, roff).with_context(|| format!("writing {}", path.display()))?;
    written.push(name);
    Ok(())
}
