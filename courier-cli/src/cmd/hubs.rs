//! `courier hubs`: the hubs on this network, found by mDNS, each checked by its
//! certificate (a TLS handshake, no login) before it is called known.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use courier_core::discovery::{self, Standing};
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
    // What they advertise is a claim: a TLS handshake with each (no login; at most
    // MAX_PROBED of them, those claiming to be a hub this computer knows first) shows
    // its certificate, and only that makes a hub known.
    let pinned = pins.as_ref().and_then(|p| p.all().ok()).unwrap_or_default();
    let checked = discovery::check_all(&hubs, &pinned, discovery::PROBE_WITHIN).await;
    let mut out = String::new();
    for (hub, checked) in hubs.iter().zip(&checked) {
        if let (Some(store), Standing::Known, Some(certificate)) =
            (&pins, checked.standing, checked.certificate)
        {
            // Seen holding a pinned certificate: the name it goes by is the one this
            // computer knows it by (an impostor using it is then told apart).
            let _ = store.learn_name(certificate, &hub.name);
        }
        let fingerprint = checked.fingerprint(hub);
        if args.json {
            let line = json!({
                "type": "hub",
                "name": hub.name,
                "instance": hub.instance,
                "addresses": hub.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "fingerprint": fingerprint.map(|f| f.to_hex()),
                "safety_code": fingerprint.map(|f| f.safety_code()),
                "checked": checked.certificate.is_some(),
                "protocol": hub.protocol,
                "compatible": hub.compatible(),
                "known": checked.standing.is_known(),
                "standing": checked.standing.as_str(),
                "warning": checked.standing.warning(&hub.name),
            });
            out.push_str(&format!("{line}\n"));
        } else {
            let name = courier_core::text::terminal_line(&hub.name);
            let code = fingerprint.map_or_else(
                || "no safety code".to_owned(),
                |f| format!("safety code {}", f.safety_code()),
            );
            let mut notes = Vec::new();
            match checked.standing.warning(&name) {
                Some(warning) => notes.push(format!("WARNING: {warning}")),
                None if checked.standing.is_known() => notes.push("known".to_owned()),
                None if checked.certificate.is_none() => notes.push("not checked".to_owned()),
                None => {}
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
            out.push_str(&format!("{name}  {}  {code}{notes}\n", addresses.join(" ")));
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
