//! What a hub found on the network is to this client. An advertisement is a claim: its
//! name, address and fingerprint are whatever the sender wrote. Only a TLS handshake (no
//! login, nothing sent but a throwaway certificate) shows which certificate the hub
//! holds, and only that makes a hub "known".
//!
//! A hub claims to be a hub this client has pinned when it advertises a pinned
//! fingerprint, a pinned hub's name (compared as a person reads it,
//! [`crate::contacts::name_key`]) or a pinned address. If its certificate is none of
//! those it claims, it is an impostor: a known name with another identity is a warning,
//! never a new hub.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_rustls::TlsConnector;

use super::{Error, FoundHub};
use crate::contacts::name_key;
use crate::identity::{Identity, Pin};
use crate::proto::ClientId;
use crate::{net, tls};

/// Hubs whose certificate one listing checks at most (those claiming to be a known hub
/// first): a flood of announcements costs a bounded number of handshakes.
pub const MAX_PROBED: usize = 16;
/// How long a certificate check may take.
pub const PROBE_WITHIN: Duration = Duration::from_millis(1500);

/// What a found hub is to this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It claims to be no hub this client knows (a hub never met).
    New,
    /// A hub this client has pinned: a TLS handshake showed a pinned certificate.
    Known,
    /// It claims to be a hub this client knows, but its certificate was not checked (no
    /// answer in time, or past [`MAX_PROBED`]): not known, and not to be used blindly.
    Unchecked,
    /// It claims to be a hub this client knows (by name, address or advertised
    /// fingerprint) and shows another certificate.
    Impostor {
        /// The fingerprint pinned for the hub it claims to be.
        known: ClientId,
        /// The fingerprint its certificate shows.
        shown: ClientId,
    },
    /// It advertises a fingerprint that its certificate does not show.
    Mismatch {
        /// The fingerprint in its advertisement.
        advertised: ClientId,
        /// The fingerprint its certificate shows.
        shown: ClientId,
    },
}

impl Standing {
    /// Whether this is a hub this client knows, by its certificate.
    pub fn is_known(&self) -> bool {
        matches!(self, Self::Known)
    }

    /// One word for it: `new`, `known`, `unchecked`, `impostor` or `mismatch`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Known => "known",
            Self::Unchecked => "unchecked",
            Self::Impostor { .. } => "impostor",
            Self::Mismatch { .. } => "mismatch",
        }
    }

    /// The warning to show with the hub named `name` (escaped by the caller for where
    /// it is shown), if it must not be used without a look: one line, starting with a
    /// verb (the caller says "the hub at ADDRESS" before it).
    pub fn warning(&self, name: &str) -> Option<String> {
        match self {
            Self::New | Self::Known => None,
            Self::Unchecked => Some(format!(
                "claims to be {name}, a hub you know, but its certificate could not be checked"
            )),
            Self::Impostor { known, shown } => Some(format!(
                "claims to be {name} but is not the hub you know: expected safety code {}, \
                 found {}",
                known.safety_code(),
                shown.safety_code()
            )),
            Self::Mismatch { advertised, shown } => Some(format!(
                "advertises itself as {name} with safety code {} but its certificate shows {}",
                advertised.safety_code(),
                shown.safety_code()
            )),
        }
    }
}

/// A found hub, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The fingerprint its certificate showed, if a handshake was made.
    pub certificate: Option<ClientId>,
    /// What it is to this client.
    pub standing: Standing,
}

impl Checked {
    /// Why a client must not use this hub, named `name`, unasked (chosen by itself, the
    /// password at hand), if it must not: a [`Standing::warning`]; or, for a client that
    /// has met hubs (`met_any`), a hub it has never met (another network, or an insider's
    /// hub while the real one is away). One line, starting with a verb.
    pub fn refusal(&self, name: &str, met_any: bool) -> Option<String> {
        self.standing.warning(name).or_else(|| {
            (met_any && self.standing == Standing::New).then(|| {
                format!(
                    "is {name}, a hub this computer has not met (safety code {})",
                    self.certificate
                        .map_or_else(|| "unknown".to_owned(), |c| c.safety_code())
                )
            })
        })
    }

