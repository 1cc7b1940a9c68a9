//! `courier hub`: run a hub until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use courier_core::auth::{HubSecret, Password};
use courier_core::hub;
use courier_core::proto::Target;
use serde_json::json;

use crate::args::{HubAction, HubArgs, HubDropArgs, HubForgetArgs, HubMembersArgs};

mod backup;
pub(crate) mod config;
mod endpoint;
mod groups;
mod metrics;
mod notify;
mod status;
use crate::output::{date, rfc3339, safe};
use crate::password;

fn data_dir(dir: Option<&PathBuf>) -> Result<PathBuf> {
    match dir {
        Some(d) => Ok(d.clone()),
        None => directories::ProjectDirs::from("", "", "courier")
            .map(|d| d.data_dir().join("hub"))
            .context("cannot find a home directory; pass --data-dir"),
    }
}

/// Loads the stored password record, or sets a new password.
fn secret(args: &HubArgs, home: &hub::Home) -> Result<(HubSecret, Option<String>)> {
    if !args.reset_password
        && let Some(secret) = home.secret()?
    {
        if args.password_file.is_some() || std::env::var_os("COURIER_PASSWORD").is_some() {
            eprintln!("note: using the stored password; pass --reset-password to change it");
        }
        return Ok((secret, None));
    }
    let (pw, generated) =
        match password::read(args.password_file.as_deref(), "Choose the hub password: ")? {
            Some(pw) => (pw, None),
            None => {
                let text = hub::generate_password();
                (Password::new(text.clone()), Some(text))
            }
        };
    Ok((home.set_password(&pw)?, generated))
}

