//! `courier listen`: print incoming messages and contact events.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use courier_core::proto::Target;
use courier_core::session::Event;
use futures::StreamExt;
use serde_json::json;

use crate::args::ListenArgs;
use crate::client::Client;
use crate::cmd::group;
use crate::output::{self, safe};

/// One line describing `event`, for people or (with `json`) for scripts.
pub(crate) fn describe(client: &Client, event: &Event, json: bool) -> Option<String> {
    let line = match event {
        Event::Message(m) => {
            let from = client.name_of(m.from);
            if json {
                let mut line = json!({
                    "type": "message",
                    "id": m.id.to_string(),
                    "from": output::person_json(m.from, &from),
                    "to": output::target_json(m.to),
                    "text": m.text,
                    "time": m.time.0,
                    "time_local": output::rfc3339(m.time),
                });
                if let Target::Group(g) = m.to {
                    line["group"] = group::group_ref_json(client, g);
                    line["seq"] = json!(m.seq);
                }
                line.to_string()
            } else {
                let (group, scope) = scope(client, m.to);
                format!(
                    "[{}] {group}{}{scope}: {}",
                    output::clock(m.time),
                    safe(&from),
                    safe(&m.text)
                )
            }
        }
        Event::Unreadable {
            id,
            from,
            to,
            time,
            seq,
            problem,
        } => {
            let name = client.name_of(*from);
            if json {
                let mut line = json!({
                    "type": "unreadable",
                    "id": id.to_string(),
                    "from": output::person_json(*from, &name),
                    "to": output::target_json(*to),
                    "problem": problem.to_string(),
                    "time": time.0,
                    "time_local": output::rfc3339(*time),
                });
                if let Target::Group(g) = to {
                    line["group"] = group::group_ref_json(client, *g);
                    line["seq"] = json!(seq);
                }
                line.to_string()
            } else {
                let (group, scope) = scope(client, *to);
                format!(
                    "[{}] {group}{}{scope}: (a message that could not be opened: {problem})",
                    output::clock(*time),
                    safe(&name),
                )
            }
        }
        Event::Missing { from, to, count } => {
            let name = client.name_of(*from);
            if json {
                json!({
                    "type": "missing",
                    "from": output::person_json(*from, &name),
                    "to": output::target_json(*to),
                    "count": count,
                })
                .to_string()
            } else {
                let (group, scope) = scope(client, *to);
                format!(
                    "! {group}{}{scope}: {count} earlier message(s) never arrived",
                    safe(&name)
                )
            }
        }
        Event::UnreadableOffer { from, problem, .. } => {
            let name = client.name_of(*from);
            if json {
                json!({
                    "type": "unreadable_offer",
                    "from": output::person_json(*from, &name),
                    "problem": problem.to_string(),
                })
                .to_string()
            } else {
                format!(
                    "! {} offered files that could not be opened ({problem}); declined",
                    safe(&name)
                )
            }
        }
        Event::Contact(c) if !c.online => {
            if json {
                json!({ "type": "left", "contact": output::contact_json(c) }).to_string()
            } else {
                format!("* {} went offline", safe(&c.profile.name))
            }
        }
        Event::Contact(c) => {
            if json {
                json!({ "type": "contact", "contact": output::contact_json(c) }).to_string()
            } else {
                format!("* {}", output::contact_line(c, client.name_is_shared(c)))
            }
        }
        Event::Typing { from, .. } => {
            if !json {
                return None;
            }
            json!({ "type": "typing", "from": output::person_json(*from, &client.name_of(*from)) })
                .to_string()
        }
        Event::Read { by, id } => {
            if !json {
                return None;
            }
            json!({ "type": "read", "by": output::person_json(*by, &client.name_of(*by)), "id": id.to_string() })
                .to_string()
        }
        Event::Receipt { id, status } => {
            let (word, reason) = output::delivery(status);
            if json {
                json!({ "type": "receipt", "id": id.to_string(), "status": word, "reason": reason })
                    .to_string()
            } else if let Some(why) = output::reject_text(status) {
                format!("! message not delivered: {why}")
            } else if word == "stored" {
                "(stored: delivered when they come online)".to_owned()
            } else {
                return None;
            }
        }
        Event::GroupEvent(e) => group::event_line(client, e, json),
        Event::GroupRead { group: g, by, upto } => {
            if !json {
                return None;
            }
            json!({
                "type": "group_read",
                "group": group::group_ref_json(client, *g),
                "by": output::person_json(*by, &client.name_of(*by)),
                "upto": upto,
            })
            .to_string()
        }
        Event::GroupGone(g) => {
            if json {
                json!({ "type": "group_gone", "group": group::group_ref_json(client, *g) })
                    .to_string()
            } else {
                format!("* you are no longer in {}", safe(&client.group_label(*g)))
            }
        }
        Event::HubError { detail, .. } => {
            if json {
                json!({ "type": "error", "detail": detail }).to_string()
            } else {
                format!("! hub: {}", safe(detail))
            }
        }
        _ => return None,
    };
    Some(line)
}

pub(crate) async fn run(args: ListenArgs) -> Result<ExitCode> {
    let mut client = Client::connect(&args.client.answering(&args.answer), true, true).await?;
    let deadline = args
        .timeout
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut messages = 0u64;
    if args.count == Some(0) {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let next = client.updates.next();
        let update = match deadline {
            Some(at) => {
                futures_lite::future::or(next, async {
                    smol::Timer::at(at).await;
                    None
                })
                .await
            }
            None => next.await,
        };
        let Some(update) = update else {
            // Timed out (or the session ended, which only happens after a fatal error).
            let reached = args.count.is_none_or(|n| messages >= n);
            return Ok(if reached {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        };
        let Some(event) = client.absorb(update)? else {
            continue;
        };
        if let Some(line) = describe(&client, &event, args.json) {
            crate::print(&format!("{line}\n"));
        }
        if matches!(event, Event::Message(_) | Event::Unreadable { .. }) {
            messages += 1;
            if args.count.is_some_and(|n| messages >= n) {
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

/// How a line about a message to `to` leads and what it adds after the name: a group's
/// line leads with the group (`#ops · ada`; no display name may start with '#', so no
/// direct message can pass for one), a message to everyone says so.
fn scope(client: &Client, to: Target) -> (String, &'static str) {
    match to {
        Target::Everyone => (String::new(), " (to everyone)"),
        Target::Group(g) => (format!("{} · ", safe(&client.group_label(g))), ""),
        Target::Client(_) => (String::new(), ""),
    }
}
