//! Issue 24, the hub holds nothing it can read: a random canary string sent through a
//! real `courier hub` process (with its database) by real `courier` clients, as a
//! direct message, a group message, a message stored for an offline member, and the
//! name of a file in an offer kept for that member. The canary must appear nowhere in
//! the hub: not in its memory (read from `/proc/PID/mem` while it runs, after the
//! messages were routed and stored, and again after they were taken), not in any file
//! of its data folder (`hub.db`, its WAL, ...) while it runs and after it stopped, not
//! in what it printed (stdout and stderr, with its own crates logging at `trace`). And
//! every recipient reads every one of them.
//!
//! Linux only: memory is read from `/proc`. Reading another process's memory needs the
//! right to trace it; without it the memory part says NOT RUN (and fails with
//! `COURIER_REQUIRE_SYSTEM_TOOLS=1`), and the rest still runs.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use courier_testkit::json::{json_lines, text, until_line};
use courier_testkit::memory;
use courier_testkit::process::{ChildGuard, interrupt, wait_for};
use courier_testkit::{TempDir, not_run};

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "canary test password";

/// A `courier hub` whose stdout and stderr go to files, so that everything it printed
/// can be searched.
struct Hub {
    child: ChildGuard,
    addr: String,
    data: PathBuf,
    out: PathBuf,
    err: PathBuf,
}