pub(crate) async fn run(args: HubArgs) -> Result<ExitCode> {
    match &args.action {
        Some(HubAction::Members(a)) => return members(a),
        Some(HubAction::Forget(a)) => return forget(a),
        Some(HubAction::Ban(a)) => return ban(a),
        Some(HubAction::Unban(a)) => return unban(a),
        Some(HubAction::Bans(a)) => return bans(a),
        Some(HubAction::Stored(a)) => return stored(a),
        Some(HubAction::Drop(a)) => return drop_from(a),
        Some(HubAction::Groups(a)) => return groups::run(a),
        Some(HubAction::Backup(a)) => return backup::run(a),
        Some(HubAction::Status(a)) => return status::run(a).await,
        None => {}
    }
    let dir = data_dir(args.data_dir.as_ref())?;
    let home = hub::Home::open(&dir)?;
    let id = home
        .identity()
        .with_context(|| format!("loading the hub identity in {}", dir.display()))?;
    // Before anything is announced: a database the hub cannot use stops it here, with
    // the file named.
    let database = home.database()?;
    let (secret, generated) = secret(&args, &home)?;
    if args.reset_password && !args.keep_members {
        let n = database.forget_all_devices()?;
        if n > 0 {
            eprintln!(
                "note: a new password: the {n} remembered device(s) must give it once \
                 (--keep-members keeps them)"
            );
        }
    }
    let listener = async_net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let metrics = match args.metrics {
        Some(addr) => Some(
            async_net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot serve metrics on {addr}"))?,
        ),
        None => None,
    };
    let metrics_addr = metrics.as_ref().map(|l| l.local_addr()).transpose()?;
    // Open before the hub says it is up: from then on `courier hub status` finds it.
    let status_endpoint = status::open(&dir)
        .await
        .inspect_err(|e| eprintln!("note: `courier hub status` cannot reach this hub: {e:#}"))
        .ok();
    let addresses: Vec<String> = hub::join_addresses(local)
        .iter()
        .map(ToString::to_string)
        .collect();
    let code = id.id().safety_code();
    // Found on the network by mDNS, unless asked not to; a hub works without it.
    let name = args
        .name
        .clone()
        .unwrap_or_else(courier_core::discovery::host_name);
    let advert = if args.no_advertise {
        None
    } else {
        match courier_core::discovery::Advert::start(&name, local, id.id()) {
            Ok(a) => Some(a),
            // Only this computer can join it: nothing to tell the network.
            Err(courier_core::discovery::Error::Loopback) => None,
            Err(e) => {
                eprintln!("note: not advertised on the network ({e}); clients need the address");
                None
            }
        }
    };
    let advertised = advert.as_ref().map(|_| name.clone());
    if args.json {
        let mut line = json!({
            "type": "hub",
            "listen": local.to_string(),
            "addresses": addresses,
            "safety_code": code,
            "fingerprint": id.id().to_hex(),
            "generated_password": generated,
            "advertised_as": advertised,
        });
        if let Some(addr) = metrics_addr {
            line["metrics"] = json!(addr.to_string());
        }
        crate::print(&format!("{line}\n"));
    } else {
        crate::print(&format!(
            "Courier hub listening on {local}\nJoin with --hub {}\nSafety code: {code}\n",
            addresses.join(" or --hub ")
        ));
        if let Some(name) = &advertised {
            crate::print(&format!(
                "Advertised on the network as {} (courier hubs lists it)\n",
                crate::output::safe(name)
            ));
        }
        if let Some(pw) = &generated {
            crate::print(&format!("Generated password (shown once, keep it): {pw}\n"));
        }
        if let Some(addr) = metrics_addr {
            crate::print(&format!("Metrics on http://{addr}/metrics\n"));
        }
    }
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    }) {
        bail!("cannot install the Ctrl-C handler: {e}");
    }
    // Listening, the database open, Ctrl-C and SIGTERM handled: systemd may start what
    // waits for the hub.
    let notify = notify::Notifier::from_env();
    let known = database.member_count().unwrap_or(0);
    notify.ready(&format!("listening on {local}, {known} member(s)"));
    let shutdown = async move {
        let _ = stop_rx.recv().await;
        notify.stopping();
        // Gone from the network first: nobody should find a hub that is going.
        drop(advert);
        eprintln!("shutting down: telling clients goodbye");
    };
    let mut config = hub::Config::new(id, secret);
    config.relay = !args.no_relay;
    config.db = Some(database);
    config.mailbox = args.offline_messages;
    config.stored_offers = args.offline_offers;
    config.offline_max_age = std::time::Duration::from_secs(u64::from(args.offline_days) * 86_400);
    config.message_rate = args.message_rate;
    config.message_burst = args.message_rate.saturating_mul(5) / 2;
    config.group_members = args.group_members as usize;
    config.groups_per_member = args.groups_per_member as usize;
    config.groups_created = args.groups_created as usize;
    let observer = config.observe();
    // Dropped (stopped) when the hub stops.
    let _metrics = metrics.map(|l| smol::spawn(metrics::serve(l, observer.clone())));
    let fixed = status::Fixed {
        listen: local,
        addresses,
        safety_code: code,
        metrics: metrics_addr,
        started: courier_core::proto::Timestamp::now(),
    };
    // The task stops, and then hub.status goes, when the hub stops.
    let _status = status_endpoint.map(|(endpoint, listener)| {
        let task = smol::spawn(status::serve(&endpoint, listener, fixed, observer));
        (task, endpoint)
    });
    hub::serve(listener, config, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// The hub's database, for the member commands (which may run beside the hub).
pub(super) fn database(dir: Option<&PathBuf>) -> Result<hub::db::Db> {
    let dir = data_dir(dir)?;
    let home = hub::Home::open(&dir)?;
    Ok(home.database()?)
}

fn members(args: &HubMembersArgs) -> Result<ExitCode> {
    let db = database(args.data_dir.as_ref())?;
    let mut members = db.members()?;
    let banned: std::collections::HashMap<_, _> = db.bans()?.into_iter().collect();
    members.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.id.cmp(&b.id)));
    let mut out = String::new();
    for m in &members {
        if args.json {
            let time = |t: Option<courier_core::proto::Timestamp>| t.map(|t| t.0);
            let local = |t: Option<courier_core::proto::Timestamp>| t.map(rfc3339);
            let banned_since = banned.get(&m.id).copied();
            let line = json!({
                "id": m.id.to_hex(),
                "short": m.id.short(),
                "name": m.profile.name,
                "first_seen": time(m.first_seen),
                "first_seen_local": local(m.first_seen),
                "last_seen": m.last_seen.0,
                "last_seen_local": rfc3339(m.last_seen),
                "logins": m.logins,
                "remembered_since": time(m.remembered_since),
                "remembered_since_local": local(m.remembered_since),
                "banned_since": time(banned_since),
                "banned_since_local": local(banned_since),
            });
            out.push_str(&line.to_string());
        } else {
            let remembered = match (banned.get(&m.id), m.remembered_since) {
                (Some(t), _) => format!("BANNED since {}", date(*t)),
                (None, Some(t)) => format!("remembered since {}", date(t)),
                (None, None) => "password".to_owned(),
            };
            let first = m.first_seen.map_or_else(|| "-".to_owned(), date);
            out.push_str(&format!(
                "{}  {:<24} first {}  last {}  {remembered}",
                m.id.short(),
                safe(&m.profile.name),
                first,
                date(m.last_seen),
            ));
        }
        out.push('\n');
    }
    if !args.json && members.is_empty() {
        eprintln!("no members yet");
    }
    crate::print(&out);
    Ok(ExitCode::SUCCESS)
}

