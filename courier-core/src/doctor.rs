//! Why can't I see or reach the hub? [`run`] checks every step and says for each one:
//! ok, or what is wrong and what to do, in one line. Network failures are findings,
//! never errors; the whole check is bounded in time (about 10 s when everything is
//! blocked). `courier doctor` prints the findings; the app shows them in its Menu.
//!
//! The steps: this computer's interfaces; hubs answering by mDNS; the hub's address;
//! TCP; a real login (TLS identity against the pin, password or remembered device,
//! protocol); the address the hub sees this computer at; whether the hub can connect
//! back to the port this computer would take files on; and, with [`Check::peer`], a
//! test link to that contact, direct and then through the hub's relay, with its
//! round-trip time and speed.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use futures::StreamExt;

use crate::auth::Password;
use crate::discovery;
use crate::identity::{Identity, PinStore};
use crate::proto::{LinkTest, Profile, Reach};
use crate::session::{self, Event, Update};
use crate::text::terminal_line;
use crate::transfer;

mod firewall;
pub use firewall::Firewalls;
use firewall::{Blocked, advised};

/// How long each network step may take.
const STEP: Duration = Duration::from_secs(3);
/// How long to listen for hubs by mDNS.
const LISTEN: Duration = Duration::from_secs(2);

/// One step's finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Which step: `interfaces`, `discovery`, `address`, `connect`, `login`, `seen`,
    /// `reachback`, `peer`, `direct`, `relayed`.
    pub step: &'static str,
    /// Whether it works.
    pub ok: bool,
    /// What was found, or what is wrong and what to do (one line; hub-supplied names
    /// escaped).
    pub text: String,
}

/// What to check, and as whom.
#[derive(Debug)]
pub struct Check {
    /// The hub to check; `None`: the only one found by mDNS, else `fallback`.
    pub hub: Option<String>,
    /// The hub to check when none is given and mDNS finds none or several.
    pub fallback: String,
    /// This computer's identity (a remembered device logs in by it).
    pub identity: Identity,
    /// The pins: a hub met before is checked against its pin.
    pub pins: PinStore,
    /// The password, if one is at hand.
    pub password: Option<Password>,
    /// The profile to log in with at a hub that does not know this device yet (a hub
    /// that does keeps the one it knows: a check renames nobody).
    pub profile: Profile,
    /// Where a transfer would listen (the reach-back check listens there).
    pub listen: SocketAddr,
    /// Look for hubs by mDNS (a step of its own); off, that step is left out.
    pub discover: bool,
    /// How this front end fixes the transfer port, for the advice when others cannot
    /// connect (for example `--bind :PORT`); may be empty.
    pub port_hint: String,
    /// A contact (name or id prefix) to test the link to: direct, then relayed, each
    /// with its round-trip time and the speed over [`Check::run`] of in-memory data.
    pub peer: Option<String>,
    /// How long each way of the peer test sends data.
    pub run: Duration,
    /// Answer others' link tests while the check's session runs, as this front end's
    /// other sessions do (off: they are declined, as the user asked).
    pub answer_link_tests: bool,
}