impl Hub {
    fn start(dir: &Path) -> Self {
        let data = dir.join("hub");
        let (out, err) = (dir.join("hub.stdout"), dir.join("hub.stderr"));
        let child = Command::new(BIN)
            .args(["hub", "--json", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env("COURIER_PASSWORD", PW)
            .env("COURIER_NO_DISCOVERY", "1")
            // Its own crates as talkative as they get: no level may print a text.
            .env("RUST_LOG", "info,courier=trace,courier_core=trace")
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let child = ChildGuard(child);
        let mut line = String::new();
        wait_for("the hub's startup line", Duration::from_secs(30), || {
            line = std::fs::read_to_string(&out).unwrap_or_default();
            line.ends_with('\n')
        });
        let info: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        Self {
            addr: info["listen"].as_str().unwrap().to_owned(),
            child,
            data,
            out,
            err,
        }
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

fn client(hub: &Hub, dir: &Path, name: &str, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.env("COURIER_HUB", &hub.addr)
        .env("COURIER_HOME", dir.join(name))
        .env("COURIER_NAME", name)
        .env("COURIER_PASSWORD", PW)
        .env("COURIER_NO_DISCOVERY", "1")
        .stdin(Stdio::null())
        .args(args);
    c
}

/// `courier ARGS` as `name`, which must succeed; its stdout.
fn ok(hub: &Hub, dir: &Path, name: &str, args: &[&str]) -> String {
    let out = client(hub, dir, name, args).output().unwrap();
    assert_success(name, args, &out);
    text(&out.stdout)
}

fn assert_success(name: &str, args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "{name} {args:?}: exit {:?}\n{}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn spawn(hub: &Hub, dir: &Path, name: &str, args: &[&str]) -> Child {
    client(hub, dir, name, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `asker` sees each of `names` online.
fn wait_online(hub: &Hub, dir: &Path, asker: &str, names: &[&str]) {
    wait_for(
        &format!("{names:?} online"),
        Duration::from_secs(30),
        || {
            let list = json_lines(ok(hub, dir, asker, &["who", "--json"]).as_bytes());
            names
                .iter()
                .all(|n| list.iter().any(|c| c["name"] == *n && c["online"] == true))
        },
    );
}

/// 32 random hex digits (from the system's random source): in no binary, no library,
/// no earlier run.
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where `needle` occurs in the hub's memory, one line per place. `None` when the memory
/// cannot be read here (said as NOT RUN, or a failure with COURIER_REQUIRE_SYSTEM_TOOLS=1).
fn in_memory(hub: &Hub, test: &str, needles: &[&[u8]]) -> Option<Vec<memory::Found>> {
    match memory::search(hub.pid(), needles) {
        Ok(searched) => Some(searched.found),
        Err(refused) => {
            not_run(
                test,
                &format!("the hub's memory was not checked: {refused}"),
            );
            None
        }
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The files among `files` that hold `needle`, with how many times.
fn holding(files: &[PathBuf], needle: &[u8]) -> Vec<String> {
    files
        .iter()
        .filter_map(|f| {
            let bytes = std::fs::read(f).ok()?;
            let n = bytes.windows(needle.len()).filter(|w| *w == needle).count();
            (n > 0).then(|| format!("{} ({n}x)", f.display()))
        })
        .collect()
}

/// Reads `child`'s JSON lines until it exits; fails the test if it failed.
fn finish(child: Child, what: &str) -> Vec<serde_json::Value> {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n{}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    json_lines(&out.stdout)
}

/// The texts of the `message` lines of `listen --json`.
fn texts(lines: &[serde_json::Value]) -> Vec<String> {
    let mut t: Vec<String> = lines
        .iter()
        .filter(|l| l["type"] == "message")
        .map(|l| l["text"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

/// A canary sent as a direct message, a group message, a message stored for an offline
/// member and the file name of an offer kept for them is read by every recipient, and
/// is in none of the hub's memory, files and output.
///
/// Before issue 24's sealing this failed: the canary was in the hub's heap, in
/// `hub.db-wal` while it ran and in `hub.db` after it stopped.
#[test]
fn the_hub_never_holds_a_canary_that_every_recipient_reads() {
    const TEST: &str = "the_hub_never_holds_a_canary_that_every_recipient_reads";
    let canary = format!("cny{}", random_hex());
    // The group's name is public to the hub by design: found in its memory and database,
    // it shows that the searches can see what the hub holds.
    let group = format!("g{}", &random_hex()[..12]);
    let tag = |what: &str| format!("{canary} {what}");
    let dir = TempDir::new("canary");
    let hub = Hub::start(&dir);

    // Everyone logs in once, so that the hub knows them (and, sealed, their keys).
    for n in ["alice", "bob", "carol", "dave"] {
        ok(&hub, &dir, n, &["who"]);
    }
    let with = "bob,carol,dave";
    ok(
        &hub,
        &dir,
        "alice",
        &["group", "create", &group, "--with", with],
    );

    // (a) direct and (b) group, to bob who listens.
    let bob = spawn(
        &hub,
        &dir,
        "bob",
        &["listen", "--json", "--count", "2", "--timeout", "60"],
    );
    wait_online(&hub, &dir, "alice", &["bob"]);
    let said = ok(&hub, &dir, "alice", &["say", "--to", "bob", &tag("direct")]);
    assert_eq!(said.trim(), "delivered");
    let to_group = format!("#{group}");
    ok(
        &hub,
        &dir,
        "alice",
        &["say", "--to", &to_group, &tag("group")],
    );
    let bob_lines = finish(bob, "bob's listen");
    assert_eq!(
        texts(&bob_lines),
        vec![tag("direct"), tag("group")],
        "bob's listen: {bob_lines:?}"
    );

    // (c) stored for dave, offline, and (d) an offer kept for him, the file named the canary.
    let said = ok(
        &hub,
        &dir,
        "alice",
        &["say", "--to", "dave", &tag("stored")],
    );
    assert_eq!(said.trim(), "stored");
    let file_name = format!("{canary}-offer.txt");
    let src = dir.subdir("src");
    std::fs::write(src.join(&file_name), b"the offer's content").unwrap();
    let mut offer = client(
        &hub,
        &dir,
        "alice",
        &["send", "--to", "dave", "--wait", "--json"],
    )
    .arg(src.join(&file_name))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut offer_out = BufReader::new(offer.stdout.take().unwrap());
    until_line(&mut offer_out, |l| l["type"] == "stored");

    let mut leaks = Vec::new();
    let mut memory_checked = false;
    // The hub's memory once everything was routed and stored.
    if let Some(found) = in_memory(&hub, TEST, &[canary.as_bytes(), group.as_bytes()]) {
        memory_checked = true;
        assert!(
            found.iter().any(|f| f.needle == 1),
            "the memory search does not even see the group's name, which the hub holds"
        );
        for f in found.iter().filter(|f| f.needle == 0) {
            leaks.push(format!(
                "memory (routed and stored) at {:#x} in {:?}: {}",
                f.address, f.mapping, f.context
            ));
        }
    }

    // Dave comes: he takes the offer (its file named the canary), then his messages.
    let downloads = dir.subdir("downloads");
    let receive = client(
        &hub,
        &dir,
        "dave",
        &["receive", "--yes", "--json", "--count", "1", "--dir"],
    )
    .arg(&downloads)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let got = finish(receive, "dave's receive");
    let shown = got.iter().find(|l| l["type"] == "offer").unwrap();
    assert_eq!(shown["files"][0]["path"], file_name.as_str(), "{shown}");
    assert_eq!(
        std::fs::read(downloads.join(&file_name)).unwrap(),
        b"the offer's content"
    );
    let mut rest = String::new();
    offer_out.read_to_string(&mut rest).unwrap();
    assert!(offer.wait().unwrap().success(), "alice's send: {rest}");
    let dave = spawn(
        &hub,
        &dir,
        "dave",
        &["listen", "--json", "--count", "2", "--timeout", "60"],
    );
    let dave_lines = finish(dave, "dave's listen");
    assert_eq!(
        texts(&dave_lines),
        vec![tag("group"), tag("stored")],
        "dave's listen: {dave_lines:?}"
    );

    // Memory again once everything was taken, and the files while the hub runs.
    if let Some(found) = in_memory(&hub, TEST, &[canary.as_bytes()]) {
        for f in &found {
            leaks.push(format!(
                "memory (after delivery) at {:#x} in {:?}: {}",
                f.address, f.mapping, f.context
            ));
        }
    }
    let files = files_under(&hub.data);
    assert!(
        files.iter().any(|f| f.ends_with("hub.db")),
        "no hub.db among {files:?}"
    );
    assert!(
        !holding(&files, group.as_bytes()).is_empty(),
        "the file search does not even see the group's name in the hub's files: {files:?}"
    );
    for f in holding(&files, canary.as_bytes()) {
        leaks.push(format!("file while running: {f}"));
    }

    // Stopped as Ctrl-C stops it (its WAL checkpointed into hub.db): files and output.
    let mut guard = hub.child;
    interrupt(&mut guard.0, Duration::from_secs(20));
    for f in holding(&files_under(&hub.data), canary.as_bytes()) {
        leaks.push(format!("file after stopping: {f}"));
    }
    for f in holding(&[hub.out.clone(), hub.err.clone()], canary.as_bytes()) {
        leaks.push(format!("output: {f}"));
    }
    let printed = std::fs::metadata(&hub.err).map(|m| m.len()).unwrap_or(0);
    assert!(
        printed > 0,
        "the hub printed no log at all: nothing to search"
    );

    assert!(
        leaks.is_empty(),
        "the canary {canary} is in the hub (memory checked: {memory_checked}):\n{}",
        leaks.join("\n")
    );
}

/// The memory reader finds what the hub is known to hold (a member's display name, public
/// to the hub by design), so the canary test's "not found" cannot pass by reading nothing.
#[test]
fn the_memory_reader_finds_a_display_name_the_hub_holds() {
    const TEST: &str = "the_memory_reader_finds_a_display_name_the_hub_holds";
    let name = format!("n{}", &random_hex()[..16]);
    let dir = TempDir::new("canary-control");
    let hub = Hub::start(&dir);
    ok(&hub, &dir, &name, &["who"]);
    let Some(found) = in_memory(&hub, TEST, &[name.as_bytes()]) else {
        return;
    };
    assert!(
        !found.is_empty(),
        "a display name the hub holds was not found in its memory"
    );
    // A string that was never sent is not found (the needle is built here, not sent).
    let never = format!("n{}", &random_hex()[..16]);
    let found = in_memory(&hub, TEST, &[never.as_bytes()]).unwrap();
    assert!(found.is_empty(), "found a string never sent: {found:?}");
}
