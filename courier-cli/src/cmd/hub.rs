//! `courier hub`: run a hub until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use courier_core::auth::{HubSecret, Password};
use courier_core::hub;
use courier_core::identity::{self, Identity};
use rand::Rng;
use serde_json::json;

use crate::args::HubArgs;
use crate::password;

const SECRET_FILE: &str = "hub.secret";

fn data_dir(args: &HubArgs) -> Result<PathBuf> {
    match &args.data_dir {
        Some(d) => Ok(d.clone()),
        None => directories::ProjectDirs::from("", "", "courier")
            .map(|d| d.data_dir().join("hub"))
            .context("cannot find a home directory; pass --data-dir"),
    }
}

/// A strong password people can type: 20 letters and digits in groups of five.
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let chars: Vec<char> = (0..20)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    chars
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Loads the stored password record, or sets a new password.
fn secret(args: &HubArgs, dir: &std::path::Path) -> Result<(HubSecret, Option<String>)> {
    let path = dir.join(SECRET_FILE);
    if path.exists() && !args.reset_password {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if args.password_file.is_some() || std::env::var_os("COURIER_PASSWORD").is_some() {
            eprintln!("note: using the stored password; pass --reset-password to change it");
        }
        return Ok((HubSecret::from_bytes(&bytes)?, None));
    }
    let (pw, generated) =
        match password::read(args.password_file.as_deref(), "Choose the hub password: ")? {
            Some(pw) => (pw, None),
            None => {
                let text = generate_password();
                (Password::new(text.clone()), Some(text))
            }
        };
    let secret = HubSecret::register(&mut rand::thread_rng(), &pw)?;
    identity::write_private(&path, &secret.to_bytes())?;
    Ok((secret, generated))
}

fn join_addresses(listen: std::net::SocketAddr) -> Vec<String> {
    if !listen.ip().is_unspecified() {
        return vec![listen.to_string()];
    }
    let mut out: Vec<String> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback() && i.ip().is_ipv4() == listen.is_ipv4())
        .map(|i| std::net::SocketAddr::new(i.ip(), listen.port()).to_string())
        .collect();
    out.push(format!("127.0.0.1:{}", listen.port()));
    out
}

pub(crate) async fn run(args: HubArgs) -> Result<ExitCode> {
    let dir = data_dir(&args)?;
    identity::create_private_dir(&dir)?;
    let id = Identity::load_or_create(&dir)
        .with_context(|| format!("loading the hub identity in {}", dir.display()))?;
    let (secret, generated) = secret(&args, &dir)?;
    let listener = async_net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let addresses = join_addresses(local);
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
