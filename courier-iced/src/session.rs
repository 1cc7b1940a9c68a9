//! The glue between iced and `courier_core::session`: a [`ServerKey`] says which hub to
//! be connected to; [`connect`] turns it into the session's update stream, which the app
//! runs as a `Subscription::run_with`. While the key stays the same the subscription (and
//! its reconnecting session) keeps running; a new key starts a new session.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use courier_core::auth::Password;
use courier_core::identity::{Identity, PinStore};
use courier_core::proto::Profile;
use courier_core::{session, transfer};
use futures::stream::{self, BoxStream, StreamExt};

/// Which hub to be connected to, as who.
#[derive(Clone)]
pub struct ServerKey {
    /// `host:port`.
    pub hub: String,
    /// Our profile folder (identity, pins).
    pub dir: PathBuf,
    /// The hub password (empty: this computer is remembered, or should be).
    pub password: String,
    /// Ask the hub to remember this computer at a password login.
    pub remember: bool,
    /// Answer contacts' link tests (off: the session declines them).
    pub answer_link_tests: bool,
    /// The profile to log in with.
    pub profile: Profile,
    /// Bumped to force a fresh session for the same hub (after a log out).
    pub generation: u64,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("hub", &self.hub)
            .field("dir", &self.dir)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Hash for ServerKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.hub.hash(state);
        self.dir.hash(state);
        self.generation.hash(state);
    }
}

/// What the session subscription yields: the session's updates, or why it could not
/// start.
#[derive(Debug, Clone)]
pub enum Feed {
    /// From the running session.
    Update(session::Update),
    /// The session could not start (identity unreadable).
    Failed(String),
}

/// Starts the session for `key` (the `Subscription::run_with` builder). The identity is
/// read (or made) on the blocking pool as the stream's first step, not in the builder.
pub fn connect(key: &ServerKey) -> BoxStream<'static, Feed> {
    let key = key.clone();
    stream::once(async move {
        let dir = key.dir.clone();
        let identity = smol::unblock(move || Identity::load_or_create(&dir)).await;
        match identity {
            Ok(identity) => {
                let mut config = session::Config::new(
                    key.hub.clone(),
                    identity,
                    Password::new(key.password.clone()),
                    key.profile.clone(),
                );
                config.pins = Some(PinStore::new(&key.dir));
                // This computer's keys live beside its identity (shared with the
                // command line's commands of the same profile).
                config.keys = session::KeyStore::Folder(key.dir.clone());
                config.remember = key.remember;
                let updates = session::connect(config);
                // Contacts' link tests are answered unless turned off in Settings.
                let updates = if key.answer_link_tests {
                    transfer::answer_link_tests(updates, transfer::Options::default())
                } else {
                    updates
                };
                updates.map(Feed::Update).boxed()
            }
            Err(e) => {
                let text = format!(
                    "cannot load this computer's identity in {}: {e}",
                    key.dir.display()
                );
                stream::once(async move { Feed::Failed(text) }).boxed()
            }
        }
    })
    .flatten()
    .boxed()
}

/// Normalises what a user typed as a hub address: trims it and adds the default port.
/// `None` when it cannot be an address.
pub fn normalize_address(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || text.contains(char::is_whitespace) || text.contains('/') {
        return None;
    }
    if text.parse::<std::net::SocketAddr>().is_ok() {
        return Some(text.to_owned());
    }
    // A bare IPv6 address gets brackets and the port.
    if let Ok(ip) = text.parse::<std::net::Ipv6Addr>() {
        return Some(format!("[{ip}]:{}", crate::settings::DEFAULT_PORT));
    }
    match text.rsplit_once(':') {
        Some((host, port)) => {
            let ok = !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0);
            ok.then(|| text.to_owned())
        }
        None => Some(format!("{text}:{}", crate::settings::DEFAULT_PORT)),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_address;

    #[test]
    fn addresses() {
        assert_eq!(
            normalize_address(" 10.0.0.2 ").as_deref(),
            Some("10.0.0.2:8977")
        );
        assert_eq!(
            normalize_address("hub.lan:9000").as_deref(),
            Some("hub.lan:9000")
        );
        assert_eq!(normalize_address("::1").as_deref(), Some("[::1]:8977"));
        assert_eq!(normalize_address("[::1]:9").as_deref(), Some("[::1]:9"));
        assert_eq!(normalize_address(""), None);
        assert_eq!(normalize_address("hub:notaport"), None);
        assert_eq!(normalize_address("hub:0"), None);
        assert_eq!(normalize_address("http://hub"), None);
        assert_eq!(normalize_address("a b"), None);
    }
}
