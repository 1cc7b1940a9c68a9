//! `courier history`: what this computer kept from a hub, read or searched offline.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use courier_core::contacts::name_key;
use courier_core::history::{Entry, History, State};
use courier_core::identity::PinStore;
use courier_core::proto::{ClientId, Target};
use serde_json::json;

use crate::args::HistoryArgs;
use crate::client::profile_dir;
use crate::output::{safe, utc};

pub(crate) fn run(args: &HistoryArgs) -> Result<ExitCode> {
    let dir = profile_dir(&args.client)?;
    let hub = PinStore::new(&dir)
        .get(&args.client.hub)
        .with_context(|| format!("reading the hub pins in {}", dir.display()))?
        .with_context(|| {
            format!(
                "no history with the hub at {} yet: it is kept from the first login",
                args.client.hub
            )
        })?;
    let history = History::open(&dir, &hub)?;
    let names = history.known_names()?;
    let peer = match &args.who {
        Some(who) => Some(resolve(who, &names)?),
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
    let name = |id: &ClientId| {
        names
            .iter()
            .find(|(n, _)| n == id)
            .map_or_else(|| id.short(), |(_, name)| name.clone())
    };
    let mut out = String::new();
    for e in &entries {
        if args.json {
            out.push_str(&entry_json(e, &name).to_string());
        } else {
            out.push_str(&entry_line(e, &name));
        }
        out.push('\n');
    }
    if entries.is_empty() && !args.json {
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

/// WHO among the people the history knows: "everyone", an id prefix, or a name.
fn resolve(who: &str, names: &[(ClientId, String)]) -> Result<Target> {
    let who = who.trim();
    if who.eq_ignore_ascii_case("everyone") {
        return Ok(Target::Everyone);
    }
    let lower = who.to_ascii_lowercase();
    let by_id: Vec<&ClientId> = names
        .iter()
        .map(|(id, _)| id)
        .filter(|id| lower.len() >= 4 && id.to_hex().starts_with(&lower))
        .collect();
    let found: Vec<&ClientId> = if by_id.is_empty() {
        let key = name_key(who);
        names
            .iter()
            .filter(|(_, n)| name_key(n) == key)
            .map(|(id, _)| id)
            .collect()
    } else {
        by_id
    };
    match found.as_slice() {
        [one] => Ok(Target::Client(**one)),
        [] => bail!("nobody called {:?} in this history", safe(who)),
        many => bail!(
            "{:?} is more than one person ({}): give the id",
            safe(who),
            many.iter()
                .map(|id| id.short())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn state_word(s: &State) -> String {
    match s {
        State::Received => "received".into(),
        State::Sent => "sent".into(),
        State::Delivered => "delivered".into(),
        State::Stored => "stored".into(),
        State::Read => "read".into(),
        State::Rejected(why) => format!("rejected ({why})"),
        _ => "unknown".into(),
    }
}

fn entry_json(e: &Entry, name: &impl Fn(&ClientId) -> String) -> serde_json::Value {
    json!({
        "type": "message",
        "seq": e.seq,
        "id": e.id.to_string(),
        "conversation": match e.peer {
            Target::Everyone => json!("everyone"),
            Target::Client(c) => json!(c.to_hex()),
        },
        "from": { "id": e.from.to_hex(), "name": name(&e.from) },
        "outgoing": e.outgoing,
        "text": e.text,
        "time": e.time.0,
        "state": state_word(&e.state),
    })
}

fn entry_line(e: &Entry, name: &impl Fn(&ClientId) -> String) -> String {
    let to = match e.peer {
        Target::Everyone => "everyone".to_owned(),
        Target::Client(c) if e.outgoing => safe(&name(&c)),
        Target::Client(_) => "you".to_owned(),
    };
    let from = if e.outgoing {
        "you".to_owned()
    } else {
        safe(&name(&e.from))
    };
    let state = if e.outgoing {
        format!("  [{}]", state_word(&e.state))
    } else {
        String::new()
    };
    format!("{}  {from} → {to}: {}{state}", utc(e.time), safe(&e.text))
}
