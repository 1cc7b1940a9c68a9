//! End-to-end tests of the real `courier` binary: a hub and clients as separate
//! processes on loopback, checking exit codes, stdout data and stderr messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::BufReader;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use courier_testkit::json::{json_lines, text, until_line};
use courier_testkit::tmpfs::Tmpfs;
use courier_testkit::{HubProcess as Hub, TempDir, not_run};

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "cli test password";

/// A test's folder, removed when the test ends (transfer tests write gigabytes).
fn tempdir(tag: &str) -> TempDir {
    TempDir::new(&format!("cli-{tag}"))
}

/// Starts `courier hub --json` and reads its startup line. `password: None` starts it
/// with no password source and no terminal.
fn spawn_hub(data: &Path, listen: &str, password: Option<&str>) -> (Hub, serde_json::Value) {
    spawn_hub_with(data, listen, password, &[])
}

/// [`spawn_hub`] with more `courier hub` options.
fn spawn_hub_with(
    data: &Path,
    listen: &str,
    password: Option<&str>,
    extra: &[&str],
) -> (Hub, serde_json::Value) {
    let mut cmd = Command::new(BIN);
    match password {
        Some(pw) => cmd.env("COURIER_PASSWORD", pw),
        None => cmd.env_remove("COURIER_PASSWORD"),
    };
    let hub = Hub::spawn(cmd, listen, data, extra);
    let info = hub.info().clone();
    (hub, info)
}

fn start_hub(dir: &Path) -> Hub {
    let (hub, info) = spawn_hub(&dir.join("hub"), "127.0.0.1:0", Some(PW));
    assert!(
        info["generated_password"].is_null(),
        "a password was given, none generated"
    );
    hub
}

