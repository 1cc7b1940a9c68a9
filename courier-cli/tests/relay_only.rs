//! The hidden `--relay-only` (for tests and benchmarks): with it on both sides, a transfer
//! between two processes on one machine goes through the hub's relay although the direct
//! way works; without it the same pair goes direct. It is not in `--help`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Command, Stdio};
use std::time::Duration;

use courier_testkit::json::json_lines;
use courier_testkit::{HubProcess, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "relay only password";

fn client(hub: &HubProcess, dir: &TempDir, name: &str, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.env("COURIER_HUB", hub.addr())
        .env("COURIER_HOME", dir.join(name))
        .env("COURIER_NAME", name)
        .env("COURIER_PASSWORD", PW)
        .args(args)
        .stdin(Stdio::null());
    c
}

/// Sends a small file from alice to bob with `extra` on both sides; returns the route.
fn route(hub: &HubProcess, dir: &TempDir, extra: &[&str]) -> String {
    let file = dir.join("note.txt");
    std::fs::write(&file, b"hello").unwrap();
    let mut receive = client(
        hub,
        dir,
        "bob",
        &["receive", "--yes", "--json", "--count", "1"],
    );
    receive
        .arg("--dir")
        .arg(dir.join("downloads"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let receiver = receive.spawn().unwrap();
    // Bob is online once alice sees him.
    let online = || {
        let out = client(hub, dir, "alice", &["who", "--json"])
            .output()
            .unwrap();
        json_lines(&out.stdout)
            .iter()
            .any(|c| c["name"] == "bob" && c["online"] == true)
    };
    courier_testkit::process::wait_for("bob online", Duration::from_secs(30), online);
    let mut send = client(hub, dir, "alice", &["send", "--to", "bob", "--json"]);
    send.args(extra).arg(&file);
    let sent = send.output().unwrap();
    assert_eq!(sent.status.code(), Some(0));
    let got = receiver.wait_with_output().unwrap();
    assert_eq!(got.status.code(), Some(0));
    let received = json_lines(&got.stdout).pop().unwrap();
    assert_eq!(received["status"], "ok", "{received}");
    let result = json_lines(&sent.stdout).pop().unwrap();
    assert_eq!(result["status"], "ok", "{result}");
    result["route"].as_str().unwrap().to_owned()
}

#[test]
fn relay_only_on_both_sides_goes_through_the_hub_and_is_hidden_from_help() {
    let dir = TempDir::new("cli-relay-only");
    let mut hub_cmd = Command::new(BIN);
    hub_cmd.env("COURIER_PASSWORD", PW);
    let hub = HubProcess::spawn(hub_cmd, "127.0.0.1:0", dir.join("hub"), &["--no-advertise"]);
    assert_eq!(route(&hub, &dir, &[]), "direct");
    assert_eq!(route(&hub, &dir, &["--relay-only"]), "relayed");
    let help = Command::new(BIN).args(["send", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--no-relay"), "{help}");
    assert!(!help.contains("relay-only"), "hidden: {help}");
}