    /// The fingerprint to show for `hub`: its certificate's when checked, else the one
    /// it advertised.
    pub fn fingerprint(&self, hub: &FoundHub) -> Option<ClientId> {
        self.certificate.or(hub.fingerprint)
    }
}

/// The pinned fingerprints `hub` claims to have: by its advertised fingerprint, its
/// name, or one of its addresses.
fn claims(hub: &FoundHub, pins: &[Pin]) -> Vec<ClientId> {
    let name = name_key(&hub.name);
    let mut claimed: Vec<ClientId> = pins
        .iter()
        .filter(|p| {
            Some(p.fingerprint) == hub.fingerprint
                || p.name.as_deref().is_some_and(|n| name_key(n) == name)
                || p.hub
                    .parse::<SocketAddr>()
                    .is_ok_and(|at| hub.addresses.contains(&at))
        })
        .map(|p| p.fingerprint)
        .collect();
    claimed.sort();
    claimed.dedup();
    claimed
}

/// Whether `hub` claims to be a hub this client has pinned (its certificate is what
/// decides whether it is).
pub fn claims_known(hub: &FoundHub, pins: &[Pin]) -> bool {
    !claims(hub, pins).is_empty()
}

/// What `hub` is to a client holding `pins`, given the fingerprint its certificate
/// showed (`None`: not checked). Pure: the rules, tested on their own.
pub fn classify(hub: &FoundHub, pins: &[Pin], certificate: Option<ClientId>) -> Standing {
    let claimed = claims(hub, pins);
    let Some(shown) = certificate else {
        return if claimed.is_empty() {
            Standing::New
        } else {
            Standing::Unchecked
        };
    };
    if let Some(known) = claimed.first()
        && !claimed.contains(&shown)
    {
        return Standing::Impostor {
            known: *known,
            shown,
        };
    }
    if pins.iter().any(|p| p.fingerprint == shown) {
        return Standing::Known;
    }
    match hub.fingerprint {
        Some(advertised) if advertised != shown => Standing::Mismatch { advertised, shown },
        _ => Standing::New,
    }
}

/// The fingerprint of the certificate the hub at `address` shows in a TLS handshake,
/// made with a throwaway certificate; nothing else is sent (no login, no password).
///
/// # Errors
/// [`Error::Probe`] if no handshake finished within `within`; [`Error::Identity`] or
/// [`Error::Tls`] if a throwaway certificate could not be made.
pub async fn probe(address: SocketAddr, within: Duration) -> Result<ClientId, Error> {
    let connector = throwaway()?;
    probe_with(&connector, address, within).await
}

fn throwaway() -> Result<TlsConnector, Error> {
    let identity = Identity::generate().map_err(Error::Identity)?;
    let config = tls::client_config(&identity).map_err(Error::Tls)?;
    Ok(TlsConnector::from(config))
}

async fn probe_with(
    connector: &TlsConnector,
    address: SocketAddr,
    within: Duration,
) -> Result<ClientId, Error> {
    let deadline = Instant::now() + within;
    let at = address.to_string();
    let connect = net::connect_tls(&at, connector.clone());
    match net::until(deadline, connect).await {
        // The stream is dropped at once: the hub sees a handshake and a goodbye.
        Ok((_stream, connected)) => Ok(connected.hub),
        Err(source) => Err(Error::Probe { address, source }),
    }
}

/// Checks `hub` against `pins`: a handshake with its first address (see [`probe`]), then
/// [`classify`].
pub async fn check(hub: &FoundHub, pins: &[Pin], within: Duration) -> Checked {
    let certificate = match (throwaway(), hub.addresses.first()) {
        (Ok(connector), Some(at)) => probe_with(&connector, *at, within).await.ok(),
        _ => None,
    };
    Checked {
        certificate,
        standing: classify(hub, pins, certificate),
    }
}

