//! End-to-end tests of the real `courier` binary: a hub and clients as separate
//! processes on loopback, checking exit codes, stdout data and stderr messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "cli test password";

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("courier-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Hub {
    child: Child,
    addr: String,
    safety_code: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_hub(dir: &Path) -> Hub {
    let mut child = Command::new(BIN)
        .args(["hub", "--listen", "127.0.0.1:0", "--json", "--data-dir"])
        .arg(dir.join("hub"))
        .env("COURIER_PASSWORD", PW)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).expect("hub prints one JSON line");
    assert_eq!(info["type"], "hub");
    assert!(
        info["generated_password"].is_null(),
        "a password was given, none generated"
    );
    Hub {
        child,
        addr: info["listen"].as_str().unwrap().to_owned(),
        safety_code: info["safety_code"].as_str().unwrap().to_owned(),
    }
}

fn client(hub: &Hub, home: &Path, name: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("COURIER_HUB", &hub.addr)
        .env("COURIER_HOME", home.join(name))
        .env("COURIER_NAME", name)
        .env("COURIER_PASSWORD", PW)
        .stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

fn bare(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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
    let out = run({
        let mut c = client(&hub, &dir, "bob");
        c.args(["who", "--json"]);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&hub.safety_code));

    // Bob listens for one message.
    let listener = {
        let mut c = client(&hub, &dir, "bob");
        c.args(["listen", "--json", "--count", "1", "--timeout", "20"])
            .stdout(Stdio::piped());
        c.spawn().unwrap()
    };
    // Wait until Bob is online, as Alice sees it.
    let mut online = false;
    for _ in 0..50 {
        let out = run({
            let mut c = client(&hub, &dir, "alice");
            c.args(["who", "--json"]);
            c
        });
        let contacts: Vec<serde_json::Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if contacts
            .iter()
            .any(|c| c["name"] == "bob" && c["online"] == true)
        {
            let bob = contacts.iter().find(|c| c["name"] == "bob").unwrap();
            assert_eq!(bob["id"].as_str().unwrap().len(), 64);
            assert_eq!(bob["presence"], "available");
            online = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(online, "bob never showed as online");

    let out = run({
        let mut c = client(&hub, &dir, "alice");
        c.args(["say", "--to", "bob", "--json", "hello from alice"]);
        c
    });
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
    let out = run({
        let mut c = client(&hub, &dir, "bob");
        c.args(["listen", "--json", "--count", "1", "--timeout", "10"]);
        c
    });
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("for later"));

    // Unknown recipient: error naming it, exit 2.
    let out = run({
        let mut c = client(&hub, &dir, "alice");
        c.args(["say", "--to", "zed", "x"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no contact named \"zed\""));

    // Two contacts named "carol": ambiguous, candidates listed.
    for who in ["carol1", "carol2"] {
        let mut c = client(&hub, &dir, who);
        c.env("COURIER_NAME", "carol").arg("who");
        assert!(run(c).status.success());
    }
    let out = run({
        let mut c = client(&hub, &dir, "alice");
        c.args(["say", "--to", "carol", "x"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("ambiguous") && err.matches("carol").count() >= 3,
        "{err}"
    );

    // Nothing arrives: listen --count with --timeout exits 1.
    let out = run({
        let mut c = client(&hub, &dir, "dave");
        c.args(["listen", "--count", "1", "--timeout", "0.5"]);
        c
    });
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
    let addr = first.addr.clone();
    assert!(
        run({
            let mut c = client(&first, &dir, "alice");
            c.arg("who");
            c
        })
        .status
        .success()
    );
    let old_code = first.safety_code.clone();
    drop(first);
    // A different hub (new identity) on the same address.
    let other = tempdir("pin-other");
    let mut child = Command::new(BIN)
        .args(["hub", "--json", "--listen", &addr, "--data-dir"])
        .arg(other.join("hub"))
        .env("COURIER_PASSWORD", PW)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let second = Hub {
        child,
        addr,
        safety_code: info["safety_code"].as_str().unwrap().to_owned(),
    };
    let out = run({
        let mut c = client(&second, &dir, "alice");
        c.arg("who");
        c
    });
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&old_code) && err.contains(&second.safety_code),
        "{err}"
    );
}

#[test]
fn hub_without_password_or_terminal_generates_one_once() {
    let dir = tempdir("gen");
    let mut child = Command::new(BIN)
        .args(["hub", "--json", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("hub"))
        .env_remove("COURIER_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let generated = info["generated_password"].as_str().unwrap().to_owned();
    assert_eq!(generated.len(), 23); // 20 characters in groups of five
    let hub = Hub {
        child,
        addr: info["listen"].as_str().unwrap().to_owned(),
        safety_code: String::new(),
    };
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
