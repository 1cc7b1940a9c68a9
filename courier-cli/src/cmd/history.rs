//! `courier history`: what this computer kept from a hub, read or searched offline.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use courier_core::contacts;
use courier_core::history::{Entry, History, KeptGroupEvent, KeptTransfer, State, change_line};
use courier_core::identity::{Identity, PinStore};
use courier_core::proto::{ClientId, GroupId, RejectReason, Target, Timestamp};
use serde_json::json;

use crate::args::HistoryArgs;
use crate::client::profile_dir;
use crate::output::{date, rfc3339, safe};

pub(crate) fn run(args: &HistoryArgs) -> Result<ExitCode> {
    let dir = profile_dir(&args.client)?;
    let hub = PinStore::new(&dir)
        .get(args.client.hub.as_deref().unwrap_or(crate::args::LOCAL_HUB))
        .with_context(|| format!("reading the hub pins in {}", dir.display()))?
        .with_context(|| {
            format!(
                "no history with the hub at {} yet: it is kept from the first login",
                args.client.hub.as_deref().unwrap_or(crate::args::LOCAL_HUB)
            )
        })?;
    let history = History::open(&dir, &hub)?;
    let names = history.known_names()?;
    let groups = history.known_groups()?;
    // Only read: a command that reads the history never writes an identity.
    let me = Identity::stored_id(&dir).ok().flatten();
    let peer = match &args.who {
        Some(who) => Some(resolve(who, &names, &groups)?),
        None => None,
    };
    let mut entries = match &args.search {
        Some(text) => {
            // Searched across conversations, then narrowed to one if asked.
            let found = history.search(text, args.limit.saturating_mul(4).max(args.limit))?;
            found
                .into_iter()
                .filter(|e| peer.is_none_or(|p| e.peer == p))
                .take(args.limit)
                .collect()
        }
        None => history.page(peer, None, args.limit)?,
    };
    entries.reverse();
    // File cards of the same stretch of time, with the same person (not in a search).
    let cards =
        if args.search.is_some() || matches!(peer, Some(Target::Everyone | Target::Group(_))) {
            Vec::new()
        } else {
            let since = if entries.len() < args.limit {
                Timestamp(0)
            } else {
                entries.first().map_or(Timestamp(0), |e| e.time)
            };
            let with = match peer {
                Some(Target::Client(c)) => Some(c),
                _ => None,
            };
            history.kept_transfers(with, since, None, args.limit)?
        };
    // Membership changes of the same stretch, in a group's conversation or in all.
    let changes = match (&args.search, peer) {
        (None, None | Some(Target::Group(_))) => {
            let from = if entries.len() < args.limit {
                0
            } else {
                entries.first().map_or(0, |e| e.seq)
            };
            let group = match peer {
                Some(Target::Group(g)) => Some(g),
                _ => None,
            };
            history.group_events(group, from, None, args.limit)?
        }
        _ => Vec::new(),
    };
    let name = |id: &ClientId| {
        names
            .iter()
            .find(|(n, _)| n == id)
            .map_or_else(|| id.short(), |(_, name)| name.clone())
    };
    let label = |g: GroupId| {
        groups
            .iter()
            .find(|(id, _)| *id == g)
            .map_or_else(|| format!("#{g}"), |(_, name)| format!("#{name}"))
    };
    let group_name = |g: GroupId| {
        groups
            .iter()
            .find(|(id, _)| *id == g)
            .map(|(_, name)| name.clone())
    };
    let mut changes = changes.into_iter().peekable();
    // In a line about a group, we are "you".
    let person = |id: &ClientId| {
        if Some(*id) == me {
            "you".to_owned()
        } else {
            name(id)
        }
    };
    let mut change_lines = |out: &mut String, before: Option<i64>| {
        while let Some(c) = changes.next_if(|c| before.is_none_or(|seq| c.after < seq)) {
            if args.json {
                out.push_str(&change_json(&c, &name, &person, &label, &group_name).to_string());
            } else {
                let line = change_line(
                    &c.event,
                    |id| safe(&person(id)),
                    &safe(&label(c.event.group)),
                );
                out.push_str(&format!("{}  * {line}", date(c.event.time)));
            }
            out.push('\n');
        }
    };
    let mut out = String::new();
    let mut cards = cards.into_iter().peekable();
    let mut card_lines = |out: &mut String, until: Option<Timestamp>| {
        while let Some(card) = cards.next_if(|c| until.is_none_or(|t| c.time <= t)) {
            if args.json {
                out.push_str(&transfer_json(&card, &name).to_string());
            } else {
                out.push_str(&transfer_line(&card, &name));
            }
            out.push('\n');
        }
    };
    for e in &entries {
        card_lines(&mut out, Some(e.time));
        change_lines(&mut out, Some(e.seq));
        if args.json {
            out.push_str(&entry_json(e, &name, &group_name).to_string());
        } else {
            out.push_str(&entry_line(e, &name, &label));
        }
        out.push('\n');
    }
    card_lines(&mut out, None);
    change_lines(&mut out, None);
    if out.is_empty() && !args.json {
        eprintln!(
            "nothing kept{}",
            if args.search.is_some() {
                " matches"
            } else {
                ""
            }
        );
    }
    crate::print(&out);
    Ok(ExitCode::SUCCESS)
}