/// Runs every step, handing each finding to `say` as it comes; returns the hub that was
/// checked.
pub async fn run(check: Check, mut say: impl FnMut(Finding)) -> String {
    let mut say = |step: &'static str, ok: bool, text: String| say(Finding { step, ok, text });

    // This computer's addresses.
    let interfaces: Vec<String> = discovery::local_addresses()
        .into_iter()
        .map(|(name, ip)| format!("{} {ip}", terminal_line(&name)))
        .collect();
    if interfaces.is_empty() {
        say(
            "interfaces",
            false,
            "this computer has no network address but loopback: connect it to the network".into(),
        );
    } else {
        say("interfaces", true, interfaces.join(", "));
    }

    // Hubs answering by mDNS.
    let found = if check.discover {
        blocking::unblock(|| discovery::find(LISTEN)).await
    } else {
        Ok(Vec::new())
    };
    let hubs = match found {
        Ok(hubs) if hubs.is_empty() && !check.discover => hubs,
        Ok(hubs) if hubs.is_empty() => {
            say(
                "discovery",
                false,
                advised(
                    "no hub answered by mDNS: none advertises here, or multicast (UDP 5353) is \
                     blocked or filtered on this network (Wi-Fi client isolation, a firewall); \
                     give the hub's address"
                        .into(),
                    Blocked::Mdns,
                    Firewalls::detect(),
                ),
            );
            hubs
        }
        Ok(hubs) => {
            let names: Vec<String> = hubs
                .iter()
                .map(|h| {
                    format!(
                        "{} ({})",
                        terminal_line(&h.name),
                        h.addresses
                            .first()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    )
                })
                .collect();
            say(
                "discovery",
                true,
                format!("hubs answering: {}", names.join(", ")),
            );
            hubs
        }
        Err(e) => {
            say("discovery", false, format!("mDNS cannot run here: {e}"));
            Vec::new()
        }
    };

    // Which hub to check.
    let hub = match (&check.hub, hubs.as_slice()) {
        (Some(hub), _) => hub.clone(),
        (None, [one]) => {
            let Some(at) = one.addresses.first() else {
                let hub = check.fallback.clone();
                check_hub(&hub, check, &mut say).await;
                return hub;
            };
            // Its advertisement is a claim: its certificate decides, before any login.
            let pins = check.pins.all().unwrap_or_default();
            let checked = discovery::check(one, &pins, discovery::PROBE_WITHIN).await;
            if let Some(warning) = checked.refusal(&terminal_line(&one.name), !pins.is_empty()) {
                say(
                    "login",
                    false,
                    format!(
                        "not logging in to the hub found at {at}: it {warning}; give the hub \
                         you mean with --hub"
                    ),
                );
                return at.to_string();
            }
            at.to_string()
        }
        (None, _) => check.fallback.clone(),
    };
    check_hub(&hub, check, &mut say).await;
    hub
}

/// Waits for `fut` at most `limit`.
async fn within<T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    let timeout = async {
        async_io::Timer::after(limit).await;
        None
    };
    futures_lite::future::or(async { Some(fut.await) }, timeout).await
}

/// Whether `addr` is this computer's.
fn is_here(addr: SocketAddr) -> bool {
    addr.ip().is_loopback()
        || discovery::local_addresses()
            .iter()
            .any(|(_, ip)| *ip == addr.ip())
}

