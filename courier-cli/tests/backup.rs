//! Issue 26, backups while the hub runs: `courier hub backup` copies a real hub's folder
//! while 20 clients chat and 1 000 messages wait for offline members. The copy passes
//! SQLite's integrity check; a hub started from it (`--data-dir OUT`, no restore step)
//! has the same safety code, members and groups, and hands the offline members every
//! stored message. And the backup refuses what it must: a folder that is not empty, a
//! folder with no hub, a folder it cannot read.
// The original hub is stopped with Ctrl-C (SIGINT) before a hub starts from the copy.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Peer, recv_timeout};
use courier_core::identity::Identity;
use courier_core::proto::{ClientId, Delivery, MsgId, Target};
use courier_core::session::{Event, GroupRequest, Handle, Update};
use courier_testkit::json::json_lines;
use courier_testkit::{HubProcess as Hub, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "backup test password";
/// Members offline while messages wait for them.
const OFFLINE: usize = 10;
/// Messages stored for them, spread evenly.
const STORED: usize = 1_000;
/// Members chatting while the backup runs.
const CHATTING: usize = 20;

fn start_hub(data: &Path) -> Hub {
    let mut cmd = Command::new(BIN);
    cmd.env("COURIER_PASSWORD", PW);
    let extra = ["--offline-messages", "2000", "--message-rate", "100000"];
    Hub::spawn(cmd, "127.0.0.1:0", data, &extra)
}

/// `courier hub ARGS --data-dir DATA`, its output.
fn hub_cmd(args: &[&str], data: &Path) -> Output {
    Command::new(BIN)
        .arg("hub")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A session for `identity`, its keys in a folder of its own under `dir` (the same at
/// each login, as a profile folder is).
fn join(hub: &str, identity: &Identity, name: &str, dir: &Path) -> Peer {
    let keys = dir.join(format!("keys-{}", identity.id().short()));
    common::join(hub, identity, PW, name, &keys, Duration::from_secs(60))
}

/// Waits until `watcher` has seen every one of `ids` go offline.
fn wait_offline(watcher: &Peer, ids: &HashSet<ClientId>) {
    let mut offline = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while offline != *ids {
        assert!(Instant::now() < deadline, "still online: {:?}", ids.len());
        if let Some(Update::Event(Event::Contact(c))) =
            recv_timeout(&watcher.updates, Duration::from_millis(100))
            && ids.contains(&c.id)
        {
            if c.online {
                offline.remove(&c.id);
            } else {
                offline.insert(c.id);
            }
        }
    }
}

/// The ids `courier hub members --json` lists for the hub in `data`.
fn members(data: &Path) -> HashSet<String> {
    json_lines(&ok(hub_cmd(&["members", "--json"], data)).stdout)
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The groups `courier hub groups --json` lists: name → member names.
fn groups(data: &Path) -> HashMap<String, HashSet<String>> {
    json_lines(&ok(hub_cmd(&["groups", "--json"], data)).stdout)
        .iter()
        .map(|g| {
            let names = g["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["name"].as_str().unwrap().to_owned())
                .collect();
            (g["name"].as_str().unwrap().to_owned(), names)
        })
        .collect()
}

#[test]
fn a_backup_taken_while_members_chat_starts_the_same_hub_with_every_stored_message() {
    let dir = TempDir::new("backup-live");
    let data = dir.join("hub");
    let mut hub = start_hub(&data);

    // Members who come once and leave: messages will wait for them.
    let sender_identity = Identity::generate().unwrap();
    let sender = join(hub.addr(), &sender_identity, "sender", &dir);
    let offline: Vec<Identity> = (0..OFFLINE)
        .map(|_| Identity::generate().unwrap())
        .collect();
    for (n, who) in offline.iter().enumerate() {
        drop(join(hub.addr(), who, &format!("away{n}"), &dir));
    }
    let offline_ids: HashSet<ClientId> = offline.iter().map(Identity::id).collect();
    wait_offline(&sender, &offline_ids);

    // A group with three of them, kept by the hub.
    let three: Vec<ClientId> = offline.iter().take(3).map(Identity::id).collect();
    smol::block_on(sender.handle.change_group(GroupRequest::Create {
        name: "ops".into(),
        members: three,
    }))
    .unwrap();
    courier_testkit::process::wait_for("the group in hub.db", Duration::from_secs(30), || {
        groups(&data).contains_key("ops")
    });

    // 1 000 messages for them, each acknowledged `stored` (written to hub.db).
    let mut sent: HashMap<MsgId, (usize, usize)> = HashMap::new();
    for i in 0..STORED {
        let to = i % OFFLINE;
        let id = smol::block_on(
            sender
                .handle
                .send_message(Target::Client(offline[to].id()), format!("kept {i}")),
        )
        .unwrap();
        sent.insert(id, (i, to));
    }
    let mut stored = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while stored.len() < STORED {
        assert!(
            Instant::now() < deadline,
            "{} of {STORED} stored",
            stored.len()
        );
        if let Some(Update::Event(Event::Receipt { id, status })) =
            recv_timeout(&sender.updates, Duration::from_millis(200))
        {
            assert_eq!(status, Delivery::Stored, "for an offline member");
            stored.insert(id);
        }
    }

    // 20 members chat (each to the next) while the backup runs.
    let chatters: Vec<Peer> = (0..CHATTING)
        .map(|n| {
            let who = Identity::generate().unwrap();
            join(hub.addr(), &who, &format!("chat{n}"), &dir)
        })
        .collect();
    courier_testkit::process::wait_for("every member in hub.db", Duration::from_secs(30), || {
        members(&data).len() == 1 + OFFLINE + CHATTING
    });
    let before = members(&data);
    let chatting = Arc::new(AtomicBool::new(true));
    let said = Arc::new(AtomicUsize::new(0));
    let chat = {
        let handles: Vec<(Handle, ClientId)> = chatters
            .iter()
            .map(|p| (p.handle.clone(), p.handle.id()))
            .collect();
        let (chatting, said) = (chatting.clone(), said.clone());
        std::thread::spawn(move || {
            smol::block_on(async move {
                let mut round = 0usize;
                while chatting.load(Ordering::Relaxed) {
                    for (n, (handle, _)) in handles.iter().enumerate() {
                        let to = handles[(n + 1) % handles.len()].1;
                        if handle
                            .send_message(Target::Client(to), format!("chat {round}"))
                            .await
                            .is_ok()
                        {
                            said.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    round += 1;
                    smol::Timer::after(Duration::from_millis(5)).await;
                }
            });
        })
    };
    courier_testkit::process::wait_for("the chat to start", Duration::from_secs(30), || {
        said.load(Ordering::Relaxed) >= 100
    });

    let out = dir.join("backups").join("tonight");
    let said_before = said.load(Ordering::Relaxed);
    let backup = ok(hub_cmd(&["backup", "--json", out.to_str().unwrap()], &data));
    let said_during = said.load(Ordering::Relaxed) - said_before;
    chatting.store(false, Ordering::Relaxed);
    chat.join().unwrap();
    let report = json_lines(&backup.stdout);
    let [report] = report.as_slice() else {
        panic!("one JSON line: {report:?}")
    };
    eprintln!("backup while chatting ({said_during} messages sent meanwhile): {report}");
    assert_eq!(report["type"], "backup");
    assert_eq!(report["integrity_check"], "ok");
    assert_eq!(report["safety_code"], hub.safety_code());
    let mut names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["hub.db", "hub.secret", "identity.crt", "identity.key"]
    );
    // Checked again here, independently of the command's own check.
    assert_eq!(
        courier_core::hub::backup::check_database(&out.join("hub.db")).unwrap(),
        None,
        "the copy passes PRAGMA integrity_check"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&out), 0o700);
        for name in &names {
            assert_eq!(mode(&out.join(name)), 0o600, "{name}");
        }
    }

    // The original stops; a hub started from the copy is the same hub.
    let code = hub.safety_code().to_owned();
    drop(chatters);
    drop(sender);
    assert!(hub.interrupt(Duration::from_secs(30)).success());
    drop(hub);
    let hub = start_hub(&out);
    assert_eq!(hub.safety_code(), code, "same safety code (fingerprint)");
    assert_eq!(members(&out), before, "the members are remembered");
    let copied_groups = groups(&out);
    let ops = copied_groups.get("ops").expect("the group is there");
    let expected: HashSet<String> = ["sender", "away0", "away1", "away2"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(ops, &expected);

    // Every offline member comes back and collects every message kept for it.
    let mut delivered = 0;
    for (n, who) in offline.iter().enumerate() {
        let expected: HashSet<MsgId> = sent
            .iter()
            .filter(|(_, (_, to))| *to == n)
            .map(|(id, _)| *id)
            .collect();
        let peer = join(hub.addr(), who, &format!("away{n}"), &dir);
        let mut got = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while got != expected {
            assert!(
                Instant::now() < deadline,
                "away{n}: {} of {} stored messages arrived",
                got.len(),
                expected.len()
            );
            if let Some(Update::Event(Event::Message(m))) =
                recv_timeout(&peer.updates, Duration::from_millis(100))
            {
                let (i, to) = sent[&m.id];
                assert_eq!(to, n, "to the right member");
                assert_eq!(m.text, format!("kept {i}"), "opened, the text sent");
                assert_eq!(m.from, sender_identity.id(), "from its sender");
                got.insert(m.id);
            }
        }
        delivered += got.len();
    }
    assert_eq!(delivered, STORED);
    drop(hub);
}

/// `courier hub backup` as a failing command: exit 2, and its one-line error.
fn refused(data: &Path, out: &Path) -> String {
    let got = hub_cmd(&["backup", out.to_str().unwrap()], data);
    assert_eq!(got.status.code(), Some(2), "{got:?}");
    assert!(got.stdout.is_empty());
    String::from_utf8_lossy(&got.stderr).into_owned()
}

#[test]
fn a_backup_refuses_a_full_folder_a_folder_without_a_hub_and_one_it_cannot_read() {
    let dir = TempDir::new("backup-refused");
    let data = dir.join("hub");
    // A hub that ran once (its identity, password record and database are there).
    drop(start_hub(&data));

    // OUT with something in it: refused, and what is there is left alone.
    let full = dir.join("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("older backup"), b"keep").unwrap();
    let err = refused(&data, &full);
    assert!(err.contains("not an empty folder"), "{err}");
    assert_eq!(std::fs::read(full.join("older backup")).unwrap(), b"keep");
    assert_eq!(std::fs::read_dir(&full).unwrap().count(), 1);

    // A folder with no hub in it: refused, nothing created anywhere.
    let empty = dir.join("not-a-hub");
    std::fs::create_dir_all(&empty).unwrap();
    let out = dir.join("out-none");
    let err = refused(&empty, &out);
    assert!(err.contains("no hub's folder"), "{err}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "DIR untouched"
    );

    // A folder that cannot be read: through a file (even root cannot), and, for
    // anyone but root, a folder closed to us.
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = refused(&file.join("hub"), &out);
    assert!(err.contains("reading"), "{err}");
    assert!(!out.exists());
    #[cfg(unix)]
    if !rustix::process::geteuid().is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o000)).unwrap();
        let err = refused(&data, &out);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(err.contains("reading"), "{err}");
        assert!(err.contains("ermission denied"), "{err}");
        assert!(!out.exists());
    }

    // And the happy path on a stopped hub, human output.
    let good = dir.join("good");
    let got = ok(hub_cmd(&["backup", good.to_str().unwrap()], &data));
    let line = String::from_utf8_lossy(&got.stdout);
    assert!(
        line.starts_with("backed up the hub (safety code "),
        "{line}"
    );
    assert!(
        line.contains("hub.db, identity.key, identity.crt, hub.secret"),
        "{line}"
    );
    assert!(line.contains("integrity check"), "{line}");
}
