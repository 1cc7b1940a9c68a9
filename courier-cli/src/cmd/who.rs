//! `courier who`: the contact list, with the verified mark.

use std::process::ExitCode;

use anyhow::{Context, Result};
use courier_core::contacts::conflict_among;

use crate::args::WhoArgs;
use crate::client::Client;
use crate::output::{self, safe};

pub(crate) async fn run(args: WhoArgs) -> Result<ExitCode> {
    let client = Client::connect(&args.client, false, false).await?;
    let marks = client
        .verified
        .all()
        .context("reading the verified devices")?;
    let mut out = String::new();
    for c in client.contacts.sorted() {
        let verified = marks.iter().any(|m| m.id == c.id);
        let conflict = conflict_among(&marks, c.id, &c.profile.name);
        if args.json {
            let mut line = output::contact_json(c);
            line["verified"] = verified.into();
            line["verified_as_other"] = conflict.as_ref().map(|k| k.verified.id.to_hex()).into();
            out.push_str(&line.to_string());
        } else {
            out.push_str(&output::contact_line(c, client.name_is_shared(c)));
            if verified {
                out.push_str("  [verified]");
            }
            if let Some(k) = conflict {
                out.push_str(&format!(
                    "  (NOT the device you verified as {:?}: {})",
                    safe(&k.verified.name),
                    k.verified.id.short()
                ));
            }
        }
        out.push('\n');
    }
    if !args.json && client.contacts.is_empty() {
        eprintln!("no other contacts yet");
    }
    crate::print(&out);
    Ok(ExitCode::SUCCESS)
}
