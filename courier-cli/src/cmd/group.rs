//! `courier group …` (create, add, remove, leave, admin) and `courier groups`, and how
//! groups show in other commands' output.

use std::process::ExitCode;

use anyhow::{Result, bail};
use courier_core::proto::{
    ClientId, Group, GroupChange, GroupEvent, GroupId, GroupOutcome, Target,
};
use courier_core::session::{Event, GroupRequest, Update};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::args::{GroupAction, GroupArgs, GroupsArgs};
use crate::client::Client;
use crate::output::{self, safe};

pub(crate) async fn run(args: GroupArgs) -> Result<ExitCode> {
    match args.action {
        GroupAction::Create(a) => {
            let mut client = Client::connect(&a.client, false, false).await?;
            let members = contacts(&client, &a.with)?;
            let request = GroupRequest::Create {
                name: a.group.clone(),
                members: members.clone(),
            };
            let shown = safe(&format!("#{}", a.group.trim().trim_start_matches('#')));
            let done = |id: GroupId, names: String| {
                let with = if names.is_empty() {
                    String::new()
                } else {
                    format!(" with {names}")
                };
                format!("created {shown} (id {id}){with}")
            };
            let what = format!("create {shown}");
            change(&mut client, request, &what, &members, done).await
        }
        GroupAction::Add(a) => {
            let mut client = Client::connect(&a.client, false, false).await?;
            let (group, label) = group(&mut client, &a.group).await?;
            let members = contacts(&client, &a.who)?;
            let names = list_names(&client, &members);
            let request = GroupRequest::Add {
                group,
                members: members.clone(),
            };
            let what = format!("add {names} to {label}");
            let done = |_, added| format!("added {added} to {label}");
            change(&mut client, request, &what, &members, done).await
        }
        GroupAction::Remove(a) => {
            let mut client = Client::connect(&a.client, false, false).await?;
            let (group, label) = group(&mut client, &a.group).await?;
            let member = contact(&client, &a.who)?;
            let name = safe(&client.person(member));
            let request = GroupRequest::Remove { group, member };
            let what = format!("remove {name} from {label}");
            let done = |_, _| format!("removed {name} from {label}");
            change(&mut client, request, &what, &[], done).await
        }
        GroupAction::Leave(a) => {
            let mut client = Client::connect(&a.client, false, false).await?;
            let (group, label) = group(&mut client, &a.group).await?;
            let request = GroupRequest::Leave { group };
            let done = |_, _| format!("left {label}");
            change(&mut client, request, &format!("leave {label}"), &[], done).await
        }
        GroupAction::Admin(a) => {
            let mut client = Client::connect(&a.client, false, false).await?;
            let (group, label) = group(&mut client, &a.group).await?;
            let member = contact(&client, &a.who)?;
            let name = safe(&client.person(member));
            let admin = !a.off;
            let request = GroupRequest::Admin {
                group,
                member,
                admin,
            };
            let (what, done) = if admin {
                (
                    format!("make {name} an admin of {label}"),
                    format!("{name} is now an admin of {label}"),
                )
            } else {
                (
                    format!("make {name} a plain member of {label}"),
                    format!("{name} is now a plain member of {label}"),
                )
            };
            change(&mut client, request, &what, &[], |_, _| done.clone()).await
        }
    }
}

/// `courier groups`: every group we are in, with its members and our role.
pub(crate) async fn list(args: GroupsArgs) -> Result<ExitCode> {
    let mut client = Client::connect(&args.client, false, false).await?;
    client.wait_groups().await?;
    let mut out = String::new();
    for g in client.groups.sorted() {
        if args.json {
            out.push_str(&group_json(&client, g).to_string());
            out.push('\n');
        } else {
            out.push_str(&group_lines(&client, g));
        }
    }
    if !args.json && client.groups.is_empty() {
        eprintln!("you are in no group yet (courier group create NAME)");
    }
    crate::print(&out);
    Ok(ExitCode::SUCCESS)
}

/// Asks the hub for `request` and waits for its answer: one line saying what was done
/// (exit 0), or why it was refused (exit 1). `what` says what was asked ("remove Bob
/// from #ops"), for the refusal.
/// Asks the hub for a change and says what became of it. `adding`: the people a create
/// or add names; the hub skips those already in as many groups as it allows (not the
/// whole change), so `done` gets the names of those who are in, and the others are said
/// on stderr with exit status 1 (not all that was asked was done).
async fn change(
    client: &mut Client,
    request: GroupRequest,
    what: &str,
    adding: &[ClientId],
    done: impl FnOnce(GroupId, String) -> String,
) -> Result<ExitCode> {
    let tag = client.handle.change_group(request).await?;
    // Groups whose new state (or end for us) came before the answer.
    let mut settled = std::collections::HashSet::new();
    while let Some(update) = client.updates.next().await {
        match update {
            Update::Event(Event::GroupAnswer { tag: t, outcome }) if t == tag => {
                return Ok(match outcome {
                    GroupOutcome::Done(id) => {
                        if !settled.contains(&id) {
                            settle(client, id).await;
                        }
                        let (added, skipped): (Vec<ClientId>, Vec<ClientId>) =
                            adding.iter().partition(|who| {
                                client
                                    .groups
                                    .get(&id)
                                    .is_none_or(|g| g.member(who).is_some())
                            });
                        crate::print(&format!("{}\n", done(id, list_names(client, &added))));
                        if skipped.is_empty() {
                            ExitCode::SUCCESS
                        } else {
                            eprintln!(
                                "courier: not added: {} (in as many groups as the hub allows)",
                                list_names(client, &skipped)
                            );
                            ExitCode::from(1)
                        }
                    }
                    GroupOutcome::Refused(why) => {
                        eprintln!("courier: cannot {what}: {why}");
                        ExitCode::from(1)
                    }
                });
            }
            Update::Event(e) => {
                client.apply(&e);
                match e {
                    Event::Group(g) => {
                        settled.insert(g.id);
                    }
                    Event::GroupGone(g) => {
                        settled.insert(g);
                    }
                    _ => {}
                }
            }
            Update::Disconnected { reason, .. } => {
                return Err(anyhow::anyhow!(reason).context("connection lost before the answer"));
            }
            Update::Connected { .. } => {}
        }
    }
    bail!("the session ended before the hub answered")
}

