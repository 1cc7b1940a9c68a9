//! Finding hubs by mDNS on real networks: network namespaces joined by a veth pair
//! (made and removed by the tests; root needed, as CI has; elsewhere the tests say they
//! did not run). The hub runs in one namespace, `courier hubs` in the other.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use courier_testkit::json::{json_lines, text};
use courier_testkit::netns::{self, Namespace, Pair};
use courier_testkit::{HubProcess, TempDir, not_run};

const BIN: &str = env!("CARGO_BIN_EXE_courier");

/// One network at a time: mDNS answers within its timers when the machine is not
/// busy with three sets of hubs and clients at once (two cores).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Two namespaces, `hub` at 10.N.0.1 and `client` at 10.N.0.2, on one link; removed
/// when dropped.
struct Net {
    /// The hub namespace's name.
    hub: String,
    /// The client namespace's name.
    client: String,
    /// Both namespaces and their link.
    pair: Pair,
    /// When a client last browsed: a responder multicasts the same record at most once a
    /// second (RFC 6762 §6), so a second browse right after the first can wait a second
    /// for its answer; the tests leave that second between browses.
    last_browse: std::cell::Cell<Option<std::time::Instant>>,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Net {
    /// `None` (and a NOT RUN line) where namespaces cannot be made.
    fn new(test: &str, n: u8) -> Option<Self> {
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pair = match Pair::new(n) {
            Ok(pair) => pair,
            Err(why) => {
                not_run(test, &why);
                return None;
            }
        };
        Some(Self {
            hub: pair.a.name().to_owned(),
            client: pair.b.name().to_owned(),
            pair,
            last_browse: std::cell::Cell::new(None),
            _turn: turn,
        })
    }

    /// Runs `c`, a command that browses, in the client namespace, a second after the
    /// last one (see `last_browse`).
    fn browse(&self, mut c: Command) -> Output {
        if let Some(last) = self.last_browse.get() {
            let gap = Duration::from_millis(1200);
            std::thread::sleep(gap.saturating_sub(last.elapsed()));
        }
        let out = c.output().unwrap();
        self.last_browse.set(Some(std::time::Instant::now()));
        out
    }

    fn exec(&self, ns: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, BIN]);
        c
    }

    /// Starts a hub in the hub namespace; returns it and its startup line.
    fn hub(&self, dir: &std::path::Path, extra: &[&str]) -> (HubProcess, serde_json::Value) {
        let mut c = self.exec(&self.hub);
        c.env("COURIER_PASSWORD", "discovery test password");
        let hub = HubProcess::spawn(c, "0.0.0.0:0", dir, extra);
        let line = hub.info().clone();
        (hub, line)
    }

    /// `courier who` in the client namespace with no hub given.
    fn who(&self, profile: &std::path::Path) -> Output {
        let mut c = self.exec(&self.client);
        c.args(["who", "--json", "--profile-dir"])
            .arg(profile)
            .env_remove("COURIER_HUB")
            .env("COURIER_PASSWORD", "discovery test password")
            .env("COURIER_NAME", "finder")
            .stdin(Stdio::null());
        self.browse(c)
    }

    /// `courier doctor --json` in the client namespace with `password` and no hub given.
    fn doctor(&self, profile: &std::path::Path, password: &str) -> serde_json::Value {
        self.doctor_with(profile, password, &[])
    }

    /// [`Net::doctor`] with more arguments.
    fn doctor_with(
        &self,
        profile: &std::path::Path,
        password: &str,
        extra: &[&str],
    ) -> serde_json::Value {
        let mut c = self.exec(&self.client);
        c.args(["doctor", "--json", "--profile-dir"])
            .arg(profile)
            .args(extra)
            .env("RUST_LOG", "courier_core=debug")
            .env_remove("COURIER_HUB")
            .env("COURIER_PASSWORD", password)
            .stdin(Stdio::null());
        let started = std::time::Instant::now();
        let out = self.browse(c);
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "doctor is bounded in time: {:?} {extra:?}\n{}\n{}",
            started.elapsed(),
            text(&out.stdout),
            text(&out.stderr)
        );
        let mut lines = json_lines(&out.stdout);
        assert_eq!(lines.len(), 1, "{}", text(&out.stderr));
        let report = lines.remove(0);
        assert_eq!(
            out.status.code(),
            Some(if report["problems"] == 0 { 0 } else { 1 }),
            "exit 1 when something is wrong"
        );
        report
    }

    /// `courier hubs --json` in the client namespace.
    fn hubs(&self, profile: &std::path::Path, human: bool) -> Output {
        let mut c = self.exec(&self.client);
        c.args(["hubs", "--timeout", "2", "--profile-dir"])
            .arg(profile);
        if !human {
            c.arg("--json");
        }
        self.browse(c)
    }
}

