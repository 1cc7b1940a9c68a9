//! `courier say`: send one message and wait for its receipt.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use courier_core::proto::Delivery;
use courier_core::session::{Event, Update};
use futures::StreamExt;
use serde_json::json;

use crate::args::SayArgs;
use crate::client::Client;
use crate::output;

pub(crate) async fn run(args: SayArgs) -> Result<ExitCode> {
    let text = match args.text {
        Some(t) => t,
        None => {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .context("reading the message from stdin")?;
            t.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    if text.is_empty() {
        bail!("the message is empty");
    }
    let mut client = Client::connect(&args.client, false, false).await?;
    let to = client.target(&args.to).await?;
    let id = client.send(to, text).await?;
    while let Some(update) = client.updates.next().await {
        match update {
            Update::Event(Event::Receipt { id: r, status }) if r == id => {
                client.apply(&Event::Receipt {
                    id: r,
                    status: status.clone(),
                });
                let (word, reason) = output::delivery(&status);
                if args.json {
                    let line = json!({ "type": "receipt", "id": id.to_string(), "status": word, "reason": reason });
                    crate::print(&format!("{line}\n"));
                } else if let Some(why) = output::reject_text(&status) {
                    eprintln!("courier: not delivered: {why}");
                } else {
                    crate::print(&format!("{word}\n"));
                }
                return Ok(match status {
                    Delivery::Delivered | Delivery::Stored => ExitCode::SUCCESS,
                    Delivery::Rejected(_) => ExitCode::from(1),
                });
            }
            Update::Event(e) => client.apply(&e),
            Update::Disconnected { reason, .. } => {
                return Err(anyhow::anyhow!(reason).context("connection lost before the receipt"));
            }
            Update::Connected { .. } => {}
        }
    }
    bail!("the session ended before the receipt")
}