/// The hub at `hub`: name, TCP, and the login (TLS identity and pin, password,
/// protocol), then what the hub sees of this computer.
async fn check_hub(hub: &str, check: Check, say: &mut impl FnMut(&'static str, bool, String)) {
    let name = hub.to_owned();
    let resolved = blocking::unblock(move || {
        name.to_socket_addrs()
            .map(|a| a.collect::<Vec<SocketAddr>>())
    })
    .await;
    let addrs = match resolved {
        Ok(a) if !a.is_empty() => {
            say("address", true, format!("{hub} is {}", join(&a)));
            a
        }
        Ok(_) | Err(_) => {
            say(
                "address",
                false,
                format!("{hub} does not resolve: check the name, or use the hub's IP address"),
            );
            return;
        }
    };

    // TCP, to the first address that answers.
    let mut reached = None;
    for addr in &addrs {
        match within(STEP, async_net::TcpStream::connect(*addr)).await {
            Some(Ok(stream)) => {
                reached = Some((*addr, stream.local_addr().ok()));
                break;
            }
            Some(Err(e)) => {
                let why = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => {
                        "refused: no hub listens on that port (is it running? is the port right?)"
                            .to_owned()
                    }
                    // What firewalld's default rejection looks like from here.
                    std::io::ErrorKind::HostUnreachable => {
                        firewall::rejected(*addr, is_here(*addr), Firewalls::detect())
                    }
                    _ => format!("{e}"),
                };
                say("connect", false, format!("{addr}: {why}"));
            }
            None => {
                let text =
                    firewall::no_answer(*addr, STEP.as_secs(), is_here(*addr), Firewalls::detect());
                say("connect", false, text);
            }
        }
    }
    let Some((addr, local)) = reached else {
        return;
    };
    say(
        "connect",
        true,
        format!(
            "TCP to {addr}{}",
            local.map_or_else(String::new, |l| format!(" from this computer's {}", l.ip()))
        ),
    );

    // TLS, the pin, the password and the protocol: a real login.
    let pinned = check.pins.get(hub).ok().flatten();
    let given = check.password.is_some();
    let mut config = session::Config::new(
        hub.to_owned(),
        check.identity,
        check.password.unwrap_or_else(|| Password::new("")),
        check.profile,
    );
    // A pinned hub is checked against its pin; one never met is not pinned by a check.
    let listen = check.listen;
    let port_hint = check.port_hint;
    let (peer, run, answer) = (check.peer, check.run, check.answer_link_tests);
    config.pins = pinned.is_some().then_some(check.pins);
    // Never asks to be remembered; logs in by this computer's certificate if it can.
    config.remember = false;
    // Changes nothing else either: the hub keeps the profile it knows this device by
    // (the check's is for a hub new to it), and the stored messages stay stored.
    config.keep_profile = true;
    config.take_mailbox = false;
    // Nor does it publish keys: its own would replace this device's.
    config.keys = session::KeyStore::None;
    // Answers others' link tests while it runs as the front end's other sessions do.
    let mut updates = session::connect(config);
    if answer {
        updates = transfer::answer_link_tests(updates, transfer::Options::default());
    }
    match within(STEP * 2, updates.next()).await {
        Some(Some(Update::Connected { welcome, handle })) => {
            let identity = format!("safety code {}", welcome.hub.safety_code());
            let how = if welcome.remembered && !given {
                "this computer is remembered"
            } else {
                "the password is right"
            };
            let pin = if pinned.is_some() {
                " (matches the pin)"
            } else {
                " (never met: compare the safety code with the one the hub shows)"
            };
            say(
                "login",
                true,
                format!("{identity}{pin}; {how}; protocol matches"),
            );
            check_reachback(&handle, &mut updates, (listen, &port_hint), say).await;
            if let Some(who) = peer {
                let contacts = crate::contacts::Contacts::new(welcome.contacts);
                let test = check_peer(&handle, &contacts, &who, (listen, run), say);
                // The session runs while the test does (its stream must be polled).
                let session = async {
                    while updates.next().await.is_some() {}
                    std::future::pending::<()>().await;
                };
                futures_lite::future::or(test, session).await;
            }
        }
        Some(Some(Update::Disconnected { reason, .. })) => {
            let text = match &*reason {
                session::Error::WrongPassword => {
                    "the hub refused the password: ask its owner for the right one".to_owned()
                }
                session::Error::NotRemembered => {
                    "the hub does not remember this computer and no password was given".to_owned()
                }
                session::Error::HubChanged { .. } => format!(
                    "the hub's identity changed since this computer pinned it{}: it may not be \
                     your hub; if its owner reinstalled it, remove the pin",
                    pinned.map_or_else(String::new, |p| format!(
                        " (pinned safety code {})",
                        p.safety_code()
                    ))
                ),
                session::Error::VersionMismatch { .. } => {
                    format!("{reason}: update Courier on the side that is older")
                }
                other => format!("{other}"),
            };
            say("login", false, text);
        }
        Some(Some(Update::Event(_)) | None) => {
            say(
                "login",
                false,
                "the hub closed the connection during login".into(),
            );
        }
        None => say(
            "login",
            false,
            format!(
                "no login answer in {} s: something between here and the hub holds the \
                 connection (a proxy or a TLS-inspecting firewall?)",
                (STEP * 2).as_secs()
            ),
        ),
    }
}

