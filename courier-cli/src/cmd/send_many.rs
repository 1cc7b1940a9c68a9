//! `courier send --to A --to B …`: the same files to several contacts, one offer each,
//! through the core's coordinator (`transfer::many`). This file only shows what happens.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Result, bail};
use courier_core::proto::{ClientId, Target};
use courier_core::transfer::Update as Copy;
use courier_core::transfer::many::{self, Outcome, Status, Update};
use futures::StreamExt;
use serde_json::{Value, json};

use super::send::{capitalize, kept_transfer};
use crate::args::SendArgs;
use crate::client::Client;
use crate::output::{person_json, safe};
use crate::progress::{progress_json, size};

pub(crate) async fn run(args: SendArgs) -> Result<ExitCode> {
    let mut client = Client::connect(&args.client, false, false).await?;
    let mut to: Vec<ClientId> = Vec::new();
    for who in &args.to {
        match client.resolve(who)? {
            Target::Client(id) if id == client.me => bail!("{who:?} is you"),
            Target::Client(id) if !to.contains(&id) => to.push(id),
            Target::Client(_) => {}
            Target::Everyone | Target::Group(_) => {
                bail!("files go to contacts: name each with --to ({who:?} is not one)")
            }
        }
    }
    let options = args.net.options();
    if options.listen.is_some_and(|a| a.port() != 0) && to.len() > 1 {
        bail!("--bind with a port takes one copy; with several --to give only the IP");
    }
    let names: HashMap<ClientId, String> = to.iter().map(|&id| (id, client.name_of(id))).collect();
    let name = |id: &ClientId| names.get(id).cloned().unwrap_or_else(|| id.short());
    let config = many::Config {
        running: usize::from(args.parallel),
        ..many::Config::default()
    };
    if !args.json {
        let list: Vec<String> = to.iter().map(|id| safe(&name(id))).collect();
        eprintln!(
            "Offering to {} ({} at a time)…",
            list.join(", "),
            config.running
        );
    }
    let mut sending = many::send(
        client.handle.clone(),
        to.clone(),
        args.paths.clone(),
        options,
        config,
    );
    let canceller = sending.canceller();
    let _ = ctrlc::set_handler(move || canceller.cancel());
    let rows: Vec<_> = to.iter().map(|id| (*id, name(id))).collect();
    let mut board = Board::new(args.json, &rows);
    let emit = |v: Value| crate::print(&format!("{v}\n"));
    loop {
        futures::select! {
            update = futures::FutureExt::fuse(client.updates.next()) => match update {
                Some(u) => { client.absorb(u)?; }
                None => bail!("the session ended"),
            },
            update = futures::FutureExt::fuse(sending.next()) => {
                let Some(update) = update else { bail!("the send ended without a result") };
                match update {
                    Update::Started { to, attempt } if attempt > 1 => {
                        board.say(&format!("{}: offering again (try {attempt})…", safe(&name(&to))));
                    }
                    Update::Transfer { to, update } => {
                        let who = person_json(to, &name(&to));
                        if let Some(line) = copy_json(&update, who) {
                            emit(line);
                        }
                        if let Some(text) = copy_text(&update) {
                            board.say(&format!("{}: {text}", safe(&name(&to))));
                        }
                        board.absorb(to, &update);
                    }
                    Update::Retrying { to, error } => {
                        if args.json {
                            emit(json!({"type": "retrying", "to": person_json(to, &name(&to)), "error": error.to_string()}));
                        }
                        board.say(&format!("{}: {error}; offering again, the copy resumes", safe(&name(&to))));
                    }
                    Update::Settled(outcome) => {
                        board.settle(&outcome);
                        keep(&client, &args.paths, &outcome, &name(&outcome.to));
                        if args.json {
                            emit(outcome_json(&outcome, &name(&outcome.to)));
                        }
                    }
                    Update::Finished(Ok(report)) => {
                        board.clear();
                        return Ok(finish(&report, args.json, &name));
                    }
                    Update::Finished(Err(e)) => {
                        board.clear();
                        return Ok(super::send::report_failure(&client, &e, args.json));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The JSON line for a copy's update, tagged with its recipient.
fn copy_json(u: &Copy, to: Value) -> Option<Value> {
    let mut v = match u {
        Copy::Offered { id } => json!({"type": "offered", "transfer": id.to_string()}),
        Copy::Stored { id } => json!({"type": "stored", "transfer": id.to_string()}),
        Copy::Accepted { files } => json!({"type": "accepted", "files": files}),
        Copy::Connected { route } => json!({"type": "connected", "route": route}),
        Copy::Progress(p) => progress_json(p),
        Copy::FileDone { index, .. } => json!({"type": "verified", "file": index}),
        Copy::FileFailed { index, reason } => {
            json!({"type": "failed", "file": index, "reason": reason.to_string()})
        }
        _ => return None,
    };
    v["to"] = to;
    Some(v)
}

/// What a person reads for a copy's update (progress goes to the bar).
fn copy_text(u: &Copy) -> Option<String> {
    Some(match u {
        Copy::Stored { .. } => {
            "offline; the offer waits at the hub for their next login".to_owned()
        }
        Copy::Accepted { files } => {
            format!(
                "accepted ({})",
                crate::output::count(files.len(), "file", "files")
            )
        }
        Copy::Connected { route } => format!("connected ({route})"),
        Copy::FileFailed { index, reason } => format!("file {index} failed: {reason}"),
        _ => return None,
    })
}

fn status_word(o: &Outcome) -> &'static str {
    match (o.status, o.offline) {
        (Status::Verified, true) => "offline-then-delivered",
        (Status::Verified, false) => "verified",
        (Status::Declined, _) => "declined",
        (Status::Cancelled, _) => "cancelled",
        (Status::Failed, _) => "failed",
        (Status::Pending, _) => "pending",
    }
}

fn outcome_json(o: &Outcome, name: &str) -> Value {
    json!({
        "type": "recipient",
        "to": person_json(o.to, name),
        "status": status_word(o),
        "verified": o.status == Status::Verified,
        "offline": o.offline,
        "accepted": o.accepted,
        "files": o.verified,
        "bytes": o.bytes,
        "total": o.total,
        "attempts": o.attempts,
        "route": o.summary.as_ref().map(|s| s.route),
        "resumed": o.summary.as_ref().map(|s| s.resumed),
        "error": o.error.as_ref().filter(|_| o.status != Status::Verified).map(ToString::to_string),
    })
}

/// One line per recipient for people.
fn outcome_line(o: &Outcome, name: &str) -> String {
    let who = safe(name);
    match (&o.summary, o.status) {
        (Some(s), Status::Verified) => {
            let mut line = crate::progress::summary_line(&format!("{who}:"), s);
            if o.offline {
                line.push_str(" (was offline)");
            }
            if o.attempts > 1 {
                line.push_str(&format!(" after {} tries", o.attempts));
            }
            line
        }
        _ => {
            let why = o
                .error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            format!("{who}: {}{why}", status_word(o))
        }
    }
}

/// What the history keeps of each copy.
fn keep(client: &Client, paths: &[std::path::PathBuf], o: &Outcome, name: &str) {
    let text = match &o.summary {
        Some(s) => crate::progress::summary_line(&format!("Sent to {}:", safe(name)), s),
        None => capitalize(&outcome_line(o, name)),
    };
    let (files, bytes) = o
        .summary
        .as_ref()
        .map_or((0, 0), |s| (s.files as u64, s.bytes));
    client.keep_transfer(&kept_transfer(o.to, paths, files, bytes, &text));
}

/// Lists every recipient and picks the exit status.
fn finish(report: &many::Report, json: bool, name: &dyn Fn(&ClientId) -> String) -> ExitCode {
    let count = |s: Status| report.outcomes.iter().filter(|o| o.status == s).count();
    let (ok, failed) = (count(Status::Verified), count(Status::Failed));
    let code: u8 = if failed > 0 {
        2
    } else if ok == 0 || count(Status::Cancelled) > 0 {
        1
    } else {
        0
    };
    if json {
        let status = match code {
            0 => "ok",
            1 => "incomplete",
            _ => "error",
        };
        let line = json!({
            "type": "result",
            "status": status,
            "recipients": report.outcomes.iter().map(|o| outcome_json(o, &name(&o.to))).collect::<Vec<_>>(),
            "verified": ok,
            "declined": count(Status::Declined),
            "failed": failed,
            "cancelled": count(Status::Cancelled),
            "read_from_disk": report.read_from_disk,
        });
        crate::print(&format!("{line}\n"));
    } else {
        for o in &report.outcomes {
            crate::print(&format!("{}\n", outcome_line(o, &name(&o.to))));
        }
        eprintln!(
            "{} of {} verified every file{}.",
            ok,
            report.outcomes.len(),
            [
                (count(Status::Declined), "declined"),
                (failed, "failed"),
                (count(Status::Cancelled), "cancelled")
            ]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, w)| format!("; {n} {w}"))
            .collect::<String>()
        );
    }
    ExitCode::from(code)
}

/// The progress of every copy on one line of stderr (a terminal only), and the lines
/// people read about each recipient.
struct Board {
    enabled: bool,
    json: bool,
    drawn: bool,
    rows: Vec<(ClientId, String, Row)>,
}

#[derive(Clone, Copy)]
enum Row {
    Waiting,
    Offline,
    Moving { bytes: u64, total: u64 },
    Over(Status),
}

impl Board {
    fn new(json: bool, to: &[(ClientId, String)]) -> Self {
        Self {
            enabled: !json && std::io::stderr().is_terminal(),
            json,
            drawn: false,
            rows: to
                .iter()
                .map(|(id, name)| (*id, safe(name), Row::Waiting))
                .collect(),
        }
    }

    fn row(&mut self, to: ClientId) -> Option<&mut Row> {
        self.rows
            .iter_mut()
            .find(|(id, _, _)| *id == to)
            .map(|(_, _, r)| r)
    }

    fn say(&mut self, line: &str) {
        if self.json {
            return;
        }
        self.clear();
        eprintln!("{line}");
        self.draw();
    }

    fn absorb(&mut self, to: ClientId, u: &Copy) {
        let Some(row) = self.row(to) else { return };
        match u {
            Copy::Stored { .. } => *row = Row::Offline,
            Copy::Progress(p) => {
                *row = Row::Moving {
                    bytes: p.bytes,
                    total: p.total,
                }
            }
            _ => return,
        }
        self.draw();
    }

    fn settle(&mut self, o: &Outcome) {
        if let Some(row) = self.row(o.to) {
            *row = Row::Over(o.status);
        }
        self.draw();
    }

    fn draw(&mut self) {
        if !self.enabled {
            return;
        }
        let (mut bytes, mut total) = (0u64, 0u64);
        let mut parts = Vec::new();
        for (_, name, row) in &self.rows {
            let cell = match row {
                Row::Waiting => "…".to_owned(),
                Row::Offline => "offline".to_owned(),
                Row::Moving { bytes: b, total: t } => {
                    bytes += b;
                    total += t;
                    format!("{}%", if *t == 0 { 100 } else { b * 100 / t })
                }
                Row::Over(s) => match s {
                    Status::Verified => "✓".to_owned(),
                    Status::Declined => "declined".to_owned(),
                    Status::Cancelled => "cancelled".to_owned(),
                    Status::Failed => "failed".to_owned(),
                    Status::Pending => "…".to_owned(),
                },
            };
            parts.push(format!("{name} {cell}"));
        }
        let mut line = format!("\r{} / {}  {}", size(bytes), size(total), parts.join(" · "));
        line.truncate(line.char_indices().nth(160).map_or(line.len(), |(i, _)| i));
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(format!("{line}\x1b[K").as_bytes());
        let _ = err.flush();
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[K");
            self.drawn = false;
        }
    }
}