/// The port a hub's startup line says it listens on.
fn port_of(started: &serde_json::Value) -> String {
    started["listen"]
        .as_str()
        .and_then(|l| l.rsplit(':').next())
        .unwrap()
        .to_owned()
}

/// Ctrl-C, as a person stops the hub: it says goodbye on the network too.
fn interrupt(hub: &mut HubProcess) {
    hub.interrupt(Duration::from_secs(10));
}

#[test]
fn a_hub_in_one_namespace_is_found_from_another_and_gone_when_it_stops() {
    let Some(net) = Net::new("a_hub_in_one_namespace_is_found_from_another", 71) else {
        return;
    };
    let dir = TempDir::new("discovery-found");
    let (mut hub, started) = net.hub(&dir.join("hub"), &["--name", "Lab hub"]);
    assert_eq!(started["advertised_as"], "Lab hub");
    let port = port_of(&started);
    let out = net.hubs(&dir.join("client"), false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let found = json_lines(&out.stdout);
    assert_eq!(found.len(), 1, "{found:?}");
    let lab = &found[0];
    assert_eq!(lab["name"], "Lab hub");
    assert_eq!(lab["fingerprint"], started["fingerprint"]);
    assert_eq!(lab["safety_code"], started["safety_code"]);
    assert_eq!(lab["compatible"], true);
    assert_eq!(lab["known"], false);
    let addresses: Vec<&str> = lab["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        addresses,
        [format!("10.71.0.1:{port}")],
        "the address on the shared link (no unusable link-local one)"
    );
    // A command with no hub given uses the only one on the network, and says so.
    let who = net.who(&dir.join("client"));
    assert!(who.status.success(), "{}", text(&who.stderr));
    assert!(
        text(&who.stderr).contains(&format!(
            "using the hub on this network: Lab hub at 10.71.0.1:{port}"
        )),
        "{}",
        text(&who.stderr)
    );
    // Now this computer knows it.
    let again = json_lines(&net.hubs(&dir.join("client"), false).stdout);
    assert_eq!(again[0]["known"], true, "{again:?}");
    // The human list says the same in one line.
    let human = text(&net.hubs(&dir.join("client"), true).stdout);
    assert!(
        human.contains("Lab hub") && human.contains(&format!("10.71.0.1:{port}")),
        "{human}"
    );

    interrupt(&mut hub);
    let out = net.hubs(&dir.join("client"), false);
    assert!(json_lines(&out.stdout).is_empty(), "gone once stopped");
    assert!(
        text(&net.hubs(&dir.join("client"), true).stderr).contains("no hub answered"),
        "an empty list says why it may be empty"
    );
}

#[test]
fn two_hubs_are_both_listed_and_names_are_shown_escaped() {
    let Some(net) = Net::new("two_hubs_are_both_listed", 72) else {
        return;
    };
    let dir = TempDir::new("discovery-two");
    let (mut first, _) = net.hub(&dir.join("one"), &["--name", "First floor"]);
    // A name with a bidi override and a newline: listed, never obeyed.
    let (mut second, _) = net.hub(
        &dir.join("two"),
        &["--name", "Evil\u{202E}gnp.exe\nFake line"],
    );
    let found = json_lines(&net.hubs(&dir.join("client"), false).stdout);
    let mut names: Vec<&str> = found.iter().map(|h| h["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Evil\u{202E}gnp.exe\nFake line", "First floor"]);
    let human = text(&net.hubs(&dir.join("client"), true).stdout);
    assert_eq!(human.lines().count(), 2, "one line per hub: {human}");
    assert!(!human.contains('\u{202E}'), "{human}");
    assert!(human.contains("First floor"), "{human}");
    // With two, a command with no hub given names both and asks for one.
    let who = net.who(&dir.join("client"));
    assert!(!who.status.success());
    let said = text(&who.stderr);
    assert!(
        said.contains("there are 2 hubs on this network; choose one with --hub")
            && said.contains("First floor (10.72.0.1:")
            && said.contains("Evil\\u{202e}gnp.exe\\u{a}Fake line"),
        "{said}"
    );
    interrupt(&mut first);
    interrupt(&mut second);
}

/// The step named `step` of a doctor report: (ok, text).
fn step(report: &serde_json::Value, name: &str) -> (bool, String) {
    let s = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {report}"));
    (
        s["ok"].as_bool().unwrap(),
        s["text"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn doctor_checks_every_step_and_names_what_is_wrong() {
    let Some(net) = Net::new("doctor_checks_every_step", 73) else {
        return;
    };
    let dir = TempDir::new("discovery-doctor");
    let (mut hub, started) = net.hub(&dir.join("hub"), &["--name", "Doc hub"]);
    let profile = dir.join("client");

    let fine = net.doctor(&profile, "discovery test password");
    assert_eq!(fine["problems"], 0, "{fine}");
    assert!(step(&fine, "interfaces").1.contains("10.73.0.2"), "{fine}");
    assert!(step(&fine, "discovery").1.contains("Doc hub"), "{fine}");
    assert!(
        step(&fine, "connect")
            .1
            .contains("from this computer's 10.73.0.2"),
        "{fine}"
    );
    let login = step(&fine, "login").1;
    assert!(
        login.contains(started["safety_code"].as_str().unwrap()) && login.contains("never met"),
        "{login}"
    );

    let wrong = net.doctor(&profile, "not the password");
    let (ok, text) = step(&wrong, "login");
    assert!(!ok && text.contains("refused the password"), "{text}");

    interrupt(&mut hub);
    let gone = net.doctor(&profile, "discovery test password");
    let (ok, text) = step(&gone, "discovery");
    assert!(!ok && text.contains("multicast (UDP 5353)"), "{text}");
    // With no hub found it tries the local default, which nothing answers.
    let (ok, text) = step(&gone, "connect");
    assert!(!ok && text.contains("refused"), "{text}");
}

/// Whether `nft` runs here; if not, says the test did not run.
fn nft_here(test: &str) -> bool {
    let ok = Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        not_run(
            test,
            "needs nft (the Debian package nftables) to firewall a namespace",
        );
    }
    ok
}

/// Runs `nft` with `rules` (one command per line) in namespace `ns`.
fn firewall(ns: &str, rules: &str) {
    for rule in rules.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "nft"])
            .args(rule.split(' '))
            .output()
            .unwrap();
        assert!(out.status.success(), "nft {rule}: {}", text(&out.stderr));
    }
}

