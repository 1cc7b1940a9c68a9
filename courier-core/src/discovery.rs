//! Finding hubs on the local network without knowing their address: a hub advertises
//! itself with mDNS/DNS-SD as `_courier._tcp.local.` on every interface that has an
//! address (following interfaces as they come and go), and clients browse for it.
//!
//! The TXT record carries the protocol version (`v`), the hub's display name (`name`)
//! and its certificate fingerprint (`fp`), so a client can show the safety code before
//! connecting and match it with the pin it holds. Everything that arrives by mDNS is
//! hostile until parsed: names are bounded and shown escaped, a fingerprint must be 64
//! hex digits, and a flood of announcements never lists more than [`MAX_LISTED`] hubs
//! (hubs met before, [`Browser::prefer`], still get in).
//!
//! An advertisement is a claim, not an identity: [`check`] and [`check_all`] see the
//! certificate a hub shows in a TLS handshake (no login) and [`classify`] it against
//! the pins. Only that makes a hub [`Standing::Known`]; a hub using a known hub's name,
//! address or fingerprint with another certificate is a [`Standing::Impostor`].
//!
//! mDNS runs on a thread of the `mdns-sd` crate (no async runtime, no system daemon):
//! [`Advert`] and [`Browser`] are plain handles.
//! - A hub: [`Advert::start`] with its name, listening address and fingerprint; dropping
//!   the [`Advert`] says goodbye on the network.
//! - A client: [`Browser::start`], then [`Browser::prefer`] with the pinned
//!   fingerprints, then [`Browser::next`] (waits on a channel until a deadline) or
//!   [`Browser::next_async`] (awaited under any executor) for each [`Seen`] change;
//!   [`Browser::hubs`] lists what is seen now; dropping the [`Browser`] stops browsing.
//!   [`find`] and [`find_preferring`] do all of that for a fixed time.
//! - Then [`check_all`] (or [`check`], [`probe`] for one address) and [`classify`],
//!   as above. [`local_addresses`] lists this computer's interfaces (for the doctor);
//!   [`host_name`] is a hub's default name.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};

use crate::proto::{ClientId, PROTOCOL_VERSION};

mod standing;

pub use standing::{
    Checked, MAX_PROBED, PROBE_WITHIN, Standing, check, check_all, claims_known, classify, probe,
};

/// The DNS-SD service type of a Courier hub.
pub const SERVICE: &str = "_courier._tcp.local.";
/// Hubs listed at most (a flood of announcements lists no more).
pub const MAX_LISTED: usize = 64;
/// Hubs met before that may still be listed past [`MAX_LISTED`].
pub const MAX_KNOWN_OVER: usize = 16;
/// Bytes of a hub's display name at most (as advertised and as read).
pub const MAX_NAME: usize = 63;
/// Addresses kept per hub at most.
const MAX_ADDRS: usize = 8;

/// This computer's network addresses but loopback: interface name and address.
pub fn local_addresses() -> Vec<(String, IpAddr)> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback())
        .map(|i| (i.name.clone(), i.ip()))
        .collect()
}

/// This computer's name, as a hub's default name on the network.
pub fn host_name() -> String {
    let from_env = ["HOSTNAME", "COMPUTERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok());
    from_env
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|n| bounded(n.trim()).to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "Courier hub".to_owned())
}

/// Why discovery could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The mDNS machinery refused (no network, UDP 5353 unusable…).
    #[error("mDNS: {0}")]
    Mdns(String),
    /// The hub listens on a loopback address: nobody else could join it.
    #[error("the hub listens only on this computer")]
    Loopback,
    /// No TLS handshake with a found hub (to see its certificate) finished.
    #[error("no TLS handshake with {address}")]
    Probe {
        /// Where the hub was said to be.
        address: SocketAddr,
        /// Why.
        #[source]
        source: crate::net::Error,
    },
    /// A throwaway certificate for a handshake could not be made.
    #[error("making a throwaway certificate")]
    Identity(#[source] crate::identity::Error),
    /// The TLS configuration for a handshake could not be made.
    #[error("preparing a TLS handshake")]
    Tls(#[source] crate::tls::Error),
}

impl From<mdns_sd::Error> for Error {
    fn from(e: mdns_sd::Error) -> Self {
        Self::Mdns(e.to_string())
    }
}

/// A hub found on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundHub {
    /// The mDNS instance name (unique on the network).
    pub instance: String,
    /// Its display name as advertised (bounded; show it with
    /// [`crate::text::visible`] or [`crate::text::terminal`]).
    pub name: String,
    /// Where it listens.
    pub addresses: Vec<SocketAddr>,
    /// Its certificate fingerprint, if it advertised a well-formed one.
    pub fingerprint: Option<ClientId>,
    /// Its protocol version, if it advertised one.
    pub protocol: Option<u32>,
}