/// WHO among the people the history knows, by the one rule of
/// [`courier_core::contacts::resolve`]: "everyone", an id (prefix), then a name; or
/// `#name` among the groups it knows, by [`courier_core::contacts::resolve_group`].
fn resolve(
    who: &str,
    names: &[(ClientId, String)],
    groups: &[(GroupId, String)],
) -> Result<Target> {
    if who.trim_start().starts_with('#') {
        let known = groups.iter().map(|(id, name)| (*id, name.as_str()));
        return Ok(Target::Group(contacts::resolve_group(who, known)?));
    }
    match contacts::resolve(who, names.iter().map(|(id, name)| (*id, name.as_str()))) {
        Ok(target) => Ok(target),
        Err(contacts::Error::NotFound(who)) => {
            bail!("nobody called {:?} in this history", safe(&who))
        }
        Err(e) => bail!("{e}"),
    }
}

fn state_word(s: &State) -> String {
    match s {
        State::Received => "received".into(),
        State::Unsent => "waiting (not sent yet)".into(),
        State::Sent => "sent".into(),
        State::Delivered => "delivered".into(),
        State::Stored => "stored".into(),
        State::Read => "read".into(),
        State::Rejected(why) => format!("rejected ({why})"),
        _ => "unknown".into(),
    }
}

fn change_json(
    c: &KeptGroupEvent,
    name: &impl Fn(&ClientId) -> String,
    person: &impl Fn(&ClientId) -> String,
    label: &impl Fn(GroupId) -> String,
    group_name: &impl Fn(GroupId) -> Option<String>,
) -> serde_json::Value {
    let e = &c.event;
    json!({
        "type": "group_event",
        "after": c.after,
        "conversation": format!("#{}", e.group),
        "group": { "id": e.group.0, "name": group_name(e.group) },
        "position": e.seq,
        "by": { "id": e.by.to_hex(), "name": name(&e.by) },
        "text": change_line(e, person, &label(e.group)),
        "time": e.time.0,
        "time_local": rfc3339(e.time),
    })
}

fn entry_json(
    e: &Entry,
    name: &impl Fn(&ClientId) -> String,
    group_name: &impl Fn(GroupId) -> Option<String>,
) -> serde_json::Value {
    let mut line = json!({
        "type": "message",
        "seq": e.seq,
        "id": e.id.to_string(),
        "conversation": match e.peer {
            Target::Everyone => json!("everyone"),
            Target::Group(g) => json!(format!("#{g}")),
            Target::Client(c) => json!(c.to_hex()),
        },
        "from": { "id": e.from.to_hex(), "name": name(&e.from) },
        "outgoing": e.outgoing,
        "text": e.text,
        "time": e.time.0,
        "time_local": rfc3339(e.time),
        "state": state_word(&e.state),
    });
    if let Target::Group(g) = e.peer {
        line["group"] = json!({ "id": g.0, "name": group_name(g) });
    }
    line
}

fn transfer_json(c: &KeptTransfer, name: &impl Fn(&ClientId) -> String) -> serde_json::Value {
    json!({
        "type": "files",
        "seq": c.seq,
        "with": { "id": c.peer.to_hex(), "name": name(&c.peer) },
        "outgoing": c.outgoing,
        "files": c.files.iter().map(|(n, size)| json!({"name": n, "size": size})).collect::<Vec<_>>(),
        "count": c.count,
        "bytes": c.bytes,
        "time": c.time.0,
        "time_local": rfc3339(c.time),
        "outcome": c.outcome,
        "saved_in": c.saved_in.as_ref().map(|p| p.display().to_string()),
    })
}

fn transfer_line(c: &KeptTransfer, name: &impl Fn(&ClientId) -> String) -> String {
    let who = safe(&name(&c.peer));
    let (from, to) = if c.outgoing {
        ("you".to_owned(), who)
    } else {
        (who, "you".to_owned())
    };
    let mut files: Vec<String> = c
        .files
        .iter()
        .take(3)
        .map(|(n, size)| format!("{} ({})", safe(n), courier_core::units::size(*size)))
        .collect();
    if c.count > 3 {
        files.push(format!("and {} more", c.count - 3));
    }
    let saved = c
        .saved_in
        .as_ref()
        .map(|p| format!(" · saved in {}", safe(&p.display().to_string())))
        .unwrap_or_default();
    format!(
        "{}  {from} → {to}: [files] {} — {}{saved}",
        date(c.time),
        files.join(", "),
        safe(&c.outcome)
    )
}

fn entry_line(
    e: &Entry,
    name: &impl Fn(&ClientId) -> String,
    label: &impl Fn(GroupId) -> String,
) -> String {
    let to = match e.peer {
        Target::Everyone => "everyone".to_owned(),
        Target::Group(g) => safe(&label(g)),
        Target::Client(c) if e.outgoing => safe(&name(&c)),
        Target::Client(_) => "you".to_owned(),
    };
    let from = if e.outgoing {
        "you".to_owned()
    } else {
        safe(&name(&e.from))
    };
    let state = if e.outgoing {
        let word = match &e.state {
            // For people, core's sentence, as `say` and the app say it.
            State::Rejected(code) => RejectReason::from_code(code)
                .map_or_else(|| state_word(&e.state), |r| format!("not delivered: {r}")),
            other => state_word(other),
        };
        format!("  [{word}]")
    } else {
        String::new()
    };
    format!("{}  {from} → {to}: {}{state}", date(e.time), safe(&e.text))
}