/// Checks every hub of a listing, in parallel, in order: at most [`MAX_PROBED`]
/// handshakes, those claiming to be a known hub first; the rest are classified
/// unchecked.
pub async fn check_all(hubs: &[FoundHub], pins: &[Pin], within: Duration) -> Vec<Checked> {
    let mut order: Vec<usize> = (0..hubs.len()).collect();
    // Stable: claimants first, then the listing's order.
    order.sort_by_key(|&i| hubs.get(i).is_none_or(|h| !claims_known(h, pins)));
    order.truncate(MAX_PROBED);
    let connector = throwaway().ok();
    let probes = order.iter().map(|&i| {
        let at = hubs.get(i).and_then(|h| h.addresses.first().copied());
        let connector = connector.clone();
        async move {
            match (connector, at) {
                (Some(c), Some(at)) => (i, probe_with(&c, at, within).await.ok()),
                _ => (i, None),
            }
        }
    });
    let shown: std::collections::BTreeMap<usize, Option<ClientId>> =
        futures::future::join_all(probes)
            .await
            .into_iter()
            .collect();
    hubs.iter()
        .enumerate()
        .map(|(i, hub)| {
            let certificate = shown.get(&i).copied().flatten();
            Checked {
                certificate,
                standing: classify(hub, pins, certificate),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::PROTOCOL_VERSION;

    const A: ClientId = ClientId([0xA1; 32]);
    const B: ClientId = ClientId([0xB2; 32]);
    const C: ClientId = ClientId([0xC3; 32]);

    fn found(name: &str, at: &str, advertised: Option<ClientId>) -> FoundHub {
        FoundHub {
            instance: format!("{name} (x)"),
            name: name.to_owned(),
            addresses: vec![at.parse().unwrap()],
            fingerprint: advertised,
            protocol: Some(PROTOCOL_VERSION),
        }
    }

    fn pin(at: &str, fingerprint: ClientId, name: Option<&str>) -> Pin {
        Pin {
            hub: at.to_owned(),
            fingerprint,
            name: name.map(str::to_owned),
        }
    }

    /// Hub A ("Team hub") is pinned at 192.168.1.5.
    fn pins() -> Vec<Pin> {
        vec![pin("192.168.1.5:8977", A, Some("Team hub"))]
    }

    #[test]
    fn the_known_hub_is_known_only_by_its_certificate() {
        let real = found("Team hub", "192.168.1.5:8977", Some(A));
        assert_eq!(classify(&real, &pins(), Some(A)), Standing::Known);
        // Its advertisement alone proves nothing.
        assert_eq!(classify(&real, &pins(), None), Standing::Unchecked);
        // Moved to another address, same certificate: still the hub this client knows.
        let moved = found("Team hub", "192.168.1.9:8977", Some(A));
        assert_eq!(classify(&moved, &pins(), Some(A)), Standing::Known);
    }

    #[test]
    fn a_known_name_with_another_certificate_is_an_impostor() {
        // Elsewhere, with its own fingerprint advertised honestly.
        let elsewhere = found("Team hub", "192.168.1.66:8977", Some(B));
        let impostor = Standing::Impostor { known: A, shown: B };
        assert_eq!(classify(&elsewhere, &pins(), Some(B)), impostor);
        // The name as a person reads it: case, invisible characters, look-alikes.
        for name in ["team HUB", "Team\u{200B} hub", "T\u{435}am hub"] {
            let lookalike = found(name, "192.168.1.66:8977", Some(B));
            assert_eq!(classify(&lookalike, &pins(), Some(B)), impostor, "{name:?}");
        }
        // Advertising the known hub's fingerprint, under any name.
        let liar = found("Other", "192.168.1.66:8977", Some(A));
        assert_eq!(classify(&liar, &pins(), Some(B)), impostor);
        assert_eq!(classify(&liar, &pins(), None), Standing::Unchecked);
        // At the known hub's address.
        let squatter = found("Other", "192.168.1.5:8977", Some(B));
        assert_eq!(classify(&squatter, &pins(), Some(B)), impostor);
        let warning = impostor.warning("Team hub").unwrap();
        assert!(
            warning.contains("claims to be Team hub but is not the hub you know")
                && warning.contains(&A.safety_code())
                && warning.contains(&B.safety_code()),
            "{warning}"
        );
    }

    #[test]
    fn an_advertisement_its_certificate_belies_is_a_mismatch() {
        let liar = found("Stranger", "10.0.0.2:8977", Some(C));
        assert_eq!(
            classify(&liar, &pins(), Some(B)),
            Standing::Mismatch {
                advertised: C,
                shown: B
            }
        );
        assert!(classify(&liar, &pins(), Some(B)).warning("x").is_some());
    }

    #[test]
    fn a_hub_never_met_is_new() {
        let new = found("Lab", "10.0.0.2:8977", Some(C));
        assert_eq!(classify(&new, &pins(), Some(C)), Standing::New);
        assert_eq!(classify(&new, &pins(), None), Standing::New);
        let silent = found("Lab", "10.0.0.2:8977", None);
        assert_eq!(classify(&silent, &pins(), Some(C)), Standing::New);
        assert_eq!(classify(&new, &[], Some(C)), Standing::New);
        assert!(Standing::New.warning("Lab").is_none());
    }

    #[test]
    fn two_known_hubs_with_one_name_are_both_known() {
        let pins = vec![
            pin("192.168.1.5:8977", A, Some("raspberrypi")),
            pin("10.1.0.5:8977", C, Some("raspberrypi")),
        ];
        let second = found("raspberrypi", "10.1.0.5:8977", Some(C));
        assert_eq!(classify(&second, &pins, Some(C)), Standing::Known);
        let third = found("raspberrypi", "10.2.0.5:8977", Some(B));
        assert!(matches!(
            classify(&third, &pins, Some(B)),
            Standing::Impostor { shown: B, .. }
        ));
    }

    /// A TLS server holding `identity` on loopback, accepting until dropped.
    async fn tls_server(identity: &Identity) -> (SocketAddr, impl Future<Output = ()>) {
        let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        let acceptor = futures_rustls::TlsAcceptor::from(tls::server_config(identity).unwrap());
        let serve = async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let _ = acceptor.accept(tcp).await;
            }
        };
        (at, serve)
    }

    #[test]
    fn a_probe_sees_the_certificate_and_a_listing_checks_claimants_first() {
        smol::block_on(async {
            let impostor = Identity::generate().unwrap();
            let (at, serve) = tls_server(&impostor).await;
            let test = async {
                assert_eq!(probe(at, PROBE_WITHIN).await.unwrap(), impostor.id());
                // Nothing listens here: every handshake fails fast, and none hangs.
                let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let nowhere = closed.local_addr().unwrap().to_string();
                drop(closed);
                assert!(matches!(
                    probe(nowhere.parse().unwrap(), PROBE_WITHIN).await,
                    Err(Error::Probe { .. })
                ));
                // A flood of made-up hubs listed before the one that claims to be Team
                // hub (advertising A's fingerprint): it is checked all the same.
                let mut hubs: Vec<FoundHub> = (0..MAX_PROBED + 4)
                    .map(|i| found(&format!("Flood {i}"), &nowhere, None))
                    .collect();
                hubs.push(found("Team hub", &at.to_string(), Some(A)));
                let started = Instant::now();
                let checked = check_all(&hubs, &pins(), PROBE_WITHIN).await;
                assert!(started.elapsed() < PROBE_WITHIN * 2);
                assert_eq!(checked.len(), hubs.len());
                let last = checked.last().unwrap();
                assert_eq!(last.certificate, Some(impostor.id()));
                assert_eq!(
                    last.standing,
                    Standing::Impostor {
                        known: A,
                        shown: impostor.id()
                    }
                );
                assert_eq!(last.fingerprint(hubs.last().unwrap()), Some(impostor.id()));
                assert!(
                    checked[..MAX_PROBED]
                        .iter()
                        .all(|c| c.standing == Standing::New)
                );
            };
            futures_lite::future::or(test, serve).await;
        });
    }
}