fn client(hub: &Hub, home: &Path, name: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("COURIER_HUB", hub.addr())
        .env("COURIER_HOME", home.join(name))
        .env("COURIER_NAME", name)
        .env("COURIER_PASSWORD", PW)
        .stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

/// Runs `courier ARGS` as client `name` (its own profile directory) against `hub`.
fn courier(hub: &Hub, dir: &Path, name: &str, args: &[&str]) -> Output {
    let mut c = client(hub, dir, name);
    c.args(args);
    run(c)
}

/// Asks the hub (as `asker`) until `names` are all online; returns the contact list.
fn wait_online(hub: &Hub, dir: &Path, asker: &str, names: &[&str]) -> Vec<serde_json::Value> {
    for _ in 0..50 {
        let out = courier(hub, dir, asker, &["who", "--json"]);
        let contacts: Vec<serde_json::Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let online = |n: &&str| {
            contacts
                .iter()
                .any(|c| c["name"] == **n && c["online"] == true)
        };
        if names.iter().all(online) {
            return contacts;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{names:?} never all showed as online");
}

fn bare(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn help_explains_commands_and_exit_codes() {
    let out = bare(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in [
        "hub",
        "who",
        "say",
        "listen",
        "chat",
        "COURIER_PASSWORD",
        "Exit codes",
    ] {
        assert!(help.contains(word), "help lacks {word}");
    }
    let say = text(&bare(&["say", "--help"]).stdout);
    assert!(say.contains("--to") && say.contains("everyone"));
}

#[test]
fn version_names_the_program_and_the_protocol() {
    let out = bare(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!(
            "courier {} (protocol {})",
            env!("CARGO_PKG_VERSION"),
            courier_core::proto::PROTOCOL_VERSION
        )
    );
}

#[test]
fn bad_arguments_exit_2() {
    let out = bare(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = bare(&["say"]); // --to is required
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--to"));
}

#[test]
fn no_password_source_is_a_clear_error() {
    let dir = tempdir("nopw");
    let hub = start_hub(&dir);
    let out = run({
        let mut c = client(&hub, &dir, "alice");
        c.env_remove("COURIER_PASSWORD").arg("who");
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no password"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn hub_and_two_clients_through_the_binary() {
    let dir = tempdir("e2e");
    let hub = start_hub(&dir);

    // First contact prints the safety code on stderr; who --json lists nobody yet.
    let out = courier(&hub, &dir, "bob", &["who", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(hub.safety_code()));

    // Bob listens for one message.
    let listener = {
        let mut c = client(&hub, &dir, "bob");
        c.args(["listen", "--json", "--count", "1", "--timeout", "20"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    };
    // Wait until Bob is online, as Alice sees it.
    let contacts = wait_online(&hub, &dir, "alice", &["bob"]);
    let bob = contacts.iter().find(|c| c["name"] == "bob").unwrap();
    assert_eq!(bob["id"].as_str().unwrap().len(), 64);
    assert_eq!(bob["presence"], "available");

    let out = courier(
        &hub,
        &dir,
        "alice",
        &["say", "--to", "bob", "--json", "hello from alice"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let receipt: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(receipt["status"], "delivered");

    let out = listener.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let msg = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "message")
        .expect("a message line");
    assert_eq!(msg["text"], "hello from alice");
    assert_eq!(msg["from"]["name"], "alice");
    assert_eq!(msg["from"]["id"].as_str().unwrap().len(), 64);
    assert!(msg["time"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(msg["id"], receipt["id"]);

    // Bob is offline now: a message is stored (exit 0), text from stdin.
    let out = {
        let mut c = client(&hub, &dir, "alice");
        c.args(["say", "--to", "bob"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"for later\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "stored");
    let out = courier(
        &hub,
        &dir,
        "bob",
        &["listen", "--json", "--count", "1", "--timeout", "10"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("for later"));

    // Unknown recipient: error naming it, exit 2.
    let out = courier(&hub, &dir, "alice", &["say", "--to", "zed", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no contact named \"zed\""));

    // Two contacts named "carol": ambiguous, candidates listed.
    for who in ["carol1", "carol2"] {
        let mut c = client(&hub, &dir, who);
        c.env("COURIER_NAME", "carol").arg("who");
        assert!(run(c).status.success());
    }
    let out = courier(&hub, &dir, "alice", &["say", "--to", "carol", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("ambiguous") && err.matches("carol").count() >= 3,
        "{err}"
    );

    // Nothing arrives: listen --count with --timeout exits 1.
    let out = courier(
        &hub,
        &dir,
        "dave",
        &["listen", "--count", "1", "--timeout", "0.5"],
    );
    assert_eq!(out.status.code(), Some(1));

    // Wrong password: exit 2, in words.
    let out = run({
        let mut c = client(&hub, &dir, "eve");
        c.env("COURIER_PASSWORD", "guess").arg("who");
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("wrong password"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn hub_changed_identity_is_refused_with_both_codes() {
    let dir = tempdir("pin");
    let first = start_hub(&dir);
    let addr = first.addr().to_owned();
    assert!(courier(&first, &dir, "alice", &["who"]).status.success());
    let old_code = first.safety_code().to_owned();
    drop(first);
    // A different hub (new identity) on the same address.
    let other = tempdir("pin-other");
    let (second, _) = spawn_hub(&other.join("hub"), &addr, Some(PW));
    let out = courier(&second, &dir, "alice", &["who"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&old_code) && err.contains(second.safety_code()),
        "{err}"
    );
}

#[test]
fn hub_without_password_or_terminal_generates_one_once() {
    let dir = tempdir("gen");
    let (hub, info) = spawn_hub(&dir.join("hub"), "127.0.0.1:0", None);
    let generated = info["generated_password"].as_str().unwrap().to_owned();
    assert_eq!(generated.len(), 23); // 20 characters in groups of five
    let out = run({
        let mut c = client(&hub, &dir, "alice");
        c.env("COURIER_PASSWORD", &generated).arg("who");
        c
    });
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The password itself is not stored anywhere in the hub's directory.
    for entry in std::fs::read_dir(dir.join("hub")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes
                .windows(generated.len())
                .any(|w| w == generated.as_bytes())
        );
    }
}

#[test]
fn reset_password_replaces_the_stored_one() {
    let dir = tempdir("reset");
    let data = dir.join("hub");
    let (first, _) = spawn_hub(&data, "127.0.0.1:0", Some("old password"));
    drop(first);
    // A later start ignores a new password unless told to reset.
    let (hub, _) = spawn_hub(&data, "127.0.0.1:0", Some("new password"));
    // Not remembered, so that each login tests the password.
    let who = |hub: &Hub, pw: &str| {
        let mut c = client(hub, &dir, "alice");
        c.env("COURIER_PASSWORD", pw).args(["who", "--no-remember"]);
        run(c).status.code()
    };
    assert_eq!(who(&hub, "old password"), Some(0));
    assert_eq!(who(&hub, "new password"), Some(2));
    drop(hub);
    let mut cmd = Command::new(BIN);
    cmd.env("COURIER_PASSWORD", "new password");
    let hub = Hub::spawn(cmd, "127.0.0.1:0", &data, &["--reset-password"]);
    assert_eq!(who(&hub, "new password"), Some(0));
    assert_eq!(who(&hub, "old password"), Some(2));
}

// Unix only: Windows has no signal to send another process for Ctrl-C (it is a console
// event, for processes sharing the console).
#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_hub_and_tells_clients() {
    use std::io::BufRead as _;
    let dir = tempdir("sigint");
    let mut hub = start_hub(&dir);
    let mut listener = {
        let mut c = client(&hub, &dir, "bob");
        c.args(["listen", "--timeout", "20"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        c.spawn().unwrap()
    };
    wait_online(&hub, &dir, "alice", &["bob"]);
    // What Ctrl-C in its terminal sends.
    let code = hub.interrupt(Duration::from_secs(60));
    assert!(code.success(), "the hub exits cleanly on Ctrl-C: {code:?}");
    // Bob's listener was told, then tries to reconnect.
    let mut stderr = BufReader::new(listener.stderr.take().unwrap());
    let mut seen = String::new();
    for _ in 0..5 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
        if line.contains("shut down") {
            break;
        }
    }
    let _ = listener.kill();
    let _ = listener.wait();
    assert!(seen.contains("the hub shut down"), "{seen}");
}

#[test]
fn chat_sends_typed_lines_and_switches_recipients() {
    let dir = tempdir("chat");
    let hub = start_hub(&dir);
    // Bob and Carol exist (seen once) and listen.
    let listen = |name: &str| {
        let mut c = client(&hub, &dir, name);
        c.args(["listen", "--json", "--count", "1", "--timeout", "20"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    };
    let bob = listen("bob");
    let carol = listen("carol");
    wait_online(&hub, &dir, "alice", &["bob", "carol"]);
    let mut chat = {
        let mut c = client(&hub, &dir, "alice");
        c.args(["chat", "bob"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    };
    {
        use std::io::Write;
        let mut input = chat.stdin.take().unwrap();
        input
            .write_all(b"hello bob\n/to carol\nhello carol\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        input.write_all(b"/quit\n").unwrap();
    }
    assert!(chat.wait().unwrap().success());
    let bob = text(&bob.wait_with_output().unwrap().stdout);
    let carol = text(&carol.wait_with_output().unwrap().stdout);
    assert!(bob.contains("\"text\":\"hello bob\""), "{bob}");
    assert!(carol.contains("\"text\":\"hello carol\""), "{carol}");
    assert!(!bob.contains("hello carol"));
}

#[test]
fn say_exits_1_when_the_hub_rejects_the_message() {
    let dir = tempdir("reject");
    let hub = start_hub(&dir);
    assert!(courier(&hub, &dir, "bob", &["who"]).status.success());
    let mut c = client(&hub, &dir, "alice");
    c.args(["say", "--to", "bob"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        // Longer than the 64 KiB text limit, shorter than the 512 KiB frame limit.
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&vec![b'x'; 70 * 1024])
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("longer than 64 KiB"),
        "{}",
        text(&out.stderr)
    );
}

/// Starts `courier receive --yes --json` as `name` and waits until it is online.
fn start_receiver(hub: &Hub, dir: &Path, name: &str, extra: &[&str]) -> std::process::Child {
    let mut c = client(hub, dir, name);
    c.args(["receive", "--yes", "--json", "--dir"])
        .arg(dir.join("downloads"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    wait_online(hub, dir, "probe", &[name]);
    child
}

#[test]
fn send_and_receive_files_and_folders_through_the_binary() {
    let dir = tempdir("xfer");
    let hub = start_hub(&dir);
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("photos/2026")).unwrap();
    std::fs::write(src.join("photos/2026/a.jpg"), vec![7u8; 200_000]).unwrap();
    std::fs::write(src.join("photos/b.jpg"), b"bbb").unwrap();
    std::fs::write(src.join("notes.txt"), b"hello bob").unwrap();
    let receiver = start_receiver(&hub, &dir, "bob", &["--count", "1"]);
    let mut send = client(&hub, &dir, "alice");
    send.args(["send", "--to", "bob", "--json"])
        .arg(src.join("photos"))
        .arg(src.join("notes.txt"));
    let sent = run(send);
    assert_eq!(sent.status.code(), Some(0), "{}", text(&sent.stderr));
    let lines = json_lines(&sent.stdout);
    let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"offered"));
    assert!(kinds.contains(&"accepted") && kinds.contains(&"connected"));
    let result = lines.last().unwrap();
    assert_eq!(result["type"], "result");
    assert_eq!(result["status"], "ok");
    assert_eq!(result["route"], "direct");
    assert_eq!(result["files"], 3);
    assert_eq!(result["bytes"], 200_012);

    let got = receiver.wait_with_output().unwrap();
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    let lines = json_lines(&got.stdout);
    let offer = lines.iter().find(|l| l["type"] == "offer").unwrap();
    assert_eq!(offer["from"]["name"], "alice");
    assert_eq!(offer["total"], 200_012);
    assert_eq!(offer["files"].as_array().unwrap().len(), 3);
    let saved: Vec<_> = lines.iter().filter(|l| l["type"] == "saved").collect();
    assert_eq!(saved.len(), 3);
    let dl = dir.join("downloads");
    assert_eq!(
        std::fs::read(dl.join("photos/2026/a.jpg")).unwrap(),
        vec![7u8; 200_000]
    );
    assert_eq!(std::fs::read(dl.join("notes.txt")).unwrap(), b"hello bob");
    assert_eq!(lines.last().unwrap()["status"], "ok");

    // Sending the same name again never overwrites: the second copy is numbered.
    let receiver = start_receiver(&hub, &dir, "bob", &["--count", "1"]);
    let out = courier(
        &hub,
        &dir,
        "alice",
        &[
            "send",
            "--to",
            "bob",
            src.join("notes.txt").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("Sent to bob: 1 file (9 B) direct, verified"),
        "{}",
        text(&out.stdout)
    );
    receiver.wait_with_output().unwrap();
    assert_eq!(
        std::fs::read(dl.join("notes (1).txt")).unwrap(),
        b"hello bob"
    );
}

/// `receive --yes --from '#group'` took offers from everyone (a group is no sender, so
/// nothing was filtered): it is refused before connecting, naming what --from takes.
#[test]
fn receive_from_a_group_is_refused_not_taken_as_everyone() {
    let dir = tempdir("from-group");
    let out = Command::new(BIN)
        .args(["receive", "--yes", "--from", "#ops", "--dir"])
        .arg(dir.join("downloads"))
        .env("COURIER_HUB", "127.0.0.1:9")
        .env("COURIER_HOME", dir.join("bob"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--from takes one contact"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn offers_from_others_than_from_are_declined_and_send_exits_1() {
    let dir = tempdir("decline");
    let hub = start_hub(&dir);
    // Carol is known to the hub (she logged in once) but offline.
    courier(&hub, &dir, "carol", &["who"]);
    let receiver = start_receiver(&hub, &dir, "bob", &["--from", "carol", "--count", "1"]);
    std::fs::write(dir.join("x.txt"), b"x").unwrap();
    let out = courier(
        &hub,
        &dir,
        "alice",
        &["send", "--to", "bob", dir.join("x.txt").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("declined by the receiver"),
        "{}",
        text(&out.stderr)
    );
    drop(receiver);
    // Unknown paths and recipients are usage errors.
    let out = courier(
        &hub,
        &dir,
        "alice",
        &["send", "--to", "bob", "/no/such/file"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does not exist"));
    let out = courier(
        &hub,
        &dir,
        "alice",
        &[
            "send",
            "--to",
            "everyone",
            dir.join("x.txt").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn receive_without_a_terminal_needs_yes() {
    let dir = tempdir("noterm");
    let hub = start_hub(&dir);
    let out = courier(
        &hub,
        &dir,
        "bob",
        &["receive", "--dir", dir.join("d").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pass --yes"),
        "{}",
        text(&out.stderr)
    );
}

/// Peak resident memory of a running process, in KiB.
/// A process's resident memory now (VmRSS), in KiB. Sampled while a transfer runs: its
/// high-water mark (VmHWM) would count the receiver's login before it (the password's
/// 19 MiB Argon2 stretch, freed before any byte moves), not what moving the bytes takes.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Reads JSON lines from a child's stdout until one matches.

#[test]
fn killed_sender_then_resend_resumes_and_memory_stays_flat() {
    let dir = tempdir("kill");
    let hub = start_hub(&dir);
    let big = dir.join("big.iso");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(2 << 30)
        .unwrap(); // 2 GiB, sparse
    let mut receiver = start_receiver(&hub, &dir, "bob", &["--count", "2"]);
    let mut rx = BufReader::new(receiver.stdout.take().unwrap());
    let mut send = client(&hub, &dir, "alice");
    send.args(["send", "--to", "bob", "--json"])
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut sender = send.spawn().unwrap();
    // Once bytes flow, kill the sender outright.
    let p = until_line(&mut rx, |v| {
        v["type"] == "progress" && v["bytes"].as_u64().unwrap() > (64 << 20)
    });
    assert_eq!(p["total"], 2u64 << 30);
    sender.kill().unwrap();
    sender.wait().unwrap();
    let failed = until_line(&mut rx, |v| v["type"] == "result");
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["error"], "connection lost");
    let dl = dir.join("downloads");
    let parts: Vec<_> = std::fs::read_dir(&dl)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert_eq!(parts.len(), 1, "the part is kept for resuming");
    let kept = parts[0].metadata().unwrap().len();
    assert!(kept > 0);

    // Send again: only the rest moves; watch both sides' memory on the way.
    let mut send = client(&hub, &dir, "alice");
    send.args(["send", "--to", "bob", "--json"])
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let sender = send.spawn().unwrap();
    let (spid, rpid) = (sender.id(), receiver.id());
    let watch = std::thread::spawn(move || {
        let mut peak = (0, 0);
        while std::fs::metadata(format!("/proc/{spid}")).is_ok() {
            peak.0 = peak.0.max(rss_kib(spid));
            peak.1 = peak.1.max(rss_kib(rpid));
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    let out = sender.wait_with_output().unwrap();
    let (sender_kib, receiver_kib) = watch.join().unwrap();
    eprintln!("peak RSS while moving: sender {sender_kib} KiB, receiver {receiver_kib} KiB");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let result = json_lines(&out.stdout).pop().unwrap();
    assert_eq!(result["status"], "ok");
    assert_eq!(result["resumed"], kept);
    assert_eq!(
        result["moved"].as_u64().unwrap(),
        (2u64 << 30) - kept,
        "bytes already received are not sent again"
    );
    let done = until_line(&mut rx, |v| v["type"] == "result");
    assert_eq!(done["status"], "ok");
    assert_eq!(
        std::fs::metadata(dl.join("big.iso")).unwrap().len(),
        2 << 30
    );
    assert!(
        sender_kib < 40 * 1024 && receiver_kib < 40 * 1024,
        "peak RSS sender {sender_kib} KiB, receiver {receiver_kib} KiB"
    );
    assert!(sender_kib > 0 && receiver_kib > 0);
    let _ = receiver.wait();
}

/// SECURITY X3 on a real file system: the receiver's tmpfs fills up mid-transfer. Needs
/// root (to mount a tmpfs), as CI has; without it the test says it did not run.
#[test]
fn receiver_disk_full_mid_transfer_is_reported_and_the_next_transfer_works() {
    let dir = tempdir("full");
    let mnt = dir.join("downloads");
    std::fs::create_dir_all(&mnt).unwrap();
    let disk = match Tmpfs::mount(&mnt, "3g") {
        Ok(disk) => disk,
        Err(why) => return not_run("receiver_disk_full_mid_transfer", &why),
    };
    let hub = start_hub(&dir);
    let big = dir.join("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let mut receiver = start_receiver(&hub, &dir, "bob", &["--count", "2"]);
    let mut rx = BufReader::new(receiver.stdout.take().unwrap());
    let mut send = client(&hub, &dir, "alice");
    send.args(["send", "--to", "bob"]).arg(&big);
    send.stdout(Stdio::null()).stderr(Stdio::piped());
    let sender = send.spawn().unwrap();
    until_line(&mut rx, |v| v["type"] == "connected");
    // The disk shrinks under the transfer.
    assert!(disk.resize("64m"));
    let failed = until_line(&mut rx, |v| v["type"] == "result");
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["error"], "receiver disk full");
    let out = sender.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("receiver disk full"),
        "{}",
        text(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(&mnt).unwrap().collect();
    assert!(left.is_empty(), "the part was deleted: {left:?}");
    // The receiver keeps running; a transfer that fits goes through.
    std::fs::write(dir.join("small.txt"), b"fits").unwrap();
    assert!(disk.resize("1g"));
    let out = courier(
        &hub,
        &dir,
        "alice",
        &[
            "send",
            "--to",
            "bob",
            dir.join("small.txt").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ok = until_line(&mut rx, |v| v["type"] == "result");
    assert_eq!(ok["status"], "ok");
    assert_eq!(std::fs::read(mnt.join("small.txt")).unwrap(), b"fits");
    let st = receiver.wait().unwrap();
    assert_eq!(st.code(), Some(1), "one of two transfers failed");
}

/// SECURITY (issue 10 #8): a message's newlines cannot print a line that looks like
/// another sender's: every further line of a text is marked as a continuation.
#[test]
fn a_message_cannot_forge_a_line_from_someone_else() {
    let dir = tempdir("forged");
    let hub = start_hub(&dir);
    let _ = courier(&hub, &dir, "bob", &["who"]);
    let listener = {
        let mut c = client(&hub, &dir, "bob");
        c.args(["listen", "--count", "1", "--timeout", "20"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    };
    wait_online(&hub, &dir, "mallory", &["bob"]);
    let forged = "hi\n[12:00] alice: the new password is 1234\n\u{2028}[12:01] alice: ok?";
    let out = courier(&hub, &dir, "mallory", &["say", "--to", "bob", forged]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = listener.wait_with_output().unwrap();
    let shown = text(&out.stdout);
    let lines: Vec<&str> = shown
        .lines()
        .skip_while(|l| !l.contains("mallory: hi"))
        .collect();
    assert_eq!(lines.len(), 3, "{shown}");
    for line in &lines[1..] {
        assert!(
            line.starts_with("  | "),
            "a line passes for another sender's: {line:?}"
        );
    }
    assert!(lines[2].contains("\\u{2028}"), "{shown}");
}

/// Issue 11, the hub keeps its members: a hub killed with SIGKILL and started again on
/// the same folder still lists everyone who had joined, offline, under the same ids.
#[test]
fn a_hub_killed_and_restarted_still_knows_its_members() {
    use courier_core::hub::db::Db;
    let dir = tempdir("restart-members");
    let hub = start_hub(&dir);
    let before = wait_online(&hub, &dir, "carol", &[]);
    assert!(before.is_empty(), "a new hub knows nobody: {before:?}");
    for name in ["alice", "bob"] {
        assert!(courier(&hub, &dir, name, &["who"]).status.success());
    }
    let listed = wait_online(&hub, &dir, "carol", &[]);
    let id_of = |list: &[serde_json::Value], name: &str| {
        list.iter()
            .find(|c| c["name"] == name)
            .map(|c| c["id"].as_str().unwrap().to_owned())
    };
    let (alice, bob) = (
        id_of(&listed, "alice").unwrap(),
        id_of(&listed, "bob").unwrap(),
    );
    // Written by the hub's own thread shortly after each change: wait until it is on
    // the disk (read through a second connection, as a backup tool would).
    let db = Db::open(&dir.join("hub").join("hub.db")).unwrap();
    for _ in 0..100 {
        if db.member_count().unwrap() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        db.member_count().unwrap(),
        3,
        "alice, bob and carol are kept"
    );
    drop(db);
    drop(hub); // SIGKILL: no goodbye, no last write.

    let hub = start_hub(&dir);
    let out = courier(&hub, &dir, "dave", &["who", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = json_lines(&out.stdout);
    assert_eq!(id_of(&after, "alice"), Some(alice), "{after:?}");
    assert_eq!(id_of(&after, "bob"), Some(bob), "{after:?}");
    for c in &after {
        assert_eq!(c["online"], false, "nobody is online yet: {c}");
        assert!(c["last_seen"].as_u64().unwrap() > 0, "{c}");
    }
}

/// A hub database the hub cannot use stops it before it announces anything, with one
/// line naming the file, and the file is left as it was.
#[test]
fn a_hub_whose_database_is_damaged_says_so_and_leaves_it_alone() {
    let dir = tempdir("bad-db");
    let data = dir.join("hub");
    // A first start sets the folder up (identity, password record, database).
    drop(start_hub(&dir));
    let file = data.join("hub.db");
    let _ = std::fs::remove_file(data.join("hub.db-wal"));
    let _ = std::fs::remove_file(data.join("hub.db-shm"));
    let garbage = b"this is not a database, it is a note\n".repeat(100);
    std::fs::write(&file, &garbage).unwrap();
    let out = Command::new(BIN)
        .args(["hub", "--json", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("COURIER_PASSWORD", PW)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "nothing announced: {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one line: {err}");
    assert!(
        errors[0].contains(&file.display().to_string())
            && errors[0].contains("damaged or not a database"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), garbage, "left as it was");
}

/// `courier hub members|forget` on the hub's folder.
fn hub_admin(data: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.arg("hub").args(args).arg("--data-dir").arg(data);
    c.stdin(Stdio::null());
    run(c)
}

/// The members as `courier hub members --json` lists them.
fn members(data: &Path) -> Vec<serde_json::Value> {
    let out = hub_admin(data, &["members", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    json_lines(&out.stdout)
}

fn member<'a>(list: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    list.iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not a member: {list:?}"))
}

/// Issue 11, remembered devices: after one login with the password, the CLI gets in
/// with none; the owner lists and forgets the device (it is disconnected while online,
/// and then refused without the password, with a sentence that says why); a wrong
/// password never makes anyone a member.
#[test]
fn a_remembered_device_needs_no_password_until_the_owner_forgets_it() {
    let dir = tempdir("remembered");
    let data = dir.join("hub");
    let hub = start_hub(&dir);
    let no_password = |name: &str| {
        let mut c = client(&hub, &dir, name);
        c.env_remove("COURIER_PASSWORD");
        c
    };
    // First time: the password (from COURIER_PASSWORD); the device is remembered.
    assert!(courier(&hub, &dir, "alice", &["who"]).status.success());
    // Then: no password anywhere, no terminal to ask on.
    let mut who = no_password("alice");
    who.arg("who");
    let out = run(who);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A stranger with a wrong password gets nowhere, and is not remembered.
    let mut stranger = client(&hub, &dir, "mallory");
    stranger.env("COURIER_PASSWORD", "a guess").arg("who");
    assert_eq!(run(stranger).status.code(), Some(2));

    let list = members(&data);
    let alice = member(&list, "alice");
    assert!(alice["remembered_since"].as_u64().is_some(), "{alice}");
    assert!(alice["first_seen"].as_u64().is_some(), "{alice}");
    assert!(alice["logins"].as_u64().unwrap() >= 2, "{alice}");
    assert!(list.iter().all(|m| m["name"] != "mallory"), "{list:?}");
    let human = hub_admin(&data, &["members"]);
    assert!(
        text(&human.stdout).contains("remembered since"),
        "{}",
        text(&human.stdout)
    );

    // Alice listens, logged in by her device alone.
    let mut listening = {
        let mut c = no_password("alice");
        c.args(["listen", "--timeout", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    wait_online(&hub, &dir, "carol", &["alice"]);

    // The owner forgets her device while she is online: the running hub picks it up.
    let out = hub_admin(&data, &["forget", "alice"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("forgot "),
        "{}",
        text(&out.stdout)
    );
    let started = std::time::Instant::now();
    let deadline = started + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = listening.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "alice is still connected"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "forgotten device disconnected after {:?}",
        started.elapsed()
    );
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut listening.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("this hub no longer remembers this device: enter the password"),
        "{err}"
    );
    assert!(member(&members(&data), "alice")["remembered_since"].is_null());

    // Without the password she is refused, and told what to do.
    let mut who = no_password("alice");
    who.arg("who");
    let out = run(who);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("no longer remembers this device"), "{err}");
    assert!(err.contains("COURIER_PASSWORD"), "{err}");
    // With it she is in, and remembered again.
    assert!(courier(&hub, &dir, "alice", &["who"]).status.success());
    assert!(member(&members(&data), "alice")["remembered_since"].is_u64());

    // Forgetting someone unknown, or a name two members share, says so.
    let out = hub_admin(&data, &["forget", "nobody-at-all"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no member"),
        "{}",
        text(&out.stderr)
    );
}

/// `courier hub --reset-password` forgets every remembered device, unless
/// `--keep-members`.
#[test]
fn a_new_hub_password_forgets_remembered_devices_unless_kept() {
    let dir = tempdir("reset-forgets");
    let data = dir.join("hub");
    let restart = |extra: &[&str]| spawn_hub_with(&data, "127.0.0.1:0", Some(PW), extra).0;
    let remembered = || {
        members(&data)
            .iter()
            .any(|m| m["name"] == "alice" && m["remembered_since"].is_u64())
    };
    let hub = restart(&[]);
    assert!(courier(&hub, &dir, "alice", &["who"]).status.success());
    // The hub's own thread writes it just after the login: wait for it on the disk.
    for _ in 0..100 {
        if remembered() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(remembered());
    drop(hub);

    drop(restart(&["--reset-password", "--keep-members"]));
    assert!(remembered(), "--keep-members keeps her device");
    drop(restart(&["--reset-password"]));
    assert!(!remembered(), "a new password forgets her device");
}

/// Issue 11 on a real file system: the hub's disk (a small tmpfs) fills up. A message for
/// an offline contact is then refused as "not kept" (never a false `stored`), messages
/// between online people still go through, and once there is room again messages are
/// kept as before. Needs root (to mount a tmpfs), as CI has; without it the test says it
/// did not run.
#[test]
fn a_full_hub_disk_refuses_to_keep_messages_and_routing_goes_on() {
    let dir = tempdir("hub-full");
    let mnt = dir.join("hubdisk");
    std::fs::create_dir_all(&mnt).unwrap();
    let _disk = match Tmpfs::mount(&mnt, "8m") {
        Ok(disk) => disk,
        Err(why) => return not_run("a_full_hub_disk_refuses_to_keep_messages", &why),
    };
    let (hub, _) = spawn_hub(&mnt.join("hub"), "127.0.0.1:0", Some(PW));
    for name in ["alice", "bob", "carol"] {
        assert!(courier(&hub, &dir, name, &["who"]).status.success());
    }
    let say = |to: &str, message: &str| {
        let out = courier(&hub, &dir, "alice", &["say", "--to", to, "--json", message]);
        let receipt = json_lines(&out.stdout)
            .into_iter()
            .find(|v| v["type"] == "receipt")
            .unwrap_or_else(|| panic!("no receipt: {}", text(&out.stderr)));
        (out.status.code(), receipt)
    };
    let (code, receipt) = say("bob", "kept while there is room");
    assert_eq!(
        (code, receipt["status"].as_str()),
        (Some(0), Some("stored"))
    );

    // Fill the disk, then leave almost nothing.
    let filler = mnt.join("filler");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.flush();
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(16 * 1024)).unwrap();
    }
    let big = "x".repeat(60 * 1024);
    let mut refused = None;
    for _ in 0..20 {
        let (code, receipt) = say("bob", &big);
        if receipt["status"] == "rejected" {
            refused = Some((code, receipt));
            break;
        }
        assert_eq!(receipt["status"], "stored", "{receipt}");
    }
    let (code, receipt) = refused.expect("a full disk refuses to keep more");
    assert_eq!(code, Some(1));
    assert_eq!(receipt["reason"], "not_kept", "{receipt}");

    // Online people still talk: Carol listens, Alice writes to her.
    let listener = {
        let mut c = client(&hub, &dir, "carol");
        c.args(["listen", "--json", "--count", "1", "--timeout", "20"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    };
    wait_online(&hub, &dir, "probe", &["carol"]);
    let (code, receipt) = say("carol", "the disk is full but we are both here");
    assert_eq!(
        (code, receipt["status"].as_str()),
        (Some(0), Some("delivered"))
    );
    let out = listener.wait_with_output().unwrap();
    assert!(text(&out.stdout).contains("the disk is full but we are both here"));

    // Room again: kept again.
    std::fs::remove_file(&filler).unwrap();
    let (code, receipt) = say("bob", "kept again");
    assert_eq!(
        (code, receipt["status"].as_str()),
        (Some(0), Some("stored"))
    );
}

/// Issue 11, history on every client: what `say` sent and `listen` received is kept in
/// the profile folder with what became of it, and `courier history` shows and searches
/// it with no connection (the hub is stopped first).
#[test]
fn history_keeps_what_was_said_and_searches_it_offline() {
    let dir = tempdir("history");
    let hub = start_hub(&dir);
    assert!(courier(&hub, &dir, "bob", &["who"]).status.success());
    let listener = {
        let mut c = client(&hub, &dir, "bob");
        c.args(["listen", "--json", "--count", "2", "--timeout", "20"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    };
    wait_online(&hub, &dir, "alice", &["bob"]);
    for message in ["Rendez-vous au Café à midi", "bring the slides"] {
        let out = courier(&hub, &dir, "alice", &["say", "--to", "bob", message]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert!(listener.wait_with_output().unwrap().status.success());
    // A file, too: both sides keep its card with how it ended.
    std::fs::write(dir.join("agenda.txt"), b"1. slides").unwrap();
    let receiver = start_receiver(&hub, &dir, "bob", &["--count", "1"]);
    let sent = courier(
        &hub,
        &dir,
        "alice",
        &[
            "send",
            "--to",
            "bob",
            dir.join("agenda.txt").to_str().unwrap(),
        ],
    );
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    assert!(receiver.wait_with_output().unwrap().status.success());
    let hub_addr = hub.addr().to_owned();
    drop(hub); // offline from here on

    let history = |name: &str, args: &[&str]| {
        let mut c = Command::new(BIN);
        c.arg("history")
            .args(args)
            .env("COURIER_HUB", "127.0.0.1:1") // not the hub's address: no pin there
            .env("COURIER_HOME", dir.join(name));
        run(c)
    };
    // The history is per hub: found by the hub's address (its pin).
    let out = history("alice", &["--json"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no history with the hub"),
        "{}",
        text(&out.stderr)
    );

    let history = |name: &str, args: &[&str]| {
        let mut c = Command::new(BIN);
        c.arg("history")
            .args(args)
            .env("COURIER_HUB", &hub_addr)
            .env("COURIER_HOME", dir.join(name));
        run(c)
    };
    let out = history("alice", &["bob", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    let files: Vec<_> = lines.iter().filter(|v| v["type"] == "files").collect();
    assert_eq!(files.len(), 1, "{lines:?}");
    assert_eq!(files[0]["outgoing"], true);
    assert_eq!(files[0]["files"][0]["name"], "agenda.txt");
    assert_eq!(files[0]["files"][0]["size"], 9);
    assert!(
        files[0]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("Sent to bob"),
        "{files:?}"
    );
    assert_eq!(
        lines.last().unwrap()["type"],
        "files",
        "in time order: the file went after the messages"
    );
    let sent: Vec<_> = lines
        .into_iter()
        .filter(|v| v["type"] == "message")
        .collect();
    let texts: Vec<&str> = sent.iter().map(|v| v["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        vec!["Rendez-vous au Café à midi", "bring the slides"]
    );
    assert!(
        sent.iter()
            .all(|v| v["outgoing"] == true && v["state"] == "delivered"),
        "{sent:?}"
    );

    let out = history("bob", &["--search", "cafe", "--json"]);
    let found = json_lines(&out.stdout);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["text"], "Rendez-vous au Café à midi");
    assert_eq!(found[0]["from"]["name"], "alice");
    assert_eq!(found[0]["outgoing"], false);
    let human = text(&history("bob", &["alice"]).stdout);
    assert!(human.contains("alice → you: bring the slides"), "{human}");
    assert!(
        human.contains("alice → you: [files] agenda.txt (9 B) — Received from alice")
            && human.contains("saved in"),
        "{human}"
    );
}

/// Issue 22 item 3: a message stored for an offline contact shows `stored` in the
/// sender's history until the contact comes and takes it; the sender is told at its next
/// login (here after a hub restart: what it is owed is kept on the hub's disk), and
/// `courier history` then shows `delivered`.
#[test]
fn a_stored_message_becomes_delivered_in_the_sender_s_history_once_taken() {
    let dir = tempdir("delivered-later");
    let hub = start_hub(&dir);
    assert!(courier(&hub, &dir, "bob", &["who"]).status.success());
    let out = courier(
        &hub,
        &dir,
        "alice",
        &["say", "--to", "bob", "see you later"],
    );
    assert_eq!(text(&out.stdout).trim(), "stored", "{}", text(&out.stderr));
    let state = |hub: &Hub| {
        let out = courier(hub, &dir, "alice", &["history", "bob", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let lines = json_lines(&out.stdout);
        let sent = lines.iter().rev().find(|v| v["type"] == "message");
        sent.map(|v| v["state"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(state(&hub).as_deref(), Some("stored"));
    // Bob comes and takes it while Alice is away.
    let out = courier(&hub, &dir, "bob", &["listen", "--timeout", "3"]);
    assert!(
        text(&out.stdout).contains("see you later"),
        "{}",
        text(&out.stderr)
    );
    drop(hub);
    let hub = start_hub(&dir);
    let out = courier(&hub, &dir, "alice", &["listen", "--json", "--timeout", "3"]);
    let receipts: Vec<_> = json_lines(&out.stdout)
        .into_iter()
        .filter(|v| v["type"] == "receipt")
        .collect();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(receipts[0]["status"], "delivered");
    assert_eq!(state(&hub).as_deref(), Some("delivered"));
}

/// `courier doctor --bind` asks the hub to connect back to that port: here one a
/// receiver already listens on (doctor cannot take it, and asks about it as it is), so
/// the hub's connection arrives at that listener.
#[test]
fn doctor_with_bind_asks_the_hub_about_that_port() {
    let dir = tempdir("doctor-bind");
    let hub = start_hub(&dir);
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let mut c = client(&hub, &dir, "ada");
    c.args(["doctor", "--json", "--bind", &format!("127.0.0.1:{port}")])
        .env("COURIER_NO_DISCOVERY", "1");
    let out = run(c);
    let report = json_lines(&out.stdout).remove(0);
    assert_eq!(report["problems"], 0, "{report}");
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["step"] != "discovery"),
        "no mDNS asked for: {report}"
    );
    let steps = report["steps"].as_array().unwrap();
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {report}"))
    };
    assert_eq!(step("login")["ok"], true, "{report}");
    assert_eq!(
        step("seen")["text"],
        "the hub sees this computer at 127.0.0.1"
    );
    let reach = step("reachback");
    assert_eq!(reach["ok"], true, "{report}");
    assert!(
        reach["text"]
            .as_str()
            .unwrap()
            .contains(&format!("TCP port {port}")),
        "{reach}"
    );
    receiver.set_nonblocking(true).unwrap();
    let accepted = receiver.accept().map(|(_, from)| from.ip());
    assert_eq!(
        accepted.ok(),
        Some(std::net::Ipv4Addr::LOCALHOST.into()),
        "the hub's connection is waiting at the receiver's port"
    );
}

/// `doctor --peer` tests the link to a contact whose `courier receive` answers by itself:
/// direct and relayed both work on loopback, each with a round trip and a speed, and the
/// contact is shown no offer and gets no file. A name that is no contact is a problem, named.
#[test]
fn doctor_peer_tests_the_link_both_ways_and_the_contact_answers_by_itself() {
    let dir = tempdir("doctor-peer");
    let hub = start_hub(&dir);
    let listener = {
        let mut c = client(&hub, &dir, "bob");
        c.args(["receive", "--json", "--yes", "--dir"])
            .arg(dir.join("bob-downloads"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    };
    wait_online(&hub, &dir, "ada", &["bob"]);
    let mut c = client(&hub, &dir, "ada");
    c.args(["doctor", "--json", "--peer", "bob", "--bind", "127.0.0.1:0"])
        .env("COURIER_NO_DISCOVERY", "1");
    let out = run(c);
    let report = json_lines(&out.stdout).remove(0);
    assert_eq!(report["problems"], 0, "{report}");
    let steps = report["steps"].as_array().unwrap();
    for (name, how) in [
        ("direct", "direct to bob works"),
        ("relayed", "relayed through the hub to bob works"),
    ] {
        let step = steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {report}"));
        let text = step["text"].as_str().unwrap();
        assert_eq!(step["ok"], true, "{report}");
        assert!(text.starts_with(how), "{text}");
        assert!(
            text.contains("round trip") && text.contains("/s over"),
            "{text}"
        );
    }

    // A name that is nobody's: one problem, named, and no test run.
    let mut c = client(&hub, &dir, "ada");
    c.args(["doctor", "--json", "--peer", "zelda"])
        .env("COURIER_NO_DISCOVERY", "1");
    let out = run(c);
    assert_eq!(out.status.code(), Some(1));
    let report = json_lines(&out.stdout).remove(0);
    assert_eq!(report["problems"], 1, "{report}");
    let steps = report["steps"].as_array().unwrap();
    let peer = steps.iter().find(|s| s["step"] == "peer").unwrap();
    assert!(peer["text"].as_str().unwrap().contains("zelda"), "{peer}");
    assert!(steps.iter().all(|s| s["step"] != "direct"), "{report}");

    let mut listener = listener;
    let _ = listener.kill();
    let out = listener.wait_with_output().unwrap();
    let shown: Vec<serde_json::Value> = json_lines(&out.stdout);
    assert!(
        shown.iter().all(|l| l["type"] != "offer"),
        "bob's receive showed a link test as an offer: {shown:?}"
    );
    let saved = std::fs::read_dir(dir.join("bob-downloads")).map_or(0, |d| d.count());
    assert_eq!(saved, 0, "a link test wrote to the download folder");
}

/// Hardening N8 and N9: a member named like the start of Bob's id does not receive
/// `courier say --to <that text>`: an id wins over a name, in `say` as in `hub forget`
/// (one rule). A name that reads as an id (Bob's short id) is refused outright, and an
/// ambiguous `hub forget` is one line naming the candidates.
#[test]
fn an_id_wins_over_a_name_that_looks_like_it() {
    let dir = tempdir("id-wins");
    let data = dir.join("hub");
    let hub = start_hub(&dir);
    assert!(courier(&hub, &dir, "bob", &["who"]).status.success());
    let out = courier(&hub, &dir, "alice", &["who", "--json"]);
    let contacts = json_lines(&out.stdout);
    let bob = contacts.iter().find(|c| c["name"] == "bob").unwrap();
    let bob_id = bob["id"].as_str().unwrap().to_owned();
    let bob_short = bob["short"].as_str().unwrap().to_owned();
    let prefix = &bob_id[..6];

    // Named like Bob's short id: refused, with the reason.
    let mut c = client(&hub, &dir, "mallory");
    c.env("COURIER_NAME", &bob_short).arg("who");
    let out = run(c);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("could be taken for an id"),
        "{}",
        text(&out.stderr)
    );
    // Named like the start of his id (too short to refuse): a member, but messages to
    // that text never reach it: the short prefix is ambiguous (it is a name too), his
    // short id goes to Bob.
    let mut c = client(&hub, &dir, "mallory");
    c.env("COURIER_NAME", prefix).arg("who");
    let out = run(c);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = courier(&hub, &dir, "alice", &["say", "--to", prefix, "for bob"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("ambiguous"),
        "{}",
        text(&out.stderr)
    );
    for to in [bob_short.as_str(), &bob_id[..8]] {
        let out = courier(&hub, &dir, "alice", &["say", "--to", to, "for bob"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), "stored");
    }
    let mallory = {
        let mut c = client(&hub, &dir, "mallory");
        c.env("COURIER_NAME", prefix)
            .args(["listen", "--json", "--count", "1", "--timeout", "1"]);
        run(c)
    };
    assert_eq!(
        mallory.status.code(),
        Some(1),
        "the impostor got: {}",
        text(&mallory.stdout)
    );
    let out = courier(
        &hub,
        &dir,
        "bob",
        &["listen", "--json", "--count", "2", "--timeout", "10"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let got = json_lines(&out.stdout);
    assert!(got.iter().all(|m| m["text"] == "for bob"), "{got:?}");

    // The owner forgets "<prefix>": ambiguous by the same rule, nobody forgotten; eight
    // digits of his id: Bob.
    let out = hub_admin(&data, &["forget", prefix]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("ambiguous"),
        "{}",
        text(&out.stderr)
    );
    let out = hub_admin(&data, &["forget", &bob_id[..8]]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!("forgot {bob_short} (bob)")),
        "{}",
        text(&out.stdout)
    );
    // Two members named "carol": one line naming both, nobody forgotten.
    for who in ["carol1", "carol2"] {
        let mut c = client(&hub, &dir, who);
        c.env("COURIER_NAME", "carol").arg("who");
        assert!(run(c).status.success());
    }
    // The hub writes a new member down just after its login: wait for both.
    for _ in 0..50 {
        if members(&data)
            .iter()
            .filter(|m| m["name"] == "carol")
            .count()
            == 2
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = hub_admin(&data, &["forget", "carol"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("ambiguous") && err.matches("carol").count() >= 3,
        "{err}"
    );
}

/// A contact whose `courier listen --no-link-tests` turned link tests off declines
/// them, and `doctor --peer` says so (one problem, no relayed attempt after it).
#[test]
fn doctor_peer_names_a_contact_that_does_not_answer_connection_checks() {
    let dir = tempdir("doctor-peer-off");
    let hub = start_hub(&dir);
    let listener = {
        let mut c = client(&hub, &dir, "bob");
        c.args(["listen", "--json", "--no-link-tests"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    };
    wait_online(&hub, &dir, "ada", &["bob"]);
    let mut c = client(&hub, &dir, "ada");
    c.args(["doctor", "--json", "--peer", "bob", "--bind", "127.0.0.1:0"])
        .env("COURIER_NO_DISCOVERY", "1");
    let out = run(c);
    let mut listener = listener;
    let _ = listener.kill();
    let _ = listener.wait();
    assert_eq!(out.status.code(), Some(1));
    let report = json_lines(&out.stdout).remove(0);
    assert_eq!(report["problems"], 1, "{report}");
    let steps = report["steps"].as_array().unwrap();
    let direct = steps.iter().find(|s| s["step"] == "direct").unwrap();
    assert_eq!(direct["ok"], false, "{report}");
    assert!(
        direct["text"]
            .as_str()
            .unwrap()
            .starts_with("bob does not answer link tests"),
        "{direct}"
    );
    assert!(steps.iter().all(|s| s["step"] != "relayed"), "{report}");
}

/// Hardening round 2, N13: `forget` was not a ban, and nothing removed what a member
/// left. The owner lists what each sender left, drops one sender's messages (the
/// others' are still delivered), and bans a member while the hub runs: it is
/// disconnected with the reason, refused even with the password, and what it left is
/// gone; unbanned, it may come back with the password.
#[test]
fn a_banned_member_is_cut_off_and_what_a_sender_left_can_be_dropped() {
    let dir = tempdir("ban");
    let data = dir.join("hub");
    let hub = start_hub(&dir);
    // Bob joins once and goes away; the others leave messages for him.
    for who in ["bob", "mallory", "carol", "alice"] {
        let out = courier(&hub, &dir, who, &["who"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    for (who, message) in [
        ("mallory", "spam one"),
        ("mallory", "spam two"),
        ("carol", "from carol"),
        ("alice", "hello bob"),
    ] {
        let out = courier(&hub, &dir, who, &["say", "--to", "bob", message]);
        assert_eq!(text(&out.stdout).trim(), "stored", "{}", text(&out.stderr));
    }

    // What each sender left, read beside the running hub.
    let out = hub_admin(&data, &["stored", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stored = json_lines(&out.stdout);
    let of =
        |list: &[serde_json::Value], name: &str| list.iter().find(|s| s["name"] == name).cloned();
    let mallory = of(&stored, "mallory").expect("mallory left messages");
    assert_eq!(
        (
            &mallory["messages"],
            &mallory["recipients"],
            &mallory["offers"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(0)
        ),
        "{mallory}"
    );
    assert_eq!(mallory["short"].as_str().unwrap().len(), 16);

    // Dropping Carol's goes through the running hub.
    let out = hub_admin(&data, &["drop", "--from", "carol"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("dropped 1 message(s) and 0 stored offer(s) from carol"),
        "{}",
        text(&out.stdout)
    );

    // Mallory listens; the owner bans her: disconnected, with the reason, for good.
    let mut listening = {
        let mut c = client(&hub, &dir, "mallory");
        c.args(["listen", "--timeout", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    wait_online(&hub, &dir, "alice", &["mallory"]);
    let out = hub_admin(&data, &["ban", "mallory"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.starts_with("banned "), "{said}");
    assert!(said.contains("the running hub disconnected it"), "{said}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = listening.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "mallory is still connected (or retrying)"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut listening.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("this device is banned from the hub"), "{err}");

    // With the password: refused, said in one line, no retrying.
    let started = std::time::Instant::now();
    let out = courier(&hub, &dir, "mallory", &["who"]);
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = text(&out.stderr);
    assert!(err.contains("this device is banned from the hub"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = hub_admin(&data, &["bans", "--json"]);
    let bans = json_lines(&out.stdout);
    assert_eq!(bans.len(), 1, "{bans:?}");
    assert_eq!(bans[0]["name"], "mallory");
    assert!(member(&members(&data), "mallory")["banned_since"].is_u64());
    let stored = json_lines(&hub_admin(&data, &["stored", "--json"]).stdout);
    assert!(of(&stored, "mallory").is_none(), "{stored:?}");
    assert!(of(&stored, "carol").is_none(), "{stored:?}");

    // Bob gets only Alice's message.
    let out = courier(
        &hub,
        &dir,
        "bob",
        &["listen", "--json", "--count", "2", "--timeout", "3"],
    );
    let got = text(&out.stdout);
    assert!(got.contains("hello bob"), "{got}");
    assert!(
        !got.contains("spam") && !got.contains("from carol"),
        "{got}"
    );

    // Unbanned, she comes back with the password.
    let out = hub_admin(&data, &["unban", "mallory"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_secs(2));
    let out = courier(&hub, &dir, "mallory", &["who"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// `courier ARGS` as `name`'s profile directory, given no name (`--name`, COURIER_NAME):
/// the user name it would default to is `user`.
fn courier_unnamed(hub: &Hub, dir: &Path, name: &str, user: &str, args: &[&str]) -> Output {
    let mut c = client(hub, dir, name);
    c.env_remove("COURIER_NAME")
        .env("COURIER_NO_DISCOVERY", "1")
        .env("USER", user)
        .env("USERNAME", user)
        .args(args);
    run(c)
}

/// Issue 22: a one-shot command changes nothing it should only read. Given no name, it
/// keeps the name the hub knows; `who`, `say` and `send` leave the stored messages for
/// the next `listen`.
#[test]
fn one_shot_commands_keep_the_name_and_leave_the_mailbox() {
    let dir = tempdir("one-shot");
    let hub = start_hub(&dir);
    let out = courier(&hub, &dir, "bob", &["who"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = courier(
        &hub,
        &dir,
        "alice",
        &["say", "--to", "bob", "while you were out"],
    );
    assert_eq!(text(&out.stdout).trim(), "stored", "{}", text(&out.stderr));

    for args in [&["who"][..], &["say", "--to", "alice", "back soon"]] {
        let out = courier_unnamed(&hub, &dir, "bob", "someone-else", args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    // A check logs in too (whatever it finds): it changes nothing either.
    courier_unnamed(&hub, &dir, "bob", "someone-else", &["doctor"]);
    let out = courier(&hub, &dir, "carol", &["who", "--json"]);
    let names: Vec<_> = json_lines(&out.stdout)
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        names.contains(&"bob".to_owned()) && !names.contains(&"someone-else".to_owned()),
        "bob kept his name: {names:?}"
    );

    let out = courier_unnamed(
        &hub,
        &dir,
        "bob",
        "someone-else",
        &["listen", "--json", "--count", "1", "--timeout", "10"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("while you were out"),
        "{}",
        text(&out.stdout)
    );
}

/// Issue 22: a `courier listen` running while its hub restarts comes back by itself,
/// under its name, and goes on receiving.
#[test]
fn listen_outlives_a_hub_restart_under_its_name() {
    let dir = tempdir("listen-restart");
    let hub = start_hub(&dir);
    let addr = hub.addr().to_owned();
    let listener = {
        let mut c = client(&hub, &dir, "bob");
        c.args(["listen", "--json", "--count", "1", "--timeout", "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        courier_testkit::process::ChildGuard(c.spawn().unwrap())
    };
    wait_online(&hub, &dir, "alice", &["bob"]);
    drop(hub);
    let (hub, _) = spawn_hub(&dir.join("hub"), &addr, Some(PW));
    let contacts = wait_online(&hub, &dir, "carol", &["bob"]);
    assert!(
        contacts
            .iter()
            .any(|c| c["name"] == "bob" && c["online"] == true)
    );
    let out = courier(
        &hub,
        &dir,
        "alice",
        &["say", "--to", "bob", "after the restart"],
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "delivered",
        "{}",
        text(&out.stderr)
    );
    let mut listener = listener;
    let mut stdout = String::new();
    let mut pipe = listener.0.stdout.take().unwrap();
    std::io::Read::read_to_string(&mut pipe, &mut stdout).unwrap();
    assert_eq!(listener.0.wait().unwrap().code(), Some(0), "{stdout}");
    assert!(stdout.contains("after the restart"), "{stdout}");
}

/// Issue 22: `--hub HOST` without a port means the default port, 8977 (as in the app),
/// not "invalid socket address".
#[test]
fn a_hub_given_without_a_port_is_tried_on_8977() {
    let dir = tempdir("hub-port");
    let out = Command::new(BIN)
        .args(["who", "--hub", "127.0.0.1", "--profile-dir"])
        .arg(dir.path())
        .env("COURIER_PASSWORD", PW)
        .env("COURIER_NAME", "x")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(!err.contains("invalid socket address"), "{err}");
    assert!(err.contains("127.0.0.1:8977"), "{err}");
    let out = bare(&["who", "--hub", "http://hub"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not a hub address"));
}

/// Issue 22: counts of files and folders read right in the singular ("1 empty folder",
/// never "1 empty folders").
#[test]
fn an_offer_counts_its_files_and_empty_folders_in_words() {
    let dir = tempdir("counts");
    let hub = start_hub(&dir);
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("trip/empty")).unwrap();
    std::fs::write(src.join("trip/a.txt"), b"abc").unwrap();
    let mut c = client(&hub, &dir, "bob");
    c.args(["receive", "--yes", "--count", "1", "--dir"])
        .arg(dir.join("downloads"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let receiver = c.spawn().unwrap();
    wait_online(&hub, &dir, "probe", &["bob"]);
    let mut send = client(&hub, &dir, "alice");
    send.args(["send", "--to", "bob"]).arg(src.join("trip"));
    let sent = run(send);
    assert_eq!(sent.status.code(), Some(0), "{}", text(&sent.stderr));
    assert!(
        text(&sent.stdout).starts_with("Sent to bob: 1 file (3 B)"),
        "{}",
        text(&sent.stdout)
    );
    let got = receiver.wait_with_output().unwrap();
    let err = text(&got.stderr);
    assert!(
        err.contains("offers 1 file and 1 empty folder (3 B"),
        "{err}"
    );
    assert!(dir.join("downloads/trip/empty").is_dir());
}
