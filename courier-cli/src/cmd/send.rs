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
    if args.to.len() > 1 {
        return super::send_many::run(args).await;
    }
    let mut client = Client::connect(&args.client, false, false).await?;
    let who = args.to.first().map_or("", String::as_str);
    let to = match client.resolve(who)? {
        Target::Client(id) => id,
        Target::Everyone | Target::Group(_) => {
            bail!("files go to one contact at a time; name one with --to")
        }
    };
    let name = client.name_of(to);
    let options = transfer::Options {
        wait: args.wait,
        ..args.net.options()
    };
    let mut transfer = transfer::send(client.handle.clone(), to, args.paths.clone(), options);
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
                    Update::Stored { id } => {
                        if args.json {
                            emit(json!({"type": "stored", "transfer": id.to_string(), "to": person_json(to, &name)}));
                        } else {
                            eprintln!(
                                "{} is offline: the offer waits at the hub and reaches them when they come online; \
                                 the files go once they accept. Keep this running (Ctrl-C withdraws the offer).",
                                safe(&name)
                            );
                        }
                    }
                    Update::Accepted { files } => {
                        if args.json {
                            emit(json!({"type": "accepted", "files": files}));
                        } else {
                            eprintln!("Accepted ({}); connecting…", crate::output::count(files.len(), "file", "files"));
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
                        let line = progress::summary_line(&format!("Sent to {}:", safe(&name)), &summary);
                        client.keep_transfer(&kept_transfer(to, &args.paths, summary.files as u64, summary.bytes, &line));
                        if args.json {
                            emit(progress::summary_json(&summary));
                        } else {
                            crate::print(&format!("{line}\n"));
                        }
                        return Ok(ExitCode::SUCCESS);
                    }
                    Update::Finished(Err(e)) => {
                        bar.clear();
                        client.keep_transfer(&kept_transfer(to, &args.paths, 0, 0, &capitalize(&e.to_string())));
                        return Ok(report_failure(&client, &e, args.json));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// What the history keeps of a transfer we sent: the paths given (their names and, for
/// files, sizes), how many files and bytes went, how it ended.
pub(crate) fn kept_transfer(
    to: courier_core::proto::ClientId,
    paths: &[std::path::PathBuf],
    count: u64,
    bytes: u64,
    outcome: &str,
) -> courier_core::history::KeptTransfer {
    courier_core::history::KeptTransfer {
        seq: 0,
        peer: to,
        outgoing: true,
        files: paths
            .iter()
            .take(courier_core::history::KEPT_TRANSFER_NAMES)
            .map(|p| {
                let name = p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                (name, std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            })
            .collect(),
        count: count.max(paths.len() as u64),
        bytes,
        time: courier_core::proto::Timestamp::now(),
        outcome: outcome.to_owned(),
        saved_in: None,
    }
}

/// `text` with a capital first letter.
pub(crate) fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
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
