//! Snapshots of what the `courier` command prints, for people and with `--json`, so that
//! a change of output shows up in review as a changed `.snap` file under `snapshots/`.
//!
//! They run with plain `cargo test` (insta needs no `cargo insta`). Review a change with
//! `cargo insta review`, or by hand: a failing run writes `*.snap.new` next to the old
//! file (not with `CI=true`, where a missing or different snapshot only fails).
//!
//! What varies from run to run (ids, ports, times, safety codes, temp folders) is
//! redacted by [`filters`]. The time zone is pinned (`TZ` below, a rule that needs no
//! zone database), so the snapshots show the offset every local time is printed with.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use courier_testkit::json::{json_lines, text};
use courier_testkit::{HubProcess, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "snapshot test password";
/// India's zone as a POSIX rule: +05:30 all year, no database needed, and a half-hour
/// offset that no test machine has by accident.
const TZ: &str = "IST-5:30";
const OFFSET: &str = "+05:30";

/// A `courier` command with nothing of this machine's environment but the pinned zone
/// (clap shows `[env: COURIER_HUB=…]` values in help; discovery would look at the LAN).
fn courier() -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("TZ", TZ)
        .env("COURIER_NO_DISCOVERY", "1")
        .stdin(Stdio::null());
    c
}

/// Everything in `out`, as one reviewable text: exit code, stdout, stderr.
fn shown(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Redactions for what differs between runs; `dir` is the test's temp folder.
fn filters(dir: &Path) -> Vec<(String, String)> {
    let mut f = vec![(regex_escape(&dir.display().to_string()), "[TMP]".to_owned())];
    f.extend(
        [
            // Full ids (fingerprints), then short ids and message ids (16 hex digits).
            (r"\b[0-9a-f]{64}\b", "[ID]"),
            (r"\b[0-9a-f]{16}\b", "[SHORT]"),
            // Safety codes: four groups of four digits.
            (r"\b\d{4} \d{4} \d{4} \d{4}\b", "[SAFETY CODE]"),
            (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
            // Local times keep their offset, which is what these snapshots are about.
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", "[DATE]T[TIME]"),
            (r"\d{4}-\d\d-\d\d \d\d:\d\d", "[DATE] [TIME]"),
            (r"\[\d\d:\d\d\]", "[[TIME]]"),
            // Milliseconds since the epoch.
            (
                r#""(time|last_seen|first_seen|since|remembered_since)":\d+"#,
                r#""$1":[MS]"#,
            ),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned())),
    );
    f
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// Asserts the snapshot `name` of `value` with `dir`'s redactions.
macro_rules! snap {
    ($dir:expr, $name:expr, $value:expr) => {{
        let filters = filters($dir);
        let refs: Vec<(&str, &str)> = filters
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        insta::with_settings!({ filters => refs, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $value);
        });
    }};
}

/// Starts `courier hub --json` on a port of loopback and returns it with its first line.
fn start_hub(dir: &Path) -> (HubProcess, String) {
    let mut cmd = courier();
    cmd.env("COURIER_PASSWORD", PW);
    let hub = HubProcess::spawn(cmd, "127.0.0.1:0", dir.join("hub"), &[]);
    let line = hub.line().to_owned();
    (hub, line)
}

/// `courier ARGS` as `name` (its own profile folder) against `hub`.
fn client(hub: &HubProcess, dir: &Path, name: &str, args: &[&str]) -> Command {
    let mut c = courier();
    c.env("COURIER_HUB", hub.addr())
        .env("COURIER_HOME", dir.join(name))
        .env("COURIER_NAME", name)
        .env("COURIER_PASSWORD", PW)
        .args(args);
    c
}

fn run(hub: &HubProcess, dir: &Path, name: &str, args: &[&str]) -> Output {
    client(hub, dir, name, args).output().unwrap()
}

/// Waits until `asker` sees `name` online.
fn wait_online(hub: &HubProcess, dir: &Path, asker: &str, name: &str) {
    for _ in 0..100 {
        let out = run(hub, dir, asker, &["who", "--json"]);
        if json_lines(&out.stdout)
            .iter()
            .any(|c| c["name"] == name && c["online"] == true)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} never showed as online");
}

/// The minutes of the day in `local` (`…THH:MM:SS+05:30`) are those of `ms` at +05:30.
fn assert_local_time(ms: u64, local: &str) {
    assert!(local.ends_with(OFFSET), "{local}");
    let secs = ms / 1000 + 5 * 3600 + 1800;
    let hms = format!(
        "T{:02}:{:02}:{:02}{OFFSET}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    );
    assert!(local.ends_with(&hms), "{local} is not {ms} ms at {OFFSET}");
}

#[test]
fn help() {
    let dir = Path::new("/nonexistent");
    for (name, args) in [
        ("help", &["--help"][..]),
        ("help_say", &["say", "--help"]),
        ("help_history", &["history", "--help"]),
    ] {
        let out = courier().args(args).output().unwrap();
        snap!(dir, name, shown(&out));
    }
}

/// Alice and Bob on a real hub: `who`, `say` and `history` for people and for scripts,
/// and Bob's `listen --json`. Every local time shows the pinned zone's offset.
#[test]
fn who_say_history_listen() {
    let dir = TempDir::new("snapshots-talk");
    let (hub, started) = start_hub(&dir);
    snap!(&dir, "hub_started_json", started);

    let bob = client(&hub, &dir, "bob", &["listen", "--json", "--count", "2"])
        .args(["--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_online(&hub, &dir, "alice", "bob");

    snap!(&dir, "who", shown(&run(&hub, &dir, "alice", &["who"])));
    let who = run(&hub, &dir, "alice", &["who", "--json"]);
    snap!(&dir, "who_json", shown(&who));
    let bob_seen = &json_lines(&who.stdout)[0];
    assert_local_time(
        bob_seen["last_seen"].as_u64().unwrap(),
        bob_seen["last_seen_local"].as_str().unwrap(),
    );

    let said = run(&hub, &dir, "alice", &["say", "--to", "bob", "hello bob"]);
    snap!(&dir, "say", shown(&said));
    let said = run(
        &hub,
        &dir,
        "alice",
        &["say", "--json", "--to", "bob", "second"],
    );
    snap!(&dir, "say_json", shown(&said));

    // Only the messages: how often Alice came and went while she waited for Bob varies.
    let heard = bob.wait_with_output().unwrap();
    let messages: Vec<_> = json_lines(&heard.stdout)
        .into_iter()
        .filter(|l| l["type"] == "message")
        .collect();
    let lines: String = messages.iter().map(|m| format!("{m}\n")).collect();
    snap!(
        &dir,
        "listen_json",
        format!(
            "exit: {:?}\n--- stdout (messages)\n{lines}",
            heard.status.code()
        )
    );
    for m in messages {
        assert_local_time(
            m["time"].as_u64().unwrap(),
            m["time_local"].as_str().unwrap(),
        );
    }

    let history = run(&hub, &dir, "alice", &["history", "bob"]);
    snap!(&dir, "history", shown(&history));
    assert!(
        text(&history.stdout).contains(OFFSET),
        "{}",
        shown(&history)
    );
    let history = run(&hub, &dir, "alice", &["history", "--json", "bob"]);
    snap!(&dir, "history_json", shown(&history));
    for e in json_lines(&history.stdout) {
        assert_local_time(
            e["time"].as_u64().unwrap(),
            e["time_local"].as_str().unwrap(),
        );
    }

    // A refused message: core's sentence for the reason, and its code for scripts.
    let long = "x".repeat(64 * 1024 + 1);
    let said = run(&hub, &dir, "alice", &["say", "--to", "bob", &long]);
    snap!(&dir, "say_rejected", shown(&said));
    let said = run(
        &hub,
        &dir,
        "alice",
        &["say", "--json", "--to", "bob", &long],
    );
    snap!(&dir, "say_rejected_json", shown(&said));
    let history = run(&hub, &dir, "alice", &["history", "bob"]);
    let last = text(&history.stdout).lines().last().unwrap().to_owned();
    snap!(
        &dir,
        "history_rejected",
        last.replace(&long, "[64 KiB and one x]")
    );
}

/// A wrong password, for people and with `--json`: one line on stderr, exit 2.
#[test]
fn wrong_password() {
    let dir = TempDir::new("snapshots-refused");
    let (hub, _) = start_hub(&dir);
    for (name, args) in [
        ("wrong_password", &["who"][..]),
        ("wrong_password_json", &["who", "--json"]),
    ] {
        let out = client(&hub, &dir, "eve", args)
            .env("COURIER_PASSWORD", "guess")
            .output()
            .unwrap();
        snap!(&dir, name, shown(&out));
    }
}

/// `courier doctor`: which steps it takes, in which order, and the shape of its JSON.
/// What each step found depends on the machine, so only the step names and the
/// outcome of the steps loopback decides are kept.
#[test]
fn doctor() {
    let dir = TempDir::new("snapshots-doctor");
    let (hub, _) = start_hub(&dir);
    let human = run(&hub, &dir, "alice", &["doctor"]);
    let steps: String = text(&human.stderr)
        .lines()
        .map(|l| match l.split_once(": ") {
            Some((step, _)) => format!("{step}: [TEXT]\n"),
            None => format!("{l}\n"),
        })
        .collect();
    snap!(
        &dir,
        "doctor",
        format!("exit: {:?}\n--- stderr\n{steps}", human.status.code())
    );

    let out = run(&hub, &dir, "alice", &["doctor", "--json"]);
    let mut report = json_lines(&out.stdout).remove(0);
    for step in report["steps"].as_array_mut().unwrap() {
        step["text"] = "[TEXT]".into();
    }
    report["hub"] = report["hub"].as_str().map(|_| "[HUB]").into();
    report["seconds"] = "[S]".into();
    snap!(
        &dir,
        "doctor_json",
        format!(
            "exit: {:?}\n{}",
            out.status.code(),
            serde_json::to_string_pretty(&report).unwrap()
        )
    );
}

/// Groups for people and for scripts: a change and a refusal, `groups` and `groups
/// --json`, a group's message and membership change in `listen --json`, `history '#ops'`,
/// and an unknown `#name`.
#[test]
fn groups() {
    let dir = TempDir::new("snapshots-groups");
    let (hub, _) = start_hub(&dir);
    for name in ["alice", "bob", "carol"] {
        assert!(run(&hub, &dir, name, &["who"]).status.success());
    }
    let created = run(
        &hub,
        &dir,
        "alice",
        &["group", "create", "ops", "--with", "bob"],
    );
    snap!(&dir, "group_create", shown(&created));
    let refused = run(&hub, &dir, "bob", &["group", "remove", "ops", "alice"]);
    snap!(&dir, "group_refused", shown(&refused));
    snap!(
        &dir,
        "groups",
        shown(&run(&hub, &dir, "alice", &["groups"]))
    );
    snap!(
        &dir,
        "groups_json",
        shown(&run(&hub, &dir, "alice", &["groups", "--json"]))
    );

    let bob = client(&hub, &dir, "bob", &["listen", "--json", "--count", "1"])
        .args(["--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_online(&hub, &dir, "alice", "bob");
    assert!(
        run(&hub, &dir, "alice", &["group", "add", "ops", "carol"])
            .status
            .success()
    );
    let said = run(&hub, &dir, "alice", &["say", "--to", "#ops", "hello team"]);
    assert!(said.status.success(), "{}", shown(&said));
    // Only the group's entries: how often Alice came and went varies.
    let heard = bob.wait_with_output().unwrap();
    let lines: String = json_lines(&heard.stdout)
        .into_iter()
        .filter(|l| l["type"] == "message" || l["type"] == "group_event")
        .map(|l| format!("{l}\n"))
        .collect();
    snap!(&dir, "listen_group_json", lines);

    snap!(
        &dir,
        "history_group",
        shown(&run(&hub, &dir, "bob", &["history", "#ops"]))
    );
    snap!(
        &dir,
        "group_unknown",
        shown(&run(&hub, &dir, "bob", &["say", "--to", "#opz", "hi"]))
    );
}
