//! Helpers shared by the CLI's integration tests that need real clients beside the real
//! `courier` binary: a logged-in `session::connect` on a thread of its own, its updates on
//! a channel.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use courier_core::auth::Password;
use courier_core::identity::Identity;
use courier_core::proto::{ClientId, Profile};
use courier_core::session::{self, Handle, Update};
use futures::StreamExt;

/// A logged-in session, its updates forwarded to a channel; dropping it disconnects.
pub struct Peer {
    pub id: ClientId,
    pub handle: Handle,
    pub updates: async_channel::Receiver<Update>,
    stop: async_channel::Sender<()>,
    pump: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.close();
        if let Some(pump) = self.pump.take() {
            let _ = pump.join();
        }
    }
}

/// Logs `identity` in to `hub` as `name` with `password`, its keys in `keys` (the same
/// folder at each login, as a profile folder is); panics if it is not connected within
/// `within`.
pub fn join(
    hub: &str,
    identity: &Identity,
    password: &str,
    name: &str,
    keys: &Path,
    within: Duration,
) -> Peer {
    let id = identity.id();
    let mut config = session::Config::new(
        hub,
        identity.clone(),
        Password::new(password),
        Profile::with_name(name),
    );
    std::fs::create_dir_all(keys).unwrap();
    config.keys = session::KeyStore::Folder(keys.to_path_buf());
    let (tx, updates) = async_channel::unbounded();
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let pump = std::thread::spawn(move || {
        smol::block_on(async move {
            let mut stream = Box::pin(session::connect(config));
            loop {
                let next = futures_lite::future::or(async { stream.next().await }, async {
                    let _ = stopped.recv().await;
                    None
                });
                let Some(u) = next.await else { break };
                if tx.send(u).await.is_err() {
                    break;
                }
            }
        });
    });
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match recv_timeout(&updates, left) {
            Some(Update::Connected { handle, .. }) => {
                return Peer {
                    id,
                    handle,
                    updates,
                    stop,
                    pump: Some(pump),
                };
            }
            Some(_) => {}
            None => panic!("{name} could not log in"),
        }
    }
}

/// The next item on `rx`, or `None` after `wait`.
pub fn recv_timeout<T>(rx: &async_channel::Receiver<T>, wait: Duration) -> Option<T> {
    smol::block_on(futures_lite::future::or(
        async { rx.recv().await.ok() },
        async {
            smol::Timer::after(wait).await;
            None
        },
    ))
}
