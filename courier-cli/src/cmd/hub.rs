//! `courier hub`: run a hub until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use courier_core::auth::{HubSecret, Password};
use courier_core::hub;
use courier_core::proto::Target;
use serde_json::json;

use crate::args::{HubAction, HubArgs, HubForgetArgs, HubMembersArgs};
use crate::output::{safe, utc};
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
        let line = json!({
            "type": "hub",
            "listen": local.to_string(),
            "addresses": addresses,
            "safety_code": code,
            "fingerprint": id.id().to_hex(),
            "generated_password": generated,
            "advertised_as": advertised,
        });
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
    }
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    }) {
        bail!("cannot install the Ctrl-C handler: {e}");
    }
    let shutdown = async move {
        let _ = stop_rx.recv().await;
        // Gone from the network first: nobody should find a hub that is going.
        drop(advert);
        eprintln!("shutting down: telling clients goodbye");
    };
    let mut config = hub::Config::new(id, secret);
    config.relay = !args.no_relay;
    config.db = Some(database);
    config.offline_queue = args.offline_messages;
    config.kept_offers = args.offline_offers;
    config.offline_max_age = std::time::Duration::from_secs(u64::from(args.offline_days) * 86_400);
    config.message_rate = args.message_rate;
    config.message_burst = args.message_rate.saturating_mul(5) / 2;
    hub::serve(listener, config, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// The hub's database, for the member commands (which may run beside the hub).
fn database(dir: Option<&PathBuf>) -> Result<hub::db::Db> {
    let dir = data_dir(dir)?;
    let home = hub::Home::open(&dir)?;
    Ok(home.database()?)
}

fn members(args: &HubMembersArgs) -> Result<ExitCode> {
    let db = database(args.data_dir.as_ref())?;
    let mut members = db.members()?;
    members.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.id.cmp(&b.id)));
    let mut out = String::new();
    for m in &members {
        if args.json {
            let time = |t: Option<courier_core::proto::Timestamp>| t.map(|t| t.0);
            let line = json!({
                "id": m.id.to_hex(),
                "short": m.id.short(),
                "name": m.profile.name,
                "first_seen": time(m.first_seen),
                "last_seen": m.last_seen.0,
                "logins": m.logins,
                "remembered_since": time(m.remembered_since),
            });
            out.push_str(&line.to_string());
        } else {
            let remembered = m.remembered_since.map_or_else(
                || "password".to_owned(),
                |t| format!("remembered since {}", utc(t)),
            );
            let first = m.first_seen.map_or_else(|| "-".to_owned(), utc);
            out.push_str(&format!(
                "{}  {:<24} first {}  last {}  {remembered}",
                m.id.short(),
                safe(&m.profile.name),
                first,
                utc(m.last_seen),
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

fn forget(args: &HubForgetArgs) -> Result<ExitCode> {
    let db = database(args.data_dir.as_ref())?;
    let members = db.members()?;
    // The one rule every command resolves by: an id (prefix) wins over a name.
    let wanted = args.member.trim();
    let found = courier_core::contacts::resolve(
        wanted,
        members.iter().map(|m| (m.id, m.profile.name.as_str())),
    );
    let member = match found {
        Ok(Target::Client(id)) => members.iter().find(|m| m.id == id),
        Ok(Target::Everyone) => bail!("give one member to forget, by its name or id"),
        Err(courier_core::contacts::Error::NotFound(_)) => None,
        Err(e) => bail!("{e}"),
    };
    let Some(member) = member else {
        bail!(
            "no member is called or has the id {:?} (see `courier hub members`)",
            safe(wanted)
        )
    };
    if db.forget_device(&member.id)? {
        crate::print(&format!(
            "forgot {} ({}): it must give the password again; if it is online, the hub \
             disconnects it within seconds\n",
            member.id.short(),
            safe(&member.profile.name)
        ));
    } else {
        crate::print(&format!(
            "{} ({}) was not remembered: it already needs the password\n",
            member.id.short(),
            safe(&member.profile.name)
        ));
    }
    Ok(ExitCode::SUCCESS)
}