/// The member `wanted` names, by the one rule every command resolves by (an id or
/// its start wins over a name). A full id that is no member (any more) is taken as it
/// is, for the commands that may name one (`unban`).
pub(super) fn resolve(
    members: &[hub::db::Member],
    wanted: &str,
    verb: &str,
    any_id: bool,
) -> Result<(courier_core::proto::ClientId, String)> {
    let wanted = wanted.trim();
    let found = courier_core::contacts::resolve(
        wanted,
        members.iter().map(|m| (m.id, m.profile.name.as_str())),
    );
    let member = match found {
        Ok(Target::Client(id)) => members.iter().find(|m| m.id == id),
        Ok(Target::Everyone | Target::Group(_)) => {
            bail!("give one member to {verb}, by its name or id")
        }
        Err(courier_core::contacts::Error::NotFound(_)) => None,
        Err(e) => bail!("{e}"),
    };
    match (member, courier_core::proto::ClientId::from_hex(wanted)) {
        (Some(m), _) => Ok((m.id, m.profile.name.clone())),
        (None, Some(id)) if any_id => Ok((id, "-".to_owned())),
        _ => bail!(
            "no member is called or has the id {:?} (see `courier hub members`)",
            safe(wanted)
        ),
    }
}

/// How long a running hub may take to pick up a request (it looks every second).
pub(super) const PICKUP: std::time::Duration = std::time::Duration::from_secs(4);

