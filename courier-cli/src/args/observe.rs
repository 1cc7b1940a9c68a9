//! Arguments for looking at a running hub: `courier hub status`, and where `courier hub
//! --metrics` serves when given no address.

use std::path::PathBuf;

use clap::Args;

/// Where `courier hub --metrics` serves when given no address: this computer only.
pub(crate) const METRICS_DEFAULT: &str = "127.0.0.1:9977";

#[derive(Debug, Args)]
pub(crate) struct HubStatusArgs {
    /// The hub's folder (as for `courier hub`).
    #[arg(long, env = "COURIER_HUB_DATA")]
    pub(crate) data_dir: Option<PathBuf>,
    /// One JSON object on stdout (`{"running": false}` when no hub runs there).
    #[arg(long)]
    pub(crate) json: bool,
}