impl FoundHub {
    /// Whether this client speaks its protocol.
    pub fn compatible(&self) -> bool {
        self.protocol == Some(PROTOCOL_VERSION)
    }
}

/// A hub's advertisement; withdrawn (a goodbye is sent) when dropped.
pub struct Advert {
    daemon: ServiceDaemon,
    fullname: String,
}

impl std::fmt::Debug for Advert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advert")
            .field("fullname", &self.fullname)
            .finish_non_exhaustive()
    }
}

impl Advert {
    /// Advertises the hub listening on `listen` with `fingerprint` as `name`: on every
    /// interface with an address when it listens on all of them, else on the one
    /// address it listens on.
    ///
    /// # Errors
    /// [`Error::Loopback`] for a hub only this computer can reach; if mDNS cannot
    /// start, [`Error::Mdns`].
    pub fn start(name: &str, listen: SocketAddr, fingerprint: ClientId) -> Result<Self, Error> {
        if listen.ip().is_loopback() {
            return Err(Error::Loopback);
        }
        let name = bounded(name.trim());
        let name = if name.is_empty() { "Courier hub" } else { name };
        let daemon = ServiceDaemon::new()?;
        // The instance name must be unique on the network: the name people read, and
        // the start of the fingerprint.
        let instance = format!("{name} ({})", &fingerprint.to_hex()[..8]);
        let host = format!("courier-{}.local.", &fingerprint.to_hex()[..12]);
        let properties = [
            ("v", PROTOCOL_VERSION.to_string()),
            ("name", name.to_owned()),
            ("fp", fingerprint.to_hex()),
        ];
        let info = if listen.ip().is_unspecified() {
            ServiceInfo::new(
                SERVICE,
                &instance,
                &host,
                "",
                listen.port(),
                &properties[..],
            )?
            .enable_addr_auto()
        } else {
            ServiceInfo::new(
                SERVICE,
                &instance,
                &host,
                listen.ip(),
                listen.port(),
                &properties[..],
            )?
        };
        // No probing (RFC 6762 §8.1, three queries 250 ms apart before the first
        // announcement): the instance and host names carry the hub's fingerprint, so no
        // honest responder holds them, and a dishonest one can announce anything anyway
        // (clients check the fingerprint). The hub is listed at once, not 0.75 s later.
        let mut info = info;
        info.set_requires_probe(false);
        let fullname = info.get_fullname().to_owned();
        daemon.register(info)?;
        Ok(Self { daemon, fullname })
    }
}

impl Drop for Advert {
    fn drop(&mut self) {
        if let Ok(done) = self.daemon.unregister(&self.fullname) {
            // The goodbye goes out before the daemon stops (bounded: never hang here).
            let _ = done.recv_timeout(Duration::from_millis(500));
        }
        let _ = self.daemon.shutdown();
    }
}

/// What browsing saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A hub appeared, or changed.
    Found(FoundHub),
    /// A hub went away (its instance name).
    Lost(String),
}

/// Browsing for hubs.
pub struct Browser {
    daemon: ServiceDaemon,
    events: mdns_sd::Receiver<ServiceEvent>,
    listed: BTreeMap<String, FoundHub>,
    /// Fingerprints of hubs met before: listed even when a flood filled the list.
    known: std::collections::BTreeSet<ClientId>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("listed", &self.listed.len())
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts browsing on every interface.
    ///
    /// # Errors
    /// If mDNS cannot start.
    pub fn start() -> Result<Self, Error> {
        let daemon = ServiceDaemon::new()?;
        let events = daemon.browse(SERVICE)?;
        Ok(Self {
            daemon,
            events,
            listed: BTreeMap::new(),
            known: std::collections::BTreeSet::new(),
        })
    }

    /// Hubs with these fingerprints (the ones this client has pinned) still get listed
    /// when a flood of announcements filled the list ([`MAX_LISTED`] made-up hubs), up
    /// to [`MAX_KNOWN_OVER`] more.
    pub fn prefer(&mut self, known: impl IntoIterator<Item = ClientId>) {
        self.known.extend(known);
    }

