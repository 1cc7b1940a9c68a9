//! `courier receive`: wait for offers, ask (or --yes), save files safely.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use courier_core::history::KeptTransfer;
use courier_core::proto::{ClientId, Declined, IncomingOffer, Target};
use courier_core::session::Event;
use courier_core::transfer::{self, Transfer, Update};
use futures::StreamExt;
use serde_json::json;

use crate::args::ReceiveArgs;
use crate::client::Client;
use crate::output::{person_json, safe};
use crate::progress::{self, Bar, size};

fn default_dir() -> Result<PathBuf> {
    directories::UserDirs::new()
        .and_then(|u| {
            u.download_dir()
                .map(PathBuf::from)
                .or_else(|| Some(u.home_dir().join("Downloads")))
        })
        .context("cannot find your download folder; pass --dir")
}

enum Answer {
    Yes,
    No,
}

pub(crate) async fn run(args: ReceiveArgs) -> Result<ExitCode> {
    // A group is no sender: it would filter nothing (and with --yes take everyone's).
    if let Some(who) = &args.from
        && who.trim_start().starts_with('#')
    {
        bail!(
            "--from takes one contact (a name or an id prefix), not a group; without --from \
             every sender's offers are taken"
        );
    }
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => default_dir()?,
    };
    let mut client = Client::connect(&args.client.answering(&args.answer), true, false).await?;
    let only: Option<ClientId> = match &args.from {
        None => None,
        Some(who) => match client.resolve(who)? {
            Target::Client(id) => Some(id),
            Target::Everyone | Target::Group(_) => None,
        },
    };
    let interactive = std::io::stdin().is_terminal();
    if !args.yes && !interactive {
        bail!("no terminal to ask on: pass --yes to accept offers (optionally --from WHO)");
    }
    if !args.json {
        eprintln!("Waiting for files; saving to {}", dir.display());
    }
    let emit = |v: serde_json::Value| crate::print(&format!("{v}\n"));
    let mut queue: VecDeque<IncomingOffer> = VecDeque::new();
    let mut running: Option<(Transfer, ClientId, KeptTransfer)> = None;
    let mut asking: Option<(IncomingOffer, smol::Task<bool>)> = None;
    let mut bar = Bar::new(args.json);
    let mut done = 0u64;
    let mut failures = 0u64;
    let (stop_tx, stop) = async_channel::bounded::<()>(1);
    let _ = ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    });
    loop {
        if args.count.is_some_and(|n| done >= n) {
            break;
        }
        // Start the next offer when idle.
        if running.is_none()
            && asking.is_none()
            && let Some(offer) = queue.pop_front()
        {
            let from_ok = only.is_none_or(|id| id == offer.from);
            let answer = if !from_ok {
                Some(Answer::No)
            } else if args.yes {
                Some(Answer::Yes)
            } else {
                None
            };
            match answer {
                Some(Answer::Yes) => {
                    let card = kept_transfer(&offer, &dir);
                    running = Some((
                        accept(&client, offer.clone(), &dir, &args),
                        offer.from,
                        card,
                    ));
                }
                Some(Answer::No) => {
                    client.handle.decline(offer.id, Declined::ByUser).await?;
                    if !args.json {
                        eprintln!(
                            "Declined the offer from {} (not --from).",
                            safe(&client.name_of(offer.from))
                        );
                    }
                }
                None => {
                    eprint!("Accept? [y/N] ");
                    let task = smol::unblock(|| {
                        let mut line = String::new();
                        std::io::stdin().read_line(&mut line).is_ok()
                            && matches!(line.trim(), "y" | "Y" | "yes" | "Yes")
                    });
                    asking = Some((offer, task));
                }
            }
            continue;
        }
        let transfer_next = async {
            match running.as_mut() {
                Some((t, _, _)) => t.next().await,
                None => std::future::pending().await,
            }
        };
        let answered = async {
            match asking.as_mut() {
                Some((_, task)) => task.await,
                None => std::future::pending().await,
            }
        };
        futures::select! {
            _ = futures::FutureExt::fuse(stop.recv()) => {
                if let Some((t, _, _)) = &running {
                    t.canceller().cancel();
                } else {
                    break;
                }
            },
            yes = futures::FutureExt::fuse(answered) => {
                let Some((offer, _)) = asking.take() else { continue };
                if yes {
                    let from = offer.from;
                    let card = kept_transfer(&offer, &dir);
                    running = Some((accept(&client, offer, &dir, &args), from, card));
                } else {
                    client.handle.decline(offer.id, Declined::ByUser).await?;
                    eprintln!("Declined.");
                }
            },
            update = futures::FutureExt::fuse(client.updates.next()) => {
                let Some(update) = update else { bail!("the session ended") };
                if let Some(Event::Offer(offer)) = client.absorb(update)? {
                    show_offer(&client, &offer, args.json);
                    queue.push_back(offer);
                }
            },
            update = futures::FutureExt::fuse(transfer_next) => {
                let Some(update) = update else { running = None; continue };
                match update {
                    Update::FileDone { index, path: Some(path) } => {
                        if args.json {
                            emit(json!({"type": "saved", "file": index, "path": path.display().to_string()}));
                        } else {
                            bar.clear();
                            crate::print(&format!("saved {}\n", safe(&path.display().to_string())));
                        }
                    }
                    u @ (Update::Connected { .. } | Update::Waiting | Update::Progress(_) | Update::FileFailed { .. }) => {
                        progress::show_common(&u, args.json, &mut bar);
                    }
                    Update::Finished(result) => {
                        bar.clear();
                        let finished = running.take();
                        let from = finished.as_ref().map(|r| r.1);
                        let mut record = finished.map(|r| r.2);
                        done += 1;
                        match result {
                            Ok(summary) => {
                                let who = from.map(|f| client.name_of(f)).unwrap_or_default();
                                let line = progress::summary_line(&format!("Received from {}:", safe(&who)), &summary);
                                if let Some(k) = &mut record {
                                    k.outcome = line.clone();
                                }
                                if args.json {
                                    emit(progress::summary_json(&summary));
                                } else {
                                    eprintln!("{line}");
                                }
                            }
                            Err(e) => {
                                failures += 1;
                                if let Some(k) = &mut record {
                                    k.outcome = super::send::capitalize(&e.to_string());
                                    k.saved_in = None;
                                }
                                let _ = super::send::report_failure(&client, &e, args.json);
                            }
                        }
                        if let Some(mut k) = record {
                            k.time = courier_core::proto::Timestamp::now();
                            client.keep_transfer(&k);
                        }
                    }
                    _ => {}
                }
            },
        }
    }
    Ok(if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What the history keeps of an offer we accepted (its outcome is filled in at the end).
fn kept_transfer(offer: &IncomingOffer, dir: &std::path::Path) -> KeptTransfer {
    let files = &offer.manifest.files;
    KeptTransfer {
        seq: 0,
        peer: offer.from,
        outgoing: false,
        files: files
            .iter()
            .take(courier_core::history::KEPT_TRANSFER_NAMES)
            .map(|f| (f.path.clone(), f.size))
            .collect(),
        count: files.len() as u64,
        bytes: files.iter().map(|f| f.size).sum(),
        time: courier_core::proto::Timestamp::now(),
        outcome: String::new(),
        saved_in: Some(dir.to_owned()),
    }
}

fn accept(
    client: &Client,
    offer: IncomingOffer,
    dir: &std::path::Path,
    args: &ReceiveArgs,
) -> Transfer {
    transfer::receive(
        client.handle.clone(),
        offer,
        None,
        dir.to_owned(),
        args.net.options(),
    )
}

fn show_offer(client: &Client, offer: &IncomingOffer, json: bool) {
    let name = client.name_of(offer.from);
    let m = &offer.manifest;
    if json {
        let files: Vec<_> = m
            .files
            .iter()
            .map(|f| json!({"path": f.path, "size": f.size}))
            .collect();
        let line = json!({
            "type": "offer",
            "transfer": offer.id.to_string(),
            "from": person_json(offer.from, &name),
            "files": files,
            "folders": m.folders,
            "total": m.total(),
            "time": offer.time.map(|t| t.0),
            "time_local": offer.time.map(crate::output::rfc3339),
        });
        crate::print(&format!("{line}\n"));
        return;
    }
    // An offer stored while we were away says when it was made.
    let when = offer
        .time
        .filter(|t| courier_core::proto::Timestamp::now().0.saturating_sub(t.0) > 60_000)
        .map(|t| format!(", offered {}", crate::output::date(t)))
        .unwrap_or_default();
    let mut what = crate::output::count(m.files.len(), "file", "files");
    if !m.folders.is_empty() {
        what.push_str(" and ");
        what.push_str(&crate::output::count(
            m.folders.len(),
            "empty folder",
            "empty folders",
        ));
    }
    eprintln!(
        "{} ({}) offers {what} ({}{when}):",
        safe(&name),
        offer.from.short(),
        size(m.total())
    );
    // Every name, so nobody accepts what they did not see.
    for f in &m.files {
        eprintln!("  {:>10}  {}", size(f.size), safe(&f.path));
    }
    for f in &m.folders {
        eprintln!("  {:>10}  {}/", "folder", safe(f));
    }
}
