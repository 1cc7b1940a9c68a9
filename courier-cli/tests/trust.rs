//! Safety numbers and verified devices through the real `courier` binary and real hubs on
//! loopback: `courier verify` (the same number on both sides), `--mark` and `--unmark`,
//! the mark in `courier who`, and the refusal to send by name to a device that took a
//! name the user verified (a hub presenting an impostor), to a group holding such a
//! device, and under a name the verified device took later, with its ways out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use courier_testkit::json::{json_lines, text};
use courier_testkit::{HubProcess as Hub, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "trust test password";

fn start_hub(dir: &Path, name: &str) -> Hub {
    let mut cmd = Command::new(BIN);
    cmd.env("COURIER_PASSWORD", PW)
        .env("COURIER_NO_DISCOVERY", "1");
    Hub::spawn(cmd, "127.0.0.1:0", dir.join(name), &[])
}

/// `courier ARGS` on `hub` from the profile folder `home`, going by `name`.
fn courier(hub: &Hub, dir: &Path, home: &str, name: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .env("COURIER_HUB", hub.addr())
        .env("COURIER_HOME", dir.join(home))
        .env("COURIER_NAME", name)
        .env("COURIER_PASSWORD", PW)
        .env("COURIER_NO_DISCOVERY", "1")
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .args(args)
        .output()
        .unwrap()
}

/// [`courier`] that must succeed; its stdout.
fn ok(hub: &Hub, dir: &Path, home: &str, name: &str, args: &[&str]) -> String {
    let out = courier(hub, dir, home, name, args);
    assert!(
        out.status.success(),
        "{home} {args:?}: exit {:?}\n{}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The one JSON object `courier verify --json` prints.
fn verify_json(hub: &Hub, dir: &Path, home: &str, who: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["verify", who, "--json"];
    args.extend_from_slice(extra);
    let mut lines = json_lines(ok(hub, dir, home, home, &args).as_bytes());
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.remove(0)
}

/// `home`'s contact named `name`, as `courier who --json` lists it.
fn contact(hub: &Hub, dir: &Path, home: &str, name: &str) -> serde_json::Value {
    json_lines(ok(hub, dir, home, home, &["who", "--json"]).as_bytes())
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{home} does not know {name}"))
}

/// Proves `courier verify` shows both sides the same 60 digits (3 lines of 4 groups of 5
/// in text, with the line telling the user to compare), that `--mark` records the mark
/// `courier who` then shows (text and JSON), and that `--unmark` removes it.
#[test]
fn verify_shows_one_number_on_both_sides_and_marks_show_in_who() {
    let dir = TempDir::new("trust-verify");
    let hub = start_hub(dir.path(), "hub");
    ok(&hub, dir.path(), "alice", "alice", &["who"]);
    ok(&hub, dir.path(), "bob", "bob", &["who"]);

    let at_alice = verify_json(&hub, dir.path(), "alice", "bob", &[]);
    let at_bob = verify_json(&hub, dir.path(), "bob", "alice", &[]);
    let digits = at_alice["digits"].as_str().unwrap();
    assert_eq!(digits.len(), 60);
    assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(
        at_alice["digits"], at_bob["digits"],
        "both sides see one number"
    );
    assert_eq!(at_alice["qr"], format!("courier-safety:1:{digits}"));
    assert_eq!(at_alice["verified"], false);

    let shown = ok(&hub, dir.path(), "alice", "alice", &["verify", "bob"]);
    let groups: Vec<&str> = shown
        .lines()
        .filter(|l| l.starts_with("    "))
        .map(str::trim)
        .collect();
    assert_eq!(groups.len(), 3, "{shown}");
    assert_eq!(groups.join(" ").replace(' ', ""), digits, "{shown}");
    assert!(groups.iter().all(|l| l.split(' ').count() == 4), "{shown}");
    assert!(shown.contains("Compare it with the number"), "{shown}");
    // The way to mark names the device by its full id, never by a name that may reach
    // another device by the time the user runs it.
    let bob_id = at_alice["id"].as_str().unwrap();
    assert_eq!(bob_id.len(), 64);
    assert!(
        shown.contains(&format!("courier verify {bob_id} --mark")),
        "{shown}"
    );
    assert!(!shown.contains("courier verify bob --mark"), "{shown}");
    assert!(shown.contains("Not verified."), "{shown}");

    let marked = ok(
        &hub,
        dir.path(),
        "alice",
        "alice",
        &["verify", "bob", "--mark"],
    );
    assert!(marked.starts_with("Marked bob ("), "{marked}");
    assert!(
        marked.contains(bob_id),
        "--mark by name says which device: {marked}"
    );
    assert_eq!(contact(&hub, dir.path(), "alice", "bob")["verified"], true);
    let who = ok(&hub, dir.path(), "alice", "alice", &["who"]);
    let bob_line = who.lines().find(|l| l.contains("bob")).unwrap();
    assert!(bob_line.ends_with("[verified]"), "{who}");
    // The mark is this profile's: bob has not verified alice.
    assert_eq!(contact(&hub, dir.path(), "bob", "alice")["verified"], false);

    let unmarked = verify_json(&hub, dir.path(), "alice", "bob", &["--unmark"]);
    assert_eq!(unmarked["verified"], false);
    assert_eq!(contact(&hub, dir.path(), "alice", "bob")["verified"], false);
}

/// Proves the refusal: alice verified bob on one hub; another hub presents a different
/// device named "bob". `say`, `send` and `chat` to "bob" exit non-zero with one line naming
/// both short ids and the way out; by id the new device is still reachable; `verify bob`
/// warns; once alice marks the new device, sending to "bob" works again.
#[test]
fn a_verified_name_on_another_device_is_refused_until_marked() {
    let dir = TempDir::new("trust-refuse");
    let first = start_hub(dir.path(), "first");
    ok(&first, dir.path(), "bob", "bob", &["who"]);
    ok(&first, dir.path(), "alice", "alice", &["who"]);
    let real = contact(&first, dir.path(), "alice", "bob");
    ok(
        &first,
        dir.path(),
        "alice",
        "alice",
        &["verify", "bob", "--mark"],
    );

    let other = start_hub(dir.path(), "other");
    ok(&other, dir.path(), "impostor", "bob", &["who"]);
    let fake = contact(&other, dir.path(), "alice", "bob");
    assert_ne!(real["id"], fake["id"]);
    let (real_short, fake_short) = (
        real["short"].as_str().unwrap(),
        fake["short"].as_str().unwrap(),
    );

    let file = dir.path().join("note.txt");
    std::fs::write(&file, b"hello").unwrap();
    let file = file.to_str().unwrap();
    for args in [
        vec!["say", "--to", "bob", "hello"],
        vec!["send", "--to", "bob", file],
        vec!["chat", "bob"],
    ] {
        let out = courier(&other, dir.path(), "alice", "alice", &args);
        assert!(!out.status.success(), "{args:?} must be refused");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(real_short) && err.contains(fake_short),
            "{args:?}: {err}"
        );
        assert!(err.contains("`courier verify bob`"), "{err}");
        let fake_id = fake["id"].as_str().unwrap();
        assert!(
            err.contains(&format!("`courier verify {fake_id} --mark`")),
            "marking is by the new device's full id: {err}"
        );
    }

    let who = ok(&other, dir.path(), "alice", "alice", &["who"]);
    assert!(
        who.contains(&format!(
            "NOT the device you verified as \"bob\": {real_short}"
        )),
        "{who}"
    );
    let shown = ok(&other, dir.path(), "alice", "alice", &["verify", "bob"]);
    assert!(
        shown.contains("Warning: you verified \"bob\" as another device"),
        "{shown}"
    );

    // By id, the new device is reachable: the user chose it knowingly.
    let out = courier(
        &other,
        dir.path(),
        "alice",
        "alice",
        &["say", "--to", fake["id"].as_str().unwrap(), "by id"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The way out: compare, then mark the new device.
    ok(
        &other,
        dir.path(),
        "alice",
        "alice",
        &["verify", "bob", "--mark"],
    );
    ok(
        &other,
        dir.path(),
        "alice",
        "alice",
        &["say", "--to", "bob", "now trusted"],
    );
}

/// Proves the refusal covers groups: alice verified bob on one hub; on another hub a
/// different device named "bob" is in alice's #ops. `say` and `send` to '#ops' exit
/// non-zero with one line naming the impostor's short id and the command marking it by
/// its full id; once alice marks that device by id, the group is sent to again.
#[test]
fn a_group_holding_a_device_under_a_verified_name_is_refused() {
    let dir = TempDir::new("trust-group");
    let first = start_hub(dir.path(), "first");
    ok(&first, dir.path(), "bob", "bob", &["who"]);
    ok(&first, dir.path(), "alice", "alice", &["who"]);
    let real = contact(&first, dir.path(), "alice", "bob");
    ok(
        &first,
        dir.path(),
        "alice",
        "alice",
        &["verify", "bob", "--mark"],
    );

    let other = start_hub(dir.path(), "other");
    ok(&other, dir.path(), "impostor", "bob", &["who"]);
    ok(&other, dir.path(), "carol", "carol", &["who"]);
    let fake = contact(&other, dir.path(), "alice", "bob");
    let fake_id = fake["id"].as_str().unwrap();
    let with = format!("{fake_id},carol");
    ok(
        &other,
        dir.path(),
        "alice",
        "alice",
        &["group", "create", "ops", "--with", &with],
    );

    let file = dir.path().join("note.txt");
    std::fs::write(&file, b"hello").unwrap();
    let file = file.to_str().unwrap();
    for args in [
        vec!["say", "--to", "#ops", "hello"],
        vec!["send", "--to", "#ops", file],
        vec!["send", "--to", "carol", "--to", "#ops", file],
    ] {
        let out = courier(&other, dir.path(), "alice", "alice", &args);
        assert!(!out.status.success(), "{args:?} must be refused");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("\"bob\""), "{args:?}: {err}");
        assert!(err.contains(fake["short"].as_str().unwrap()), "{err}");
        assert!(err.contains(real["short"].as_str().unwrap()), "{err}");
        assert!(
            err.contains(&format!("`courier verify {fake_id} --mark`")),
            "{err}"
        );
    }

    ok(
        &other,
        dir.path(),
        "alice",
        "alice",
        &["verify", fake_id, "--mark"],
    );
    ok(
        &other,
        dir.path(),
        "alice",
        "alice",
        &["say", "--to", "#ops", "now trusted"],
    );
}

/// Proves a verified name follows its device: alice verified bob's device as "bob";
/// it renames to "robert" (alice sees it so); another hub shows a different device
/// named "robert", and sending to "robert" is refused, as is "bob" still.
#[test]
fn a_verified_device_keeps_its_mark_under_a_new_name() {
    let dir = TempDir::new("trust-rename");
    let first = start_hub(dir.path(), "first");
    ok(&first, dir.path(), "bob", "bob", &["who"]);
    ok(&first, dir.path(), "alice", "alice", &["who"]);
    ok(
        &first,
        dir.path(),
        "alice",
        "alice",
        &["verify", "bob", "--mark"],
    );
    ok(&first, dir.path(), "bob", "robert", &["who"]);
    let real = contact(&first, dir.path(), "alice", "robert");
    assert_eq!(real["verified"], true);

    let other = start_hub(dir.path(), "other");
    ok(&other, dir.path(), "impostor", "robert", &["who"]);
    ok(&other, dir.path(), "impostor2", "bob", &["who"]);
    for who in ["robert", "bob"] {
        let out = courier(
            &other,
            dir.path(),
            "alice",
            "alice",
            &["say", "--to", who, "hi"],
        );
        assert!(!out.status.success(), "sending to {who} must be refused");
        let err = text(&out.stderr);
        assert!(err.contains(real["short"].as_str().unwrap()), "{err}");
    }
}
