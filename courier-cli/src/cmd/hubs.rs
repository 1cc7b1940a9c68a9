//! `courier hubs`: the hubs on this network, found by mDNS.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use courier_core::discovery::{self, FoundHub};
use courier_core::identity::PinStore;
use serde_json::json;

use crate::args::HubsArgs;

pub(crate) async fn run(args: &HubsArgs) -> Result<ExitCode> {
    if !(args.timeout.is_finite() && (0.1..=60.0).contains(&args.timeout)) {
        bail!("--timeout takes 0.1 to 60 seconds");
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let pins = args
        .profile_dir
        .clone()
        .or_else(|| {
            directories::ProjectDirs::from("", "", "courier").map(|d| d.config_dir().to_owned())
        })
        .map(|dir| PinStore::new(&dir));
    // Hubs met before are listed even when a flood of announcements fills the list.
    let met = pins
        .as_ref()
        .and_then(|p| p.fingerprints().ok())
        .unwrap_or_default();
    let hubs = smol::unblock(move || discovery::find_preferring(timeout, met)).await?;
    let known = |hub: &FoundHub| {
        hub.fingerprint
            .is_some_and(|fp| pins.as_ref().is_some_and(|p| p.knows(&fp).unwrap_or(false)))
    };
    let mut out = String::new();
    for hub in &hubs {
        if args.json {
            let line = json!({
                "type": "hub",
                "name": hub.name,
                "instance": hub.instance,
                "addresses": hub.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "fingerprint": hub.fingerprint.map(|f| f.to_hex()),
                "safety_code": hub.fingerprint.map(|f| f.safety_code()),
                "protocol": hub.protocol,
                "compatible": hub.compatible(),
                "known": known(hub),
            });
            out.push_str(&format!("{line}\n"));
        } else {
            let code = hub.fingerprint.map_or_else(
                || "no safety code".to_owned(),
                |f| format!("safety code {}", f.safety_code()),
            );
            let mut notes = Vec::new();
            if known(hub) {
                notes.push("known".to_owned());
            }
            if !hub.compatible() {
                notes.push(match hub.protocol {
                    Some(v) => format!("speaks protocol {v}, not ours"),
                    None => "protocol unknown".to_owned(),
                });
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!("  [{}]", notes.join(", "))
            };
            let addresses: Vec<String> = hub.addresses.iter().map(ToString::to_string).collect();
            out.push_str(&format!(
                "{}  {}  {code}{notes}\n",
                courier_core::text::terminal_line(&hub.name),
                addresses.join(" ")
            ));
        }
    }
    if hubs.is_empty() && !args.json {
        eprintln!(
            "no hub answered within {:.1} s (is one running on this network, and is UDP 5353 open?)",
            args.timeout
        );
    }
    crate::print(&out);
    Ok(ExitCode::SUCCESS)
}
