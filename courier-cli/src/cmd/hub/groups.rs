//! `courier hub groups`: every group of the hub with its members and their roles, read
//! from the hub's database (beside a running hub too); `courier hub groups remove GROUP
//! MEMBER` takes someone out of a group, as a request a running hub carries out within
//! seconds (a stopped one at its next start).

use std::process::ExitCode;

use anyhow::{Result, bail};
use courier_core::hub::db::StoredGroup;
use courier_core::proto::ClientId;
use serde_json::json;

use super::{PICKUP, database, resolve};
use crate::args::{HubGroupRemoveArgs, HubGroupsAction, HubGroupsArgs};
use crate::output::safe;

pub(super) fn run(args: &HubGroupsArgs) -> Result<ExitCode> {
    match &args.action {
        Some(HubGroupsAction::Remove(a)) => remove(a),
        None => list(args),
    }
}

fn list(args: &HubGroupsArgs) -> Result<ExitCode> {
    let db = database(args.data_dir.as_ref())?;
    let members = db.members()?;
    let name = |id: &ClientId| {
        members
            .iter()
            .find(|m| m.id == *id)
            .map(|m| m.profile.name.clone())
    };
    let groups = db.group_list()?;
    let mut out = String::new();
    for g in &groups {
        if args.json {
            let list: Vec<_> = g
                .members
                .iter()
                .map(|m| {
                    json!({
                        "id": m.id.to_hex(),
                        "short": m.id.short(),
                        "name": name(&m.id),
                        "role": m.role.word(),
                        "joined": m.joined,
                        "read": m.read,
                    })
                })
                .collect();
            let line = json!({
                "group": g.id.0,
                "name": g.name,
                "last": g.last,
                "members": list,
            });
            out.push_str(&line.to_string());
            out.push('\n');
        } else {
            out.push_str(&format!(
                "#{}  {}  ({} member(s))\n",
                g.id,
                safe(&g.name),
                g.members.len()
            ));
            for m in &g.members {
                out.push_str(&format!(
                    "    {}  {:<24} {}\n",
                    m.id.short(),
                    safe(&name(&m.id).unwrap_or_else(|| "-".to_owned())),
                    m.role.word()
                ));
            }
        }
    }
    if !args.json && groups.is_empty() {
        eprintln!("no groups yet");
    }
    crate::print(&out);
    Ok(ExitCode::SUCCESS)
}

/// The group `wanted` names: its number, or its name (with or without `#`) if only one
/// group has it.
fn find<'a>(groups: &'a [StoredGroup], wanted: &str) -> Result<&'a StoredGroup> {
    let wanted = wanted.trim();
    if let Ok(n) = wanted.trim_start_matches('#').parse::<u64>()
        && let Some(g) = groups.iter().find(|g| g.id.0 == n)
    {
        return Ok(g);
    }
    let cleaned = courier_core::proto::clean_group_name(wanted).unwrap_or_default();
    let named: Vec<&StoredGroup> = groups
        .iter()
        .filter(|g| g.name.to_lowercase() == cleaned.to_lowercase())
        .collect();
    match named.as_slice() {
        [g] => Ok(g),
        [] => bail!(
            "no group is called or numbered {:?} (see `courier hub groups`)",
            safe(wanted)
        ),
        _ => bail!(
            "{} groups are called {:?}: give its number (see `courier hub groups`)",
            named.len(),
            safe(wanted)
        ),
    }
}

fn remove(args: &HubGroupRemoveArgs) -> Result<ExitCode> {
    let db = database(args.data_dir.as_ref())?;
    let groups = db.group_list()?;
    let group = find(&groups, &args.group)?;
    let members = db.members()?;
    let (id, name) = resolve(&members, &args.member, "remove", false)?;
    if group.members.iter().all(|m| m.id != id) {
        bail!(
            "{} ({}) is not in #{} {}",
            id.short(),
            safe(&name),
            group.id,
            safe(&group.name)
        );
    }
    db.request_group_remove(group.id, &id)?;
    let start = std::time::Instant::now();
    let mut done = false;
    while start.elapsed() < PICKUP {
        if !db.is_group_remove_requested(group.id, &id)? {
            done = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let how = if done {
        "the running hub took them out"
    } else {
        "no hub is running: the hub takes them out when it starts"
    };
    crate::print(&format!(
        "removed {} ({}) from #{} {}: {how}\n",
        id.short(),
        safe(&name),
        group.id,
        safe(&group.name)
    ));
    Ok(ExitCode::SUCCESS)
}
