//! `courier send`: offer files to a contact and send them straight to their machine.

use std::process::ExitCode;

use anyhow::{Result, bail};
use courier_core::proto::Target;
use courier_core::transfer::{self, Error as TError, Update};
use futures::StreamExt;
use serde_json::json;

use crate::args::SendArgs;
use crate::client::Client;
use crate::output::{person_json, safe};
use crate::progress::{self, Bar};

pub(crate) async fn run(args: SendArgs) -> Result<ExitCode> {
    for p in &args.paths {
        if !p.exists() {
            bail!("{} does not exist", p.display());
        }
    }
    let mut client = Client::connect(&args.client, false).await?;
    let to = match client.resolve(&args.to)? {
        Target::Client(id) => id,
        Target::Everyone => bail!("files go to one contact at a time; name one with --to"),
    };
    let name = client.name_of(to);
    let mut transfer = transfer::send(
        client.handle.clone(),
        to,
        args.paths.clone(),
        args.link.options(),
    );
    let canceller = transfer.canceller();
    let _ = ctrlc::set_handler(move || canceller.cancel());
    let mut bar = Bar::new(args.json);
    let emit = |v: serde_json::Value| crate::print(&format!("{v}\n"));
    loop {
        futures::select! {
            update = futures::FutureExt::fuse(client.updates.next()) => match update {
                Some(u) => { client.absorb(u)?; }
                None => bail!("the session ended"),
            },
            update = futures::FutureExt::fuse(transfer.next()) => {
                let Some(update) = update else { bail!("the transfer ended without a result") };
                match update {
                    Update::Offered { id } => {
                        if args.json {
                            emit(json!({"type": "offered", "transfer": id.to_string(), "to": person_json(to, &name)}));
                        } else {
                            eprintln!("Offered to {}; waiting for an answer…", safe(&name));
                        }
                    }
                    Update::Accepted { files } => {
                        if args.json {
                            emit(json!({"type": "accepted", "files": files}));
                        } else {
                            eprintln!("Accepted ({} file{}); connecting…", files.len(), if files.len() == 1 { "" } else { "s" });
                        }
                    }
                    Update::FileDone { index, .. } if args.json => {
                        emit(json!({"type": "verified", "file": index}));
                    }
                    u @ (Update::Connected { .. } | Update::Progress(_) | Update::FileFailed { .. }) => {
                        progress::show_common(&u, args.json, &mut bar);
                    }
                    Update::Finished(Ok(summary)) => {
                        bar.clear();
                        if args.json {
                            emit(progress::summary_json(&summary));
                        } else {
                            crate::print(&format!("{}\n", progress::summary_line(&format!("Sent to {}:", safe(&name)), &summary)));
                        }
                        return Ok(ExitCode::SUCCESS);
                    }
                    Update::Finished(Err(e)) => {
                        bar.clear();
                        return Ok(report_failure(&client, &e, args.json));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Prints a failed transfer's error; exit 1 for declined or cancelled, 2 otherwise.
pub(crate) fn report_failure(client: &Client, e: &TError, json: bool) -> ExitCode {
    let (code, status, text) = match e {
        TError::Declined | TError::NoSpaceAtReceiver => (1, "declined", e.to_string()),
        TError::Cancelled { by } => (
            1,
            "cancelled",
            format!("cancelled by {}", safe(&client.name_of(*by))),
        ),
        _ => (2, "error", e.to_string()),
    };
    if json {
        let line = json!({"type": "result", "status": status, "error": text});
        crate::print(&format!("{line}\n"));
    } else {
        eprintln!("courier: {text}");
    }
    ExitCode::from(code)
}
