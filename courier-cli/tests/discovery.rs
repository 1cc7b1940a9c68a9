//! Finding hubs by mDNS on real networks: network namespaces joined by a veth pair
//! (made and removed by the tests; root needed, as CI has; elsewhere the tests say they
//! did not run). The hub runs in one namespace, `courier hubs` in the other.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{json_lines, not_run, tempdir, text};

const BIN: &str = env!("CARGO_BIN_EXE_courier");

/// One network at a time: mDNS answers within its timers when the machine is not
/// busy with three sets of hubs and clients at once (two cores).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Two namespaces, `hub` at 10.N.0.1 and `client` at 10.N.0.2, on one link; removed
/// when dropped.
struct Net {
    hub: String,
    client: String,
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
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let net = Self {
            hub: format!("crh{tag}"),
            client: format!("crc{tag}"),
            last_browse: std::cell::Cell::new(None),
            _turn: turn,
        };
        let (hub, client) = (&net.hub, &net.client);
        let (a, b) = (format!("cva{tag}"), format!("cvb{tag}"));
        let steps = [
            format!("netns add {hub}"),
            format!("netns add {client}"),
            format!("link add {a} type veth peer name {b}"),
            format!("link set {a} netns {hub}"),
            format!("link set {b} netns {client}"),
            format!("-n {hub} addr add 10.{n}.0.1/24 dev {a}"),
            format!("-n {client} addr add 10.{n}.0.2/24 dev {b}"),
            format!("-n {hub} link set {a} up"),
            format!("-n {client} link set {b} up"),
            format!("-n {hub} link set lo up"),
            format!("-n {client} link set lo up"),
        ];
        for step in steps {
            let ok = Command::new("ip")
                .args(step.split(' '))
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                drop(net);
                not_run(
                    test,
                    &format!(
                        "cannot make network namespaces (`ip {step}` failed: needs root and iproute2)"
                    ),
                );
                return None;
            }
        }
        Some(net)
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
    fn hub(&self, dir: &std::path::Path, extra: &[&str]) -> (Child, serde_json::Value) {
        let mut c = self.exec(&self.hub);
        c.args(["hub", "--json", "--listen", "0.0.0.0:0", "--data-dir"])
            .arg(dir)
            .args(extra)
            .env("COURIER_PASSWORD", "discovery test password")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let line = common::until_line(&mut out, |v| v["type"] == "hub");
        // Keep the pipe open so the hub never writes to a closed stdout.
        std::mem::forget(out);
        (child, line)
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
        let mut c = self.exec(&self.client);
        c.args(["doctor", "--json", "--profile-dir"])
            .arg(profile)
            .env_remove("COURIER_HUB")
            .env("COURIER_PASSWORD", password)
            .stdin(Stdio::null());
        let started = std::time::Instant::now();
        let out = self.browse(c);
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "doctor is bounded in time"
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

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.hub, &self.client] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Ctrl-C, as a person stops the hub: it says goodbye on the network too.
fn interrupt(child: &mut Child) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the hub did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_hub_in_one_namespace_is_found_from_another_and_gone_when_it_stops() {
    let Some(net) = Net::new("a_hub_in_one_namespace_is_found_from_another", 71) else {
        return;
    };
    let dir = tempdir("discovery-found");
    let (mut hub, started) = net.hub(&dir.join("hub"), &["--name", "Lab hub"]);
    assert_eq!(started["advertised_as"], "Lab hub");
    let port = started["listen"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
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
    let dir = tempdir("discovery-two");
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
    let dir = tempdir("discovery-doctor");
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
    let dir = tempdir("discovery-firewall");
    let (mut hub, started) = net.hub(&dir.join("hub"), &["--name", "Walled hub"]);
    let port = started["listen"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
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
        let mut online = false;
        for _ in 0..100 {
            let mut who = net.member(&net.hub, &at, &sender_profile, "tx");
            who.args(["who", "--json"]);
            let out = who.output().unwrap();
            if json_lines(&out.stdout)
                .iter()
                .any(|c| c["name"] == "rx" && c["online"] == true)
            {
                online = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(online, "the receiver never came online");
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

    // Both walled (the hub's port left open): only the relay is left, and it verifies.
    drop_incoming_tcp(&net.hub, &[&port]);
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
    let dir = tempdir("discovery-multicast");
    let (mut hub, started) = net.hub(&dir.join("hub"), &["--name", "Quiet hub"]);
    let port = started["listen"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
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