    /// The next change, waiting at most until `deadline`.
    pub fn next(&mut self, deadline: Instant) -> Option<Seen> {
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let event = self.events.recv_timeout(wait).ok()?;
            if let Some(seen) = self.take(event) {
                return Some(seen);
            }
        }
    }

    /// The next change, awaited (under any executor); `None` once browsing stopped.
    pub async fn next_async(&mut self) -> Option<Seen> {
        loop {
            let event = self.events.recv_async().await.ok()?;
            if let Some(seen) = self.take(event) {
                return Some(seen);
            }
        }
    }

    /// The hubs listed now, by instance name.
    pub fn hubs(&self) -> Vec<FoundHub> {
        self.listed.values().cloned().collect()
    }

    fn take(&mut self, event: ServiceEvent) -> Option<Seen> {
        match event {
            ServiceEvent::ServiceResolved(resolved) => {
                let hub = parse(&resolved)?;
                let listed = self.listed.contains_key(&hub.instance);
                let room = if hub.fingerprint.is_some_and(|fp| self.known.contains(&fp)) {
                    MAX_LISTED + MAX_KNOWN_OVER
                } else {
                    MAX_LISTED
                };
                if !listed && self.listed.len() >= room {
                    return None;
                }
                if self.listed.get(&hub.instance) == Some(&hub) {
                    return None;
                }
                self.listed.insert(hub.instance.clone(), hub.clone());
                Some(Seen::Found(hub))
            }
            ServiceEvent::ServiceRemoved(_, fullname) => {
                let instance = instance_of(&fullname);
                self.listed.remove(&instance).map(|_| Seen::Lost(instance))
            }
            _ => None,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.daemon.stop_browse(SERVICE);
        let _ = self.daemon.shutdown();
    }
}

/// Browses for `timeout` and returns every hub seen (and not gone again), by name.
///
/// # Errors
/// If mDNS cannot start.
pub fn find(timeout: Duration) -> Result<Vec<FoundHub>, Error> {
    find_preferring(timeout, Vec::new())
}

/// [`find`], listing the hubs with `known` fingerprints even past a flood (see
/// [`Browser::prefer`]).
///
/// # Errors
/// If mDNS cannot start.
pub fn find_preferring(timeout: Duration, known: Vec<ClientId>) -> Result<Vec<FoundHub>, Error> {
    let mut browser = Browser::start()?;
    browser.prefer(known);
    let deadline = Instant::now() + timeout;
    while browser.next(deadline).is_some() {}
    let mut hubs = browser.hubs();
    hubs.sort_by(|a, b| a.name.cmp(&b.name).then(a.instance.cmp(&b.instance)));
    Ok(hubs)
}

/// The instance part of a DNS-SD full name (`Name (ab12cd34)._courier._tcp.local.`).
fn instance_of(fullname: &str) -> String {
    bounded(
        fullname
            .strip_suffix(SERVICE)
            .unwrap_or(fullname)
            .trim_end_matches('.'),
    )
    .to_owned()
}

/// At most [`MAX_NAME`] bytes, cut at a character boundary.
fn bounded(s: &str) -> &str {
    let mut end = s.len().min(MAX_NAME);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A resolved service as a hub, or `None` when it is not one (no usable address).
fn parse(resolved: &mdns_sd::ResolvedService) -> Option<FoundHub> {
    if resolved.ty_domain != SERVICE || resolved.port == 0 {
        return None;
    }
    let instance = instance_of(&resolved.fullname);
    let name = resolved
        .get_property_val_str("name")
        .map(|n| bounded(n.trim()).to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| instance.clone());
    let fingerprint = resolved
        .get_property_val_str("fp")
        .filter(|fp| fp.len() == 64)
        .and_then(ClientId::from_hex);
    let protocol = resolved
        .get_property_val_str("v")
        .filter(|v| v.len() <= 10)
        .and_then(|v| v.parse().ok());
    let mut addresses: Vec<SocketAddr> = resolved
        .get_addresses()
        .iter()
        .map(|ip| ip.to_ip_addr())
        // A link-local IPv6 address is of no use without its interface, which mDNS
        // does not say.
        .filter(|ip| {
            !ip.is_unspecified()
                && !ip.is_multicast()
                && !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local())
        })
        .map(|ip: IpAddr| SocketAddr::new(ip, resolved.port))
        .collect();
    // IPv4 first (what people type), then in order; bounded.
    addresses.sort_by_key(|a| (a.is_ipv6(), *a));
    addresses.truncate(MAX_ADDRS);
    if addresses.is_empty() {
        return None;
    }
    Some(FoundHub {
        instance,
        name,
        addresses,
        fingerprint,
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_at_a_character_boundary() {
        let long = "é".repeat(100);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_NAME);
        assert_eq!(cut.chars().count(), MAX_NAME / 2);
        assert_eq!(
            instance_of("Team hub (ab12cd34)._courier._tcp.local."),
            "Team hub (ab12cd34)"
        );
        assert_eq!(instance_of("odd"), "odd");
    }
}