/// Waits for a running hub to take the request for `id`; if none does, carries it out
/// on the file. Returns the messages and offers deleted here, or `None` if a hub took it.
fn settle(
    db: &hub::db::Db,
    id: &courier_core::proto::ClientId,
    request: hub::db::Request,
) -> Result<Option<(u64, u64)>> {
    let start = std::time::Instant::now();
    while start.elapsed() < PICKUP {
        if !db.is_requested(id, request)? {
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(db.settle(id, request)?)
}

/// What `id` left: (messages, stored offers).
fn left_by(db: &hub::db::Db, id: &courier_core::proto::ClientId) -> Result<(u64, u64)> {
    Ok(db
        .left_by_senders()?
        .iter()
        .find(|l| l.from == *id)
        .map_or((0, 0), |l| (l.messages, l.offers)))
}

fn ban(args: &HubForgetArgs) -> Result<ExitCode> {
    let db = database(args.data_dir.as_ref())?;
    let members = db.members()?;
    let (id, name) = resolve(&members, &args.member, "ban", false)?;
    let (messages, offers) = left_by(&db, &id)?;
    if !db.ban(&id, courier_core::proto::Timestamp::now())? {
        crate::print(&format!(
            "{} ({}) is already banned\n",
            id.short(),
            safe(&name)
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let how = match settle(&db, &id, hub::db::Request::Ban)? {
        None => "the running hub disconnected it and dropped",
        Some(_) => "no hub is running: dropped",
    };
    crate::print(&format!(
        "banned {} ({}): it is refused at every login, even with the password; {how} \
         {messages} message(s) and {offers} stored offer(s) it left\n",
        id.short(),
        safe(&name),
    ));
    Ok(ExitCode::SUCCESS)
}

fn unban(args: &HubForgetArgs) -> Result<ExitCode> {
    let db = database(args.data_dir.as_ref())?;
    let members = db.members()?;
    let (id, name) = resolve(&members, &args.member, "unban", true)?;
    if db.unban(&id)? {
        crate::print(&format!(
            "{} ({}) is no longer banned: it may log in with the password\n",
            id.short(),
            safe(&name)
        ));
    } else {
        crate::print(&format!(
            "{} ({}) was not banned\n",
            id.short(),
            safe(&name)
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn bans(args: &HubMembersArgs) -> Result<ExitCode> {
    let db = database(args.data_dir.as_ref())?;
    let members = db.members()?;
    let name = |id: &courier_core::proto::ClientId| {
        members
            .iter()
            .find(|m| m.id == *id)
            .map(|m| m.profile.name.clone())
    };
    let bans = db.bans()?;
    let mut out = String::new();
    for (id, since) in &bans {
        if args.json {
            let line = json!({
                "id": id.to_hex(),
                "short": id.short(),
                "name": name(id),
                "since": since.0,
                "since_local": rfc3339(*since),
            });
            out.push_str(&line.to_string());
        } else {
            out.push_str(&format!(
                "{}  {:<24} banned since {}",
                id.short(),
                safe(&name(id).unwrap_or_else(|| "-".to_owned())),
                date(*since)
            ));
        }
        out.push('\n');
    }
    if !args.json && bans.is_empty() {
        eprintln!("nobody is banned");
    }
    crate::print(&out);
    Ok(ExitCode::SUCCESS)
}

fn stored(args: &HubMembersArgs) -> Result<ExitCode> {
    let db = database(args.data_dir.as_ref())?;
    let members = db.members()?;
    let mut left = db.left_by_senders()?;
    left.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.from.cmp(&b.from)));
    let mut out = String::new();
    for l in &left {
        let name = members
            .iter()
            .find(|m| m.id == l.from)
            .map(|m| m.profile.name.clone());
        if args.json {
            let line = json!({
                "id": l.from.to_hex(),
                "short": l.from.short(),
                "name": name,
                "messages": l.messages,
                "bytes": l.bytes,
                "recipients": l.recipients,
                "offers": l.offers,
            });
            out.push_str(&line.to_string());
        } else {
            out.push_str(&format!(
                "{}  {:<24} {} message(s), {} byte(s), for {} member(s); {} stored offer(s)",
                l.from.short(),
                safe(&name.unwrap_or_else(|| "-".to_owned())),
                l.messages,
                l.bytes,
                l.recipients,
                l.offers,
            ));
        }
        out.push('\n');
    }
    if !args.json && left.is_empty() {
        eprintln!("nothing waits at the hub");
    }
    crate::print(&out);
    Ok(ExitCode::SUCCESS)
}

fn drop_from(args: &HubDropArgs) -> Result<ExitCode> {
    let db = database(args.data_dir.as_ref())?;
    let members = db.members()?;
    let (id, name) = resolve(&members, &args.from, "drop messages from", true)?;
    let (mut messages, mut offers) = left_by(&db, &id)?;
    db.request_drop(&id)?;
    if let Some((m, o)) = settle(&db, &id, hub::db::Request::Drop)? {
        (messages, offers) = (m, o);
    }
    crate::print(&format!(
        "dropped {messages} message(s) and {offers} stored offer(s) from {} ({})\n",
        safe(&name),
        id.short(),
    ));
    Ok(ExitCode::SUCCESS)
}

fn forget(args: &HubForgetArgs) -> Result<ExitCode> {
    let db = database(args.data_dir.as_ref())?;
    let members = db.members()?;
    let (id, name) = resolve(&members, &args.member, "forget", false)?;
    let member = (id, name);
    if db.forget_device(&member.0)? {
        crate::print(&format!(
            "forgot {} ({}): it must give the password again; if it is online, the hub \
             disconnects it within seconds\n",
            member.0.short(),
            safe(&member.1)
        ));
    } else {
        crate::print(&format!(
            "{} ({}) was not remembered: it already needs the password\n",
            member.0.short(),
            safe(&member.1)
        ));
    }
    Ok(ExitCode::SUCCESS)
}
