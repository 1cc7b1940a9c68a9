//! "Host a hub on this computer": courier-core's hub, run in-process on its own thread.
//!
//! Starting a hub derives its password key (Argon2id), binds its port and spawns its
//! thread; stopping one waits for it to tell everyone goodbye (up to about 2 s). None of
//! that may run in the window's `update`, so a [`Worker`] thread owns the hosted hub and
//! runs what the window asks, in the order asked: a stop asked before a start has freed
//! the port when the start binds it. The window keeps a [`Running`] copy of what it
//! needs to show, and gets each answer as a message.

mod worker;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::thread::JoinHandle;

use courier_core::auth::Password;
use courier_core::hub;
use courier_core::proto::ClientId;

pub use worker::{Running, Start, Started, Worker};

/// A hub running inside the app. Dropping it stops the hub (clients are told goodbye).
pub struct Hosted {
    /// Where it listens.
    pub listen: SocketAddr,
    /// The addresses others can join with.
    pub addresses: Vec<SocketAddr>,
    /// Its fingerprint (its safety code is `fingerprint.safety_code()`).
    pub fingerprint: ClientId,
    /// Shown on the network as this name, if it is.
    pub advertised: Option<String>,
    stop: async_channel::Sender<()>,
    thread: Option<JoinHandle<()>>,
    advert: Option<courier_core::discovery::Advert>,
}

impl std::fmt::Debug for Hosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hosted")
            .field("listen", &self.listen)
            .field("fingerprint", &self.fingerprint.short())
            .finish_non_exhaustive()
    }
}

/// The hub's own address for this app to join.
impl Hosted {
    /// `127.0.0.1:port`: how the app itself joins its hub.
    pub fn local_address(&self) -> String {
        format!("127.0.0.1:{}", self.listen.port())
    }

    /// Stops the hub and waits for it to say goodbye.
    pub fn stop(mut self) {
        // Gone from the network first: nobody should find a hub that is going.
        self.advert = None;
        let _ = self.stop.try_send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Hosted {
    fn drop(&mut self) {
        let _ = self.stop.try_send(());
    }
}

/// Whether the hub whose files are in `dir` has a password already (it was hosted here before).
/// Only looks: a computer that never hosted gets no hub folder from being asked.
pub fn has_password(dir: &Path) -> bool {
    if !dir.is_dir() {
        return false;
    }
    hub::Home::open(dir)
        .ok()
        .and_then(|home| home.secret().ok().flatten())
        .is_some()
}

/// Starts a hub that keeps its identity, password record and members in `dir`, on
/// every interface at `port` (0: any free port). With `new_password` it sets that
/// password (a new hub); without, it keeps the one it has. With `advertise`, it is shown
/// on the network under this computer's name (a failure to do so only means others
/// need the address). Errors are sentences for the user.
pub fn start(
    dir: &Path,
    new_password: Option<&str>,
    port: u16,
    advertise: bool,
) -> Result<Hosted, String> {
    let home = hub::Home::open(dir).map_err(|e| format!("cannot use {}: {e}", dir.display()))?;
    let identity = home
        .identity()
        .map_err(|e| format!("cannot load the hub identity: {e}"))?;
    let database = home.database().map_err(|e| e.to_string())?;
    let secret = match new_password {
        Some(password) => {
            let had_one = home.secret().ok().flatten().is_some();
            let secret = home
                .set_password(&Password::new(password.to_owned()))
                .map_err(|e| format!("cannot store the hub password: {e}"))?;
            // A new password: every remembered computer gives it once (as `courier
            // hub --reset-password`).
            if had_one {
                database
                    .forget_all_devices()
                    .map_err(|e| format!("cannot update the hub's members: {e}"))?;
            }
            secret
        }
        None => home
            .secret()
            .map_err(|e| format!("cannot read the hub password record: {e}"))?
            .ok_or_else(|| "this hub has no password yet: choose one".to_owned())?,
    };
    let listener =
        TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).map_err(|e| match e
            .kind()
        {
            std::io::ErrorKind::AddrInUse => {
                format!("port {port} is already in use (is another hub running?)")
            }
            _ => format!("cannot listen on port {port}: {e}"),
        })?;
    let listen = listener
        .local_addr()
        .map_err(|e| format!("cannot listen: {e}"))?;
    let listener =
        async_net::TcpListener::try_from(listener).map_err(|e| format!("cannot listen: {e}"))?;
    let fingerprint = identity.id();
    let mut config = hub::Config::new(identity, secret);
    config.db = Some(database);
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let thread = std::thread::Builder::new()
        .name("courier-hub".into())
        .spawn(move || {
            let shutdown = async move {
                let _ = stopped.recv().await;
            };
            if let Err(e) = smol::block_on(hub::serve(listener, config, shutdown)) {
                eprintln!("courier-app: the hosted hub stopped: {e}");
            }
        })
        .map_err(|e| format!("cannot start the hub: {e}"))?;
    let name = courier_core::discovery::host_name();
    let advert = if advertise {
        match courier_core::discovery::Advert::start(&name, listen, fingerprint) {
            Ok(advert) => Some(advert),
            Err(e) => {
                eprintln!("courier-app: the hub is not shown on the network: {e}");
                None
            }
        }
    } else {
        None
    };
    Ok(Hosted {
        listen,
        addresses: hub::join_addresses(listen),
        fingerprint,
        advertised: advert.as_ref().map(|_| name),
        stop,
        thread: Some(thread),
        advert,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn asking_whether_a_hub_has_a_password_creates_nothing() {
        let dir = std::env::temp_dir().join(format!("courier-never-hosted-{}", std::process::id()));
        assert!(!has_password(&dir));
        assert!(!dir.exists(), "no hub folder made by looking");
    }
}
