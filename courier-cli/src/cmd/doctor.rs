//! `courier doctor`: why can't I see or reach the hub? Runs every step and says for
//! each one: ok, or what is wrong and what to do, in one line. Network failures are
//! findings, never crashes; the whole check is bounded in time.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use courier_core::auth::Password;
use courier_core::discovery;
use courier_core::identity::{Identity, PinStore};
use courier_core::proto::{Profile, Reach};
use courier_core::session::{self, Event, Update};
use courier_core::text::terminal_line;
use futures::StreamExt;
use serde_json::json;

use crate::args::{DoctorArgs, LOCAL_HUB};
use crate::client::profile_dir;
use crate::password;

/// How long each network step may take.
const STEP: Duration = Duration::from_secs(3);
/// How long to listen for hubs by mDNS.
const LISTEN: Duration = Duration::from_secs(2);

/// One step's finding.
struct Finding {
    step: &'static str,
    ok: bool,
    text: String,
}

struct Report {
    findings: Vec<Finding>,
    json: bool,
}

impl Report {
    fn say(&mut self, step: &'static str, ok: bool, text: String) {
        if !self.json {
            let mark = if ok { "ok     " } else { "PROBLEM" };
            eprintln!("{mark}  {step}: {text}");
        }
        self.findings.push(Finding { step, ok, text });
    }
}

