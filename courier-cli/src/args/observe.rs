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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{Cli, Command};

    fn metrics(args: &[&str]) -> Option<std::net::SocketAddr> {
        let Command::Hub(hub) = Cli::try_parse_from(args).unwrap().command else {
            unreachable!("a hub command")
        };
        hub.metrics
    }

    #[test]
    fn metrics_are_off_unless_asked_and_local_when_no_address_is_given() {
        assert_eq!(metrics(&["courier", "hub"]), None);
        assert_eq!(
            metrics(&["courier", "hub", "--metrics"]),
            Some("127.0.0.1:9977".parse().unwrap())
        );
        assert_eq!(
            metrics(&["courier", "hub", "--metrics", "0.0.0.0:9100"]),
            Some("0.0.0.0:9100".parse().unwrap())
        );
        assert_eq!(
            metrics(&["courier", "hub", "--metrics", "--no-relay"]),
            Some("127.0.0.1:9977".parse().unwrap())
        );
        assert!(Cli::try_parse_from(["courier", "hub", "--metrics", "nowhere"]).is_err());
    }
}
