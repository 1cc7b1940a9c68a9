//! `courier who`: the contact list.

use std::process::ExitCode;

use anyhow::Result;

use crate::args::WhoArgs;
use crate::client::Client;
use crate::output;

pub(crate) async fn run(args: WhoArgs) -> Result<ExitCode> {
    let client = Client::connect(&args.client, false, false).await?;
    let mut out = String::new();
    for c in client.contacts.sorted() {
        if args.json {
            out.push_str(&output::contact_json(c).to_string());
        } else {
            out.push_str(&output::contact_line(c, client.name_is_shared(c)));
        }
        out.push('\n');
    }
    if !args.json && client.contacts.is_empty() {
        eprintln!("no other contacts yet");
    }
    crate::print(&out);
    Ok(ExitCode::SUCCESS)
}