/// A host firewall of the usual kind: what this computer starts goes out and its answers
/// come back; connections others start are dropped (except on `open` ports).
fn drop_incoming_tcp(ns: &str, open: &[&str]) {
    firewall(
        ns,
        "add table inet courier_test
         add chain inet courier_test input { type filter hook input priority 0 ; policy accept ; }",
    );
    for port in open {
        firewall(
            ns,
            &format!("add rule inet courier_test input tcp dport {port} accept"),
        );
    }
    firewall(
        ns,
        "add rule inet courier_test input meta l4proto tcp ct state new drop",
    );
}

impl Net {
    /// Whether `name` is seen online within ~10 s, asked (`who`) from namespace `ns` as
    /// the member whose profile is `profile`.
    fn sees_online(
        &self,
        (ns, hub): (&str, &str),
        (profile, asker): (&std::path::Path, &str),
        name: &str,
    ) -> bool {
        for _ in 0..100 {
            let mut who = self.member(ns, hub, profile, asker);
            who.args(["who", "--json"]);
            let out = who.output().unwrap();
            if json_lines(&out.stdout)
                .iter()
                .any(|c| c["name"] == name && c["online"] == true)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// A client command as `name` in namespace `ns`, against `hub`.
    fn member(&self, ns: &str, hub: &str, profile: &std::path::Path, name: &str) -> Command {
        let mut c = self.exec(ns);
        c.env("COURIER_HUB", hub)
            .env("COURIER_HOME", profile)
            .env("COURIER_PASSWORD", "discovery test password")
            .env("COURIER_NAME", name)
            .stdin(Stdio::null());
        c
    }
}

/// The sender runs on the hub's computer (its namespace), the receiver on the other:
/// two machines, one link, each behind its own firewall in turn.
#[test]
fn doctor_says_when_others_cannot_connect_and_a_transfer_then_goes_relayed_and_verifies() {
    let test = "doctor_says_when_others_cannot_connect";
    if !nft_here(test) {
        return;
    }
    let Some(net) = Net::new(test, 74) else {
        return;
    };
    let dir = TempDir::new("discovery-firewall");
    let (mut hub, started) = net.hub(&dir.join("hub"), &["--name", "Walled hub"]);
    let port = port_of(&started);
    let at = format!("10.74.0.1:{port}");
    let rx_profile = dir.join("rx");

    // Open network: the hub gets through to the receiver's computer.
    let open = net.doctor(&rx_profile, "discovery test password");
    assert_eq!(open["problems"], 0, "{open}");
    assert!(step(&open, "seen").1.contains("10.74.0.2"), "{open}");
    assert!(step(&open, "reachback").1.contains("directly"), "{open}");

    // The receiver's computer drops connections others start.
    drop_incoming_tcp(&net.client, &[]);
    let walled = net.doctor(&rx_profile, "discovery test password");
    assert_eq!(walled["problems"], 1, "only this is wrong: {walled}");
    let (ok, said) = step(&walled, "reachback");
    assert!(!ok, "{walled}");
    assert!(
        said.contains("others cannot connect to you directly")
            && said.contains("no answer")
            && said.contains("relayed through the hub"),
        "{said}"
    );
    assert!(step(&walled, "seen").1.contains("10.74.0.2"), "{walled}");

    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let file = dir.join("payload.bin");
    std::fs::write(&file, &payload).unwrap();
    let sender_profile = dir.join("tx");
    let transfer = |round: &str| -> serde_json::Value {
        let downloads = dir.join(format!("downloads-{round}"));
        let mut rx = net.member(&net.client, &at, &rx_profile, "rx");
        rx.args(["receive", "--yes", "--json", "--count", "1", "--dir"])
            .arg(&downloads)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let receiver = rx.spawn().unwrap();
        // Wait until the receiver is online, as seen from the sender's side.
        assert!(
            net.sees_online((&net.hub, &at), (&sender_profile, "tx"), "rx"),
            "the receiver never came online"
        );
        let mut tx = net.member(&net.hub, &at, &sender_profile, "tx");
        tx.args(["send", "--json", "--to", "rx"]).arg(&file);
        let sent = tx.output().unwrap();
        assert!(sent.status.success(), "{}", text(&sent.stderr));
        let got = receiver.wait_with_output().unwrap();
        assert!(got.status.success(), "{}", text(&got.stderr));
        assert_eq!(
            std::fs::read(downloads.join("payload.bin")).unwrap(),
            payload,
            "the file arrived whole and verified"
        );
        json_lines(&sent.stdout).pop().unwrap()
    };

    // Only the receiver walled: it dials the sender itself, so the link is still direct.
    let first = transfer("one");
    assert_eq!(first["status"], "ok", "{first}");
    assert_eq!(first["route"], "direct", "{first}");

    // The link test from the receiver's computer to the sender (whose `listen` answers
    // it by itself) says the same: direct works (the walled side dials), and so does the
    // relay, each with a speed.
    // (Started after each firewall change: a connection made before a firewall starts
    // tracking connections is dropped as new for a while, which is the test's doing.)
    let answer = || {
        let mut answering = net.member(&net.hub, &at, &sender_profile, "tx");
        answering
            .args(["listen", "--timeout", "120"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut answering = answering.spawn().unwrap();
        if !net.sees_online((&net.client, &at), (&rx_profile, "rx"), "tx") {
            let _ = answering.kill();
            panic!("the sender's listen never came online");
        }
        answering
    };
    let mut answering = answer();
    let peer = |expect_direct: bool| {
        let report = net.doctor_with(
            &rx_profile,
            "discovery test password",
            &["--hub", &at, "--peer", "tx"],
        );
        let (direct_ok, direct) = step(&report, "direct");
        let (relayed_ok, relayed) = step(&report, "relayed");
        assert_eq!(direct_ok, expect_direct, "{report}");
        if expect_direct {
            assert!(
                direct.starts_with("direct to tx works: round trip"),
                "{direct}"
            );
        } else {
            assert!(
                direct.starts_with("no direct connection to tx")
                    && direct.contains("go through the hub's relay"),
                "{direct}"
            );
        }
        assert!(relayed_ok, "{report}");
        assert!(
            relayed.starts_with("relayed through the hub to tx works") && relayed.contains("/s"),
            "{relayed}"
        );
        // The reach-back problem, and (walled both) the direct one: nothing else.
        assert_eq!(
            report["problems"],
            if expect_direct { 1 } else { 2 },
            "{report}"
        );
    };
    peer(true);

    // Both walled (the hub's port left open): only the relay is left, and it verifies.
    let _ = answering.kill();
    let _ = answering.wait();
    drop_incoming_tcp(&net.hub, &[&port]);
    let mut answering = answer();
    peer(false);
    let _ = answering.kill();
    let _ = answering.wait();
    let second = transfer("two");
    assert_eq!(second["status"], "ok", "{second}");
    assert_eq!(second["route"], "relayed", "{second}");

    interrupt(&mut hub);
}

/// A network that filters multicast (as Wi-Fi client isolation and many firewalls do):
/// no hub is found, doctor names multicast, and the hub typed by address still works.
#[test]
fn with_multicast_dropped_no_hub_is_found_and_doctor_names_multicast() {
    let test = "with_multicast_dropped_no_hub_is_found";
    if !nft_here(test) {
        return;
    }
    let Some(net) = Net::new(test, 75) else {
        return;
    };
    let dir = TempDir::new("discovery-multicast");
    let (mut hub, started) = net.hub(&dir.join("hub"), &["--name", "Quiet hub"]);
    let port = port_of(&started);
    let profile = dir.join("client");
    // The control: found while multicast flows.
    assert_eq!(json_lines(&net.hubs(&profile, false).stdout).len(), 1);

    firewall(
        &net.client,
        "add table inet courier_test
         add chain inet courier_test input { type filter hook input priority 0 ; policy accept ; }
         add rule inet courier_test input udp dport 5353 drop",
    );
    let out = net.hubs(&profile, false);
    assert!(json_lines(&out.stdout).is_empty(), "{}", text(&out.stdout));

    let mut c = net.member(
        &net.client,
        &format!("10.75.0.1:{port}"),
        &profile,
        "doctor",
    );
    c.args(["doctor", "--json"]);
    let out = net.browse(c);
    let report = json_lines(&out.stdout).remove(0);
    assert_eq!(report["problems"], 1, "only discovery: {report}");
    let (ok, said) = step(&report, "discovery");
    assert!(!ok && said.contains("multicast (UDP 5353)"), "{said}");
    assert!(step(&report, "login").0, "{report}");
    assert!(step(&report, "reachback").0, "{report}");
    interrupt(&mut hub);
}

/// mDNS packets written by hand, as a hostile responder would: no library in between.
mod dns {
    /// A DNS name, label by label (no compression); labels over 63 bytes are cut.
    pub(crate) fn name(dotted: &str, out: &mut Vec<u8>) {
        for label in dotted.trim_end_matches('.').split('.') {
            let bytes = &label.as_bytes()[..label.len().min(63)];
            out.push(u8::try_from(bytes.len()).unwrap());
            out.extend_from_slice(bytes);
        }
        out.push(0);
    }

    /// One resource record: class IN with the cache-flush bit, TTL 120 s.
    pub(crate) fn record(owner: &str, kind: u16, rdata: &[u8], out: &mut Vec<u8>) {
        name(owner, out);
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&0x8001u16.to_be_bytes());
        out.extend_from_slice(&120u32.to_be_bytes());
        out.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
        out.extend_from_slice(rdata);
    }

    /// An unsolicited response (an announcement) with `answers` records already encoded.
    pub(crate) fn response(count: u16, answers: &[u8]) -> Vec<u8> {
        let mut p = vec![0, 0, 0x84, 0, 0, 0];
        p.extend_from_slice(&count.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.extend_from_slice(answers);
        p
    }

    /// A whole hub announcement: PTR, SRV, TXT (`entries` as given) and A records.
    pub(crate) fn hub(instance: &str, port: u16, entries: &[&[u8]], ips: &[[u8; 4]]) -> Vec<u8> {
        const SERVICE: &str = "_courier._tcp.local";
        let full = format!("{instance}.{SERVICE}");
        let host = format!("h{}.local", instance.len());
        let mut body = Vec::new();
        let mut ptr = Vec::new();
        name(&full, &mut ptr);
        record(SERVICE, 12, &ptr, &mut body);
        let mut srv = vec![0, 0, 0, 0];
        srv.extend_from_slice(&port.to_be_bytes());
        name(&host, &mut srv);
        record(&full, 33, &srv, &mut body);
        let mut txt = Vec::new();
        for e in entries {
            txt.push(u8::try_from(e.len()).unwrap());
            txt.extend_from_slice(e);
        }
        record(&full, 16, &txt, &mut body);
        for ip in ips {
            record(&host, 1, ip, &mut body);
        }
        response(u16::try_from(3 + ips.len()).unwrap(), &body)
    }
}

/// Multicasts `packets` to the mDNS group from inside namespace `ns` (this thread only
/// enters it), `rounds` times, 100 ms apart.
fn multicast_from(ns: &str, packets: Vec<Vec<u8>>, rounds: usize) -> std::thread::JoinHandle<()> {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        netns::enter(&ns);
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        for _ in 0..rounds {
            for p in &packets {
                let _ = socket.send_to(p, "224.0.0.251:5353");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

/// Malformed packets, oversized and lying records, control and bidi characters, and a
/// flood of announcements: `courier hubs` neither crashes nor lists what is not a hub,
/// shows names escaped on one line, keeps the real hub, and bounds the list.
#[test]
fn a_hostile_mdns_responder_neither_crashes_nor_confuses_the_list() {
    let Some(net) = Net::new("a_hostile_mdns_responder", 76) else {
        return;
    };
    let route = Command::new("ip")
        .args(["-n", &net.hub, "route", "add", "224.0.0.0/4", "dev"])
        .arg(&net.pair.veth.a)
        .status()
        .unwrap();
    assert!(route.success());
    let dir = TempDir::new("discovery-hostile");
    let (mut hub, started) = net.hub(&dir.join("hub"), &["--name", "Real hub"]);
    let profile = dir.join("client");
    let here = [10, 76, 0, 1];
    let fp = "ab".repeat(32);
    let fp_entry = format!("fp={fp}");

    let mut packets: Vec<Vec<u8>> = Vec::new();
    // Garbage of every length up to a full datagram.
    let mut seed = 0x2545_f491_u32;
    for len in (0..1500).step_by(97) {
        packets.push(
            (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed.to_le_bytes()[0]
                })
                .collect(),
        );
    }
    // A header promising 65 535 answers and carrying none.
    packets.push(dns::response(u16::MAX, &[]));
    // A name that points at itself (a compression loop).
    packets.push(dns::response(
        1,
        &[0xC0, 12, 0, 12, 0, 1, 0, 0, 0, 120, 0, 0],
    ));
    // A well-formed hub whose fingerprint is not hex: listed, without a fingerprint.
    let bad_fp = format!("fp={}", "zz".repeat(32));
    packets.push(dns::hub(
        "Odd print",
        4000,
        &[b"v=4", b"name=Odd print", bad_fp.as_bytes()],
        &[here],
    ));
    // A 250-byte name full of terminal escapes and a bidi override.
    let loud_txt = format!("name=\u{1b}[31mRED\u{202e}{}\nnext", "x".repeat(230));
    let loud_packet = dns::hub(
        "Loud",
        4001,
        &[b"v=4", loud_txt.as_bytes(), fp_entry.as_bytes()],
        &[here],
    );
    packets.push(loud_packet.clone());
    // No usable address (multicast and unspecified only), and port 0: not hubs at all.
    packets.push(dns::hub(
        "Nowhere",
        4002,
        &[b"v=4", b"name=Nowhere"],
        &[[224, 0, 0, 1], [0, 0, 0, 0]],
    ));
    packets.push(dns::hub(
        "Portless",
        0,
        &[b"v=4", b"name=Portless"],
        &[here],
    ));
    let sender = multicast_from(&net.hub, packets, 25);
    let out = net.hubs(&profile, false);
    sender.join().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = json_lines(&out.stdout);
    let names: Vec<&str> = listed.iter().map(|h| h["name"].as_str().unwrap()).collect();
    let real = listed
        .iter()
        .find(|h| h["name"] == "Real hub")
        .unwrap_or_else(|| panic!("the real hub is still listed: {names:?}"));
    assert_eq!(real["fingerprint"], started["fingerprint"]);
    assert!(
        !names.contains(&"Nowhere") && !names.contains(&"Portless"),
        "{names:?}"
    );
    let odd = listed.iter().find(|h| h["name"] == "Odd print").unwrap();
    assert!(odd["fingerprint"].is_null(), "{odd}");
    let loud = listed
        .iter()
        .find(|h| h["name"].as_str().unwrap().contains("RED"))
        .unwrap();
    assert!(loud["name"].as_str().unwrap().len() <= 63, "{loud}");
    // The human list: one line per hub, nothing a terminal would obey.
    let sender = multicast_from(&net.hub, vec![loud_packet], 25);
    let human = text(&net.hubs(&profile, true).stdout);
    sender.join().unwrap();
    assert!(human.contains("RED"), "{human}");
    assert!(
        !human
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
        "{human:?}"
    );
    assert_eq!(
        human.lines().count(),
        human.matches("10.76.0.1:").count(),
        "{human}"
    );

    // This computer meets the real hub (and pins it), then a flood of 1 000 made-up
    // hubs arrives, as fast as the link takes them.
    let port = port_of(&started);
    let mut who = net.member(&net.client, &format!("10.76.0.1:{port}"), &profile, "me");
    who.args(["who", "--json"]);
    assert!(who.output().unwrap().status.success());
    let flood: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            let entry = format!("name=Flood {i}");
            dns::hub(
                &format!("Flood {i}"),
                4100,
                &[b"v=4", entry.as_bytes()],
                &[here],
            )
        })
        .collect();
    // The real hub stops, the flood starts, a browse starts, and only then does the
    // real hub come back (same identity): the list is full by the time it announces.
    interrupt(&mut hub);
    let sender = multicast_from(&net.hub, flood, 40);
    std::thread::sleep(Duration::from_millis(1500));
    let mut browse = net.exec(&net.client);
    browse
        .args(["hubs", "--json", "--timeout", "3", "--profile-dir"])
        .arg(&profile)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started_at = std::time::Instant::now();
    let browsing = browse.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (mut hub, again) = net.hub(&dir.join("hub"), &["--name", "Real hub"]);
    assert_eq!(again["fingerprint"], started["fingerprint"]);
    let out = browsing.wait_with_output().unwrap();
    sender.join().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        started_at.elapsed() < Duration::from_secs(6),
        "bounded in time"
    );
    let listed = json_lines(&out.stdout);
    let flooded = listed
        .iter()
        .filter(|h| h["name"].as_str().unwrap().starts_with("Flood "))
        .count();
    assert_eq!(
        flooded, 64,
        "the made-up hubs fill the list and get no further"
    );
    let real = listed.iter().find(|h| h["name"] == "Real hub");
    assert!(
        real.is_some_and(|h| h["known"] == true),
        "the hub met before is listed all the same: {real:?}"
    );
    interrupt(&mut hub);
}

impl Net {
    /// `courier say --to everyone` in the client namespace with no hub given and the
    /// password in the environment.
    fn say(&self, profile: &std::path::Path, message: &str) -> Output {
        let mut c = self.exec(&self.client);
        c.args([
            "say",
            "--json",
            "--to",
            "everyone",
            message,
            "--profile-dir",
        ])
        .arg(profile)
        .env_remove("COURIER_HUB")
        .env("COURIER_PASSWORD", "discovery test password")
        .env("COURIER_NAME", "finder")
        .stdin(Stdio::null());
        self.browse(c)
    }
}

/// N10: a hub this computer knows stops; another one (another identity) advertises
/// under its name at another port, first honestly, then with the known hub's
/// fingerprint in its TXT record. A command with no hub given and the password at hand
/// refuses it with a warning naming both safety codes (nothing logged in, nothing
/// pinned), and `courier hubs` never says known. The real hub back at a new port is
/// known, and used.
#[test]
fn an_impostor_under_a_known_hubs_name_is_refused_and_never_known() {
    let Some(net) = Net::new("an_impostor_under_a_known_hubs_name", 79) else {
        return;
    };
    let route = Command::new("ip")
        .args(["-n", &net.hub, "route", "add", "224.0.0.0/4", "dev"])
        .arg(&net.pair.veth.a)
        .status()
        .unwrap();
    assert!(route.success());
    let dir = TempDir::new("discovery-impostor");
    let profile = dir.join("client");
    let pins = || std::fs::read_to_string(profile.join("hub-pins")).unwrap_or_default();

    // The real hub, met through discovery (pinned, with its name).
    let (mut real, a) = net.hub(&dir.join("real"), &["--name", "Team hub"]);
    let who = net.who(&profile);
    assert!(who.status.success(), "{}", text(&who.stderr));
    let listed = json_lines(&net.hubs(&profile, false).stdout);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["known"], true, "{listed:?}");
    let protocol = listed[0]["protocol"].clone();
    interrupt(&mut real);

    let refused = |b: &serde_json::Value, what: &str| {
        let said = net.say(&profile, "for the team");
        let err = text(&said.stderr);
        assert_eq!(said.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.contains("claims to be Team hub but is not the hub you know")
                && err.contains(a["safety_code"].as_str().unwrap())
                && err.contains(b["safety_code"].as_str().unwrap()),
            "{what}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            !pins().contains(b["fingerprint"].as_str().unwrap()),
            "{what}: never logged in to, never pinned: {}",
            pins()
        );
        let listed = json_lines(&net.hubs(&profile, false).stdout);
        assert_eq!(listed.len(), 1, "{what}: {listed:?}");
        let hub = &listed[0];
        assert_eq!(hub["known"], false, "{what}: {hub}");
        assert_eq!(hub["standing"], "impostor", "{what}: {hub}");
        assert_eq!(hub["checked"], true, "{what}: {hub}");
        assert_eq!(
            hub["safety_code"], b["safety_code"],
            "{what}: the code its certificate shows: {hub}"
        );
        assert!(
            hub["warning"]
                .as_str()
                .is_some_and(|w| w.contains("claims to be Team hub but is not the hub you know")),
            "{what}: {hub}"
        );
        let human = text(&net.hubs(&profile, true).stdout);
        assert!(
            human.contains("not the hub you know") && !human.contains("known]"),
            "{what}: {human}"
        );
    };

    // Same name, its own certificate, advertised honestly.
    let (mut fake, b) = net.hub(&dir.join("fake"), &["--name", "Team hub"]);
    assert_ne!(a["fingerprint"], b["fingerprint"]);
    refused(&b, "same name");
    // Doctor, with no hub given, does not log in to it either.
    let report = net.doctor(&profile, "discovery test password");
    let (ok, said) = step(&report, "login");
    assert!(
        !ok && said.contains("claims to be Team hub but is not the hub you know"),
        "{report}"
    );
    assert!(!pins().contains(b["fingerprint"].as_str().unwrap()));
    interrupt(&mut fake);

    // The same impostor, not advertising itself; a forged announcement says it is the
    // known hub: its name, its instance and its fingerprint, at the impostor's port.
    let (mut quiet, c) = net.hub(&dir.join("fake"), &["--no-advertise"]);
    assert_eq!(b["fingerprint"], c["fingerprint"]);
    let a_fp = a["fingerprint"].as_str().unwrap();
    let fp_entry = format!("fp={a_fp}");
    let v_entry = format!("v={protocol}");
    let forged = dns::hub(
        &format!("Team hub ({})", &a_fp[..8]),
        port_of(&c).parse().unwrap(),
        &[v_entry.as_bytes(), b"name=Team hub", fp_entry.as_bytes()],
        &[[10, 79, 0, 1]],
    );
    let sender = multicast_from(&net.hub, vec![forged], 150);
    refused(&c, "forged fingerprint");
    sender.join().unwrap();
    interrupt(&mut quiet);

    // The real hub again, at another port: known by its certificate, and used.
    let (mut real, again) = net.hub(&dir.join("real"), &["--name", "Team hub"]);
    assert_eq!(again["fingerprint"], a["fingerprint"]);
    assert_ne!(port_of(&again), port_of(&a));
    let listed = json_lines(&net.hubs(&profile, false).stdout);
    assert_eq!(listed[0]["known"], true, "{listed:?}");
    assert_eq!(listed[0]["standing"], "known", "{listed:?}");
    let said = net.say(&profile, "for the team");
    assert!(said.status.success(), "{}", text(&said.stderr));
    interrupt(&mut real);

    // A hub under another name that this computer has never met (an insider's, while
    // the real one is away) is not used unasked either: the password goes to no hub
    // this computer has not met without --hub.
    let (mut other, d) = net.hub(&dir.join("fake"), &["--name", "Lunch room"]);
    let said = net.say(&profile, "for the team");
    let err = text(&said.stderr);
    assert_eq!(said.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a hub this computer has not met")
            && err.contains(d["safety_code"].as_str().unwrap()),
        "{err}"
    );
    assert!(!pins().contains(d["fingerprint"].as_str().unwrap()));
    // Nor does doctor log in to it.
    let report = net.doctor(&profile, "discovery test password");
    let (ok, said) = step(&report, "login");
    assert!(
        !ok && said.contains("a hub this computer has not met"),
        "{report}"
    );
    assert!(!pins().contains(d["fingerprint"].as_str().unwrap()));
    interrupt(&mut other);
}

/// A network card plugged in after the hub started: the hub is found there too (mDNS
/// follows interfaces as they come, checking every few seconds), and when it is
/// unplugged again the hub carries on advertising on the first one.
#[test]
fn a_hub_follows_interfaces_that_come_and_go() {
    let Some(net) = Net::new("a_hub_follows_interfaces_that_come_and_go", 77) else {
        return;
    };
    let dir = TempDir::new("discovery-interfaces");
    let (mut hub, started) = net.hub(&dir.join("hub"), &["--name", "Roaming hub"]);
    let port = port_of(&started);

    // A second network, plugged into the hub's computer now.
    let late = Namespace::new().unwrap();
    let cable = netns::connect(&net.pair.a, "10.78.0.1/24", &late, "10.78.0.2/24").unwrap();

    // Browsed from the new network until it shows (bounded: the hub looks at its
    // interfaces every 5 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let found = loop {
        let mut c = net.exec(late.name());
        c.args(["hubs", "--json", "--timeout", "2", "--profile-dir"])
            .arg(dir.join("late"));
        let listed = json_lines(&c.output().unwrap().stdout);
        if let Some(hub) = listed.into_iter().find(|h| h["name"] == "Roaming hub") {
            break hub;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never found on the network plugged in later"
        );
    };
    assert_eq!(
        found["addresses"][0],
        format!("10.78.0.1:{port}"),
        "{found}"
    );

    // Unplugged again: the first network still finds the hub, at its own address.
    netns::ip(&format!("-n {} link del {}", net.hub, cable.a)).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let listed = json_lines(&net.hubs(&dir.join("client"), false).stdout);
    let hub_there = listed.iter().find(|h| h["name"] == "Roaming hub");
    assert!(
        hub_there.is_some_and(|h| h["addresses"][0] == format!("10.77.0.1:{port}")),
        "{listed:?}"
    );
    interrupt(&mut hub);
}