/// After a change was done: takes what the hub sends about it (the change as an entry of
/// the group, then the group as it is now, or its end for us) into the history, for a
/// short while at most.
async fn settle(client: &mut Client, id: GroupId) {
    let settled = async {
        while let Some(update) = client.updates.next().await {
            let Update::Event(e) = update else { continue };
            client.apply(&e);
            match e {
                Event::Group(g) if g.id == id => return,
                Event::GroupGone(g) if g == id => return,
                _ => {}
            }
        }
    };
    futures_lite::future::or(settled, async {
        smol::Timer::after(SETTLE_WITHIN).await;
    })
    .await;
}

/// How long a change waits for the group's new state after the hub's answer.
const SETTLE_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// The group `name` names (`ops`, `#ops` or `#12`) among ours, and its label.
async fn group(client: &mut Client, name: &str) -> Result<(GroupId, String)> {
    client.wait_groups().await?;
    let id = client.groups.resolve(name)?;
    Ok((id, safe(&client.group_label(id))))
}

/// One contact, by name or id prefix.
fn contact(client: &Client, who: &str) -> Result<ClientId> {
    match client.resolve(who)? {
        Target::Client(id) => Ok(id),
        Target::Everyone | Target::Group(_) => {
            bail!("{:?} is not a contact: name members one by one", safe(who))
        }
    }
}

fn contacts(client: &Client, who: &[String]) -> Result<Vec<ClientId>> {
    let mut ids = Vec::new();
    for w in who.iter().filter(|w| !w.trim().is_empty()) {
        let id = contact(client, w)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn list_names(client: &Client, ids: &[ClientId]) -> String {
    ids.iter()
        .map(|id| safe(&client.person(*id)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `{"id": 12, "name": "ops"}`: which group, for `--json`.
pub(crate) fn group_ref_json(client: &Client, id: GroupId) -> Value {
    json!({ "id": id.0, "name": client.group_name(id) })
}

fn group_json(client: &Client, g: &Group) -> Value {
    let members: Vec<Value> = g
        .members
        .iter()
        .map(|m| {
            json!({
                "id": m.id.to_hex(),
                "short": m.id.short(),
                "name": if m.id == client.me { None } else { Some(client.name_of(m.id)) },
                "role": m.role.word(),
                "you": m.id == client.me,
                "read": m.read,
            })
        })
        .collect();
    json!({
        "type": "group",
        "id": g.id.0,
        "name": g.name,
        "role": g.member(&client.me).map(|m| m.role.word()),
        "members": members,
        "last": g.last,
    })
}

fn group_lines(client: &Client, g: &Group) -> String {
    let role = g
        .member(&client.me)
        .map_or("not a member", |m| m.role.word());
    let mut out = format!(
        "{}  (id {}) {}; you: {role}\n",
        safe(&client.group_label(g.id)),
        g.id,
        output::count(g.members.len(), "member", "members")
    );
    for m in &g.members {
        let name = if m.id == client.me {
            "(you)".to_owned()
        } else {
            safe(&client.name_of(m.id))
        };
        out.push_str(&format!(
            "  {}  {:<24} {}\n",
            m.id.short(),
            name,
            m.role.word()
        ));
    }
    out
}

/// A membership change for `listen` and `chat`: "* Ada added Bob to #ops", or its JSON.
pub(crate) fn event_line(client: &Client, e: &GroupEvent, json: bool) -> String {
    let label = client.group_label(e.group);
    if !json {
        let line =
            courier_core::history::change_line(e, |id| safe(&client.person(*id)), &safe(&label));
        return format!("* {line}");
    }
    let line = courier_core::history::change_line(e, |id| client.person(*id), &label);
    let person = |id: ClientId| output::person_json(id, &client.name_of(id));
    let (kind, member) = match &e.change {
        GroupChange::Created { .. } => ("created", None),
        GroupChange::Added(m) => ("added", Some(*m)),
        GroupChange::Removed(m) => ("removed", Some(*m)),
        GroupChange::Left => ("left", None),
        GroupChange::Admin {
            member,
            admin: true,
        } => ("admin", Some(*member)),
        GroupChange::Admin {
            member,
            admin: false,
        } => ("not_admin", Some(*member)),
        GroupChange::RemovedByOwner => ("removed_by_owner", None),
    };
    json!({
        "type": "group_event",
        "group": group_ref_json(client, e.group),
        "seq": e.seq,
        "by": person(e.by),
        "change": kind,
        "member": member.map(person),
        "text": line,
        "time": e.time.0,
        "time_local": output::rfc3339(e.time),
    })
    .to_string()
}