pub(crate) async fn run(args: &DoctorArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let mut report = Report {
        findings: Vec::new(),
        json: args.json,
    };

    // This machine's addresses.
    let interfaces: Vec<String> = discovery::local_addresses()
        .into_iter()
        .map(|(name, ip)| format!("{name} {ip}"))
        .collect();
    if interfaces.is_empty() {
        report.say(
            "interfaces",
            false,
            "this computer has no network address but loopback: connect it to the network".into(),
        );
    } else {
        report.say("interfaces", true, interfaces.join(", "));
    }

    // Hubs answering by mDNS.
    let found = smol::unblock(|| discovery::find(LISTEN)).await;
    let hubs = match found {
        Ok(hubs) if hubs.is_empty() => {
            report.say(
                "discovery",
                false,
                "no hub answered by mDNS: none advertises here, or multicast (UDP 5353) is \
                 blocked or filtered on this network (Wi-Fi client isolation, a firewall); \
                 give the hub's address with --hub"
                    .into(),
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
            report.say(
                "discovery",
                true,
                format!("hubs answering: {}", names.join(", ")),
            );
            hubs
        }
        Err(e) => {
            report.say("discovery", false, format!("mDNS cannot run here: {e}"));
            Vec::new()
        }
    };

    // Which hub to check.
    let hub = match (&args.client.hub, hubs.as_slice()) {
        (Some(hub), _) => hub.clone(),
        (None, [one]) => one
            .addresses
            .first()
            .map_or_else(|| LOCAL_HUB.to_owned(), ToString::to_string),
        (None, _) => LOCAL_HUB.to_owned(),
    };
    check_hub(&hub, args, &mut report).await;

    let problems = report.findings.iter().filter(|f| !f.ok).count();
    if args.json {
        let steps: Vec<_> = report
            .findings
            .iter()
            .map(|f| json!({"step": f.step, "ok": f.ok, "text": f.text}))
            .collect();
        let line = json!({
            "type": "doctor",
            "hub": hub,
            "steps": steps,
            "problems": problems,
            "seconds": started.elapsed().as_secs_f64(),
        });
        crate::print(&format!("{line}\n"));
    } else if problems == 0 {
        eprintln!("Everything checked works.");
    }
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The hub at `hub`: name, TCP, and the login (TLS identity and pin, password,
/// protocol).
async fn check_hub(hub: &str, args: &DoctorArgs, report: &mut Report) {
    let name = hub.to_owned();
    let resolved = smol::unblock(move || {
        name.to_socket_addrs()
            .map(|a| a.collect::<Vec<SocketAddr>>())
    })
    .await;
    let addrs = match resolved {
        Ok(a) if !a.is_empty() => {
            report.say("address", true, format!("{hub} is {}", join(&a)));
            a
        }
        Ok(_) | Err(_) => {
            report.say(
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
        let attempt = futures::future::select(
            Box::pin(async_net::TcpStream::connect(*addr)),
            Box::pin(smol::Timer::after(STEP)),
        )
        .await;
        match attempt {
            futures::future::Either::Left((Ok(stream), _)) => {
                reached = Some((*addr, stream.local_addr().ok()));
                break;
            }
            futures::future::Either::Left((Err(e), _)) => {
                let why = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => {
                        "refused: no hub listens on that port (is it running? is the port right?)"
                            .to_owned()
                    }
                    _ => format!("{e}"),
                };
                report.say("connect", false, format!("{addr}: {why}"));
            }
            futures::future::Either::Right(_) => report.say(
                "connect",
                false,
                format!(
                    "{addr}: no answer in {} s: a firewall drops it, or the address is on \
                     another network (open TCP {} on the hub's computer)",
                    STEP.as_secs(),
                    addr.port()
                ),
            ),
        }
    }
    let Some((addr, local)) = reached else {
        return;
    };
    report.say(
        "connect",
        true,
        format!(
            "TCP to {addr}{}",
            local.map_or_else(String::new, |l| format!(" from this computer's {}", l.ip()))
        ),
    );

    // TLS, the pin, the password and the protocol: a real login.
    let dir = match profile_dir(&args.client) {
        Ok(d) => d,
        Err(e) => return report.say("login", false, format!("{e}")),
    };
    let identity = match Identity::load_or_create(&dir) {
        Ok(i) => i,
        Err(e) => return report.say("login", false, format!("this computer's identity: {e}")),
    };
    let pins = PinStore::new(&dir);
    let pinned = pins.get(hub).ok().flatten();
    let given = password::given(args.client.password_file.as_deref())
        .ok()
        .flatten();
    let password = given.clone().unwrap_or_else(|| Password::new(""));
    let mut config = session::Config::new(
        hub.to_owned(),
        identity,
        password,
        Profile::with_name("doctor"),
    );
    // A pinned hub is checked against its pin; one never met is not pinned by a check.
    config.pins = pinned.is_some().then_some(pins);
    // Never asks to be remembered; logs in by this computer's certificate if it can.
    config.remember = false;
    let mut updates = Box::pin(session::connect(config));
    let first = futures::future::select(
        Box::pin(updates.next()),
        Box::pin(smol::Timer::after(STEP * 2)),
    )
    .await;
    match first {
        futures::future::Either::Left((Some(Update::Connected { welcome, handle }), _)) => {
            let identity = format!("safety code {}", welcome.hub.safety_code());
            let how = if welcome.remembered && given.is_none() {
                "this computer is remembered"
            } else {
                "the password is right"
            };
            let pin = if pinned.is_some() {
                " (matches the pin)"
            } else {
                " (never met: compare the safety code with the one the hub shows)"
            };
            report.say(
                "login",
                true,
                format!("{identity}{pin}; {how}; protocol matches"),
            );
            check_reachback(&handle, &mut updates, args, report).await;
        }
        futures::future::Either::Left((Some(Update::Disconnected { reason, .. }), _)) => {
            let text = match &*reason {
                session::Error::WrongPassword => {
                    "the hub refused the password: ask its owner for the right one".to_owned()
                }
                session::Error::NotRemembered => {
                    "the hub does not remember this computer and no password was given \
                     (COURIER_PASSWORD or --password-file)"
                        .to_owned()
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
            report.say("login", false, text);
        }
        futures::future::Either::Left((Some(Update::Event(_)) | None, _)) => {
            report.say(
                "login",
                false,
                "the hub closed the connection during login".into(),
            );
        }
        futures::future::Either::Right(_) => report.say(
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
/// files would arrive on (then other members can too, most likely).
async fn check_reachback(
    handle: &session::Handle,
    updates: &mut (impl futures::Stream<Item = Update> + Unpin),
    args: &DoctorArgs,
    report: &mut Report,
) {
    // Listen where a transfer would (the port from --bind, or one the system picks). A
    // port already taken is most likely a `courier receive` listening there: ask anyway.
    let wanted = args
        .link
        .options()
        .listen
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let listener = match async_net::TcpListener::bind(wanted).await {
        Ok(l) => Some(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && wanted.port() != 0 => None,
        Err(e) => {
            return report.say(
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
        return report.say("reachback", false, "the hub closed the connection".into());
    }
    let answer = async {
        while let Some(update) = updates.next().await {
            if let Update::Event(Event::Reachback { seen, outcome, .. }) = update {
                return Some((seen, outcome));
            }
        }
        None
    };
    let timeout = async {
        smol::Timer::after(STEP).await;
        None
    };
    let Some((seen, outcome)) = futures_lite::future::or(answer, timeout).await else {
        return report.say(
            "reachback",
            false,
            format!(
                "the hub did not answer in {} s; transfers will still try every way",
                STEP.as_secs()
            ),
        );
    };
    drop(listener);

    let ours = discovery::local_addresses()
        .iter()
        .any(|(_, ip)| *ip == seen.ip())
        || seen.ip().is_loopback();
    let note = if ours {
        ""
    } else {
        " (not an address of this computer: a NAT, VPN or proxy is in between, and members \
         on the hub's side may not reach the addresses this computer announces)"
    };
    report.say(
        "seen",
        true,
        format!("the hub sees this computer at {}{note}", seen.ip()),
    );
    let why = match outcome {
        Reach::Connected => {
            return report.say(
                "reachback",
                true,
                format!(
                    "the hub connected to this computer's TCP port {port}: others can send \
                     files to it directly"
                ),
            );
        }
        Reach::TooSoon => {
            return report.say(
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
    let fix = if args.link.bind.is_some_and(|b| b.port() != 0) {
        format!("allow incoming TCP {port} in this computer's firewall")
    } else {
        "pick a fixed port with --bind :PORT and allow it in this computer's firewall".to_owned()
    };
    report.say(
        "reachback",
        false,
        format!(
            "others cannot connect to you directly (TCP {port}: {why}): files will be \
             relayed through the hub, more slowly; {fix}"
        ),
    );
}

fn join(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
