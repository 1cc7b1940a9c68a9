//! Arguments of the commands an admin runs: `hub backup`, `completions`, `man`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub(crate) struct HubBackupArgs {
    /// The hub's folder (as for `courier hub`).
    #[arg(long, env = "COURIER_HUB_DATA")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The backup's folder: new, or empty. A hub started with `--data-dir OUT` is the
    /// same hub.
    #[arg(value_name = "OUT")]
    pub(crate) out: PathBuf,
    /// One JSON object on stdout: the folder, the files with their sizes, the safety
    /// code, the seconds it took.
    #[arg(long)]
    pub(crate) json: bool,
}

/// A shell to complete `courier` in.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The folder to write the pages into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
}
