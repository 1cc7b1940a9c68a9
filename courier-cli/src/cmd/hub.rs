//! `courier hub`: run a hub until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use courier_core::auth::{HubSecret, Password};
use courier_core::hub;
use serde_json::json;

use crate::args::HubArgs;
use crate::password;

fn data_dir(args: &HubArgs) -> Result<PathBuf> {
    match &args.data_dir {
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
    let dir = data_dir(&args)?;
    let home = hub::Home::open(&dir)?;
    let id = home
        .identity()
        .with_context(|| format!("loading the hub identity in {}", dir.display()))?;
    let (secret, generated) = secret(&args, &home)?;
    let listener = async_net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let addresses: Vec<String> = hub::join_addresses(local)
        .iter()
        .map(ToString::to_string)
        .collect();
    let code = id.id().safety_code();
    if args.json {
        let line = json!({
            "type": "hub",
            "listen": local.to_string(),
            "addresses": addresses,
            "safety_code": code,
            "fingerprint": id.id().to_hex(),
            "generated_password": generated,
        });
        crate::print(&format!("{line}\n"));
    } else {
        crate::print(&format!(
            "Courier hub listening on {local}\nJoin with --hub {}\nSafety code: {code}\n",
            addresses.join(" or --hub ")
        ));
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
        eprintln!("shutting down: telling clients goodbye");
    };
    let mut config = hub::Config::new(id, secret);
    config.relay = !args.no_relay;
    hub::serve(listener, config, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}