/// What the hub sees of this computer, and whether it can connect back to the port
/// files would arrive on (then other members most likely can too).
async fn check_reachback(
    handle: &session::Handle,
    updates: &mut (impl futures::Stream<Item = Update> + Unpin),
    (wanted, hint): (SocketAddr, &str),
    say: &mut impl FnMut(&'static str, bool, String),
) {
    // Listen where a transfer would (a fixed port, or one the system picks). A fixed
    // port already taken is most likely a receiver listening there: ask anyway.
    let listener = match async_net::TcpListener::bind(wanted).await {
        Ok(l) => Some(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && wanted.port() != 0 => None,
        Err(e) => {
            return say(
                "reachback",
                false,
                format!("cannot listen on {wanted} as a transfer would: {e}"),
            );
        }
    };
    let port = listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map_or(wanted.port(), |a| a.port());
    if handle.reachback(port).await.is_err() {
        return say("reachback", false, "the hub closed the connection".into());
    }
    let answer = async {
        while let Some(update) = updates.next().await {
            if let Update::Event(Event::Reachback { seen, outcome, .. }) = update {
                return Some((seen, outcome));
            }
        }
        None
    };
    let Some(Some((seen, outcome))) = within(STEP, answer).await else {
        return say(
            "reachback",
            false,
            format!(
                "the hub did not answer in {} s; transfers will still try every way",
                STEP.as_secs()
            ),
        );
    };
    drop(listener);

    let ours = seen.ip().is_loopback()
        || discovery::local_addresses()
            .iter()
            .any(|(_, ip)| *ip == seen.ip());
    let note = if ours {
        ""
    } else {
        " (not an address of this computer: a NAT, VPN or proxy is in between, and members \
         on the hub's side may not reach the addresses this computer announces)"
    };
    say(
        "seen",
        true,
        format!("the hub sees this computer at {}{note}", seen.ip()),
    );
    let why = match outcome {
        Reach::Connected => {
            return say(
                "reachback",
                true,
                format!(
                    "the hub connected to this computer's TCP port {port}: others can send \
                     files to it directly"
                ),
            );
        }
        Reach::TooSoon => {
            return say(
                "reachback",
                false,
                "not checked: the hub is busy with other checks or this computer asked too \
                 often; try again in a minute"
                    .into(),
            );
        }
        Reach::Refused => "refused",
        Reach::NoAnswer => "no answer: a firewall drops it?",
        Reach::Unreachable => "no route",
    };
    let fix = if wanted.port() == 0 {
        let hint = if hint.is_empty() {
            String::new()
        } else {
            format!(" ({hint})")
        };
        format!("pick a fixed port for transfers{hint} and allow it in this computer's firewall")
    } else {
        format!("allow incoming TCP {port} in this computer's firewall")
    };
    let fixed = (wanted.port() != 0).then_some(port);
    say(
        "reachback",
        false,
        advised(
            format!(
                "others cannot connect to you directly (TCP {port}: {why}): files will be \
                 relayed through the hub, more slowly; {fix}"
            ),
            Blocked::Transfer(fixed),
            Firewalls::detect(),
        ),
    );
}

/// A test link to the contact `who`: direct only, then through the hub's relay only.
async fn check_peer(
    handle: &session::Handle,
    contacts: &crate::contacts::Contacts,
    who: &str,
    (listen, run): (SocketAddr, Duration),
    say: &mut impl FnMut(&'static str, bool, String),
) {
    let contact = match contacts.resolve(who) {
        Ok(crate::proto::Target::Client(id)) => contacts.get(&id),
        Ok(crate::proto::Target::Everyone | crate::proto::Target::Group(_)) => {
            return say(
                "peer",
                false,
                "a link test is to one contact, not everyone".into(),
            );
        }
        Err(e) => return say("peer", false, format!("{e}: see `courier who`")),
    };
    let Some(contact) = contact else {
        return say(
            "peer",
            false,
            format!("{} is not a contact", terminal_line(who)),
        );
    };
    let name = terminal_line(&contacts.label(&contact.id));
    if contact.id == handle.id() {
        return say(
            "peer",
            false,
            format!("{name} is this device: test the link from another one"),
        );
    }
    if !contact.online {
        return say(
            "peer",
            false,
            format!("{name} is offline: a link test needs them online"),
        );
    }
    let base = transfer::Options {
        listen: Some(listen),
        ..transfer::Options::default()
    };
    for way in [LinkTest::Direct, LinkTest::Relayed] {
        let step = match way {
            LinkTest::Direct => "direct",
            LinkTest::Relayed => "relayed",
        };
        let result = transfer::link_test(handle.clone(), contact.id, way, &base, run).await;
        match (way, result) {
            (_, Err(transfer::Error::NoLinkTests)) => {
                // Neither way would be answered.
                return say(
                    step,
                    false,
                    format!(
                        "{name} does not answer link tests (turned off on their side): \
                         no link test is possible"
                    ),
                );
            }
            (_, Ok(report)) => say(
                step,
                true,
                format!(
                    "{} to {name} works: round trip {:.2} ms, {} over {}",
                    match way {
                        LinkTest::Direct => "direct",
                        LinkTest::Relayed => "relayed through the hub",
                    },
                    report.rtt.as_secs_f64() * 1000.0,
                    crate::units::rate(report.rate()),
                    crate::units::duration(report.elapsed),
                ),
            ),
            (LinkTest::Direct, Err(e)) => say(
                step,
                false,
                format!(
                    "no direct connection to {name} ({e}): files between you go through the \
                     hub's relay, more slowly; check both computers' firewalls for the \
                     transfer port (run the check on {name}'s computer too; if the hub sees \
                     this computer at another address than its own, as behind a NAT or VPN, \
                     the direct test cannot work)"
                ),
            ),
            (LinkTest::Relayed, Err(e)) => say(
                step,
                false,
                format!("the hub's relay to {name} does not work ({e})"),
            ),
        }
    }
}

fn join(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
