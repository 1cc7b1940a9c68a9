//! Issue 11, nothing the hub acknowledged is lost: a real `courier hub` process with its
//! database, killed with SIGKILL while 10 000 messages to offline contacts pour in, and
//! started again on the same folder. Every message that got a `stored` receipt reaches
//! its recipient, once, with its original sender and time; nothing arrives that was
//! never sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Peer, recv_timeout};
use courier_core::identity::Identity;
use courier_core::proto::{ClientId, Delivery, MsgId, Target};
use courier_core::session::{Event, Update};
use courier_testkit::{HubProcess as Hub, TempDir};
use futures::StreamExt;

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "durable test password";
const RECIPIENTS: usize = 20;
const MESSAGES: usize = 10_000;
/// The hub is killed once this many `stored` receipts came back.
const KILL_AFTER: usize = 4_000;

fn start_hub(data: &Path) -> Hub {
    start_hub_at(data, "127.0.0.1:0")
}

fn start_hub_at(data: &Path, listen: &str) -> Hub {
    let mut cmd = Command::new(BIN);
    cmd.env("COURIER_PASSWORD", PW);
    // Room for every message, and a sender fast enough to fill it in seconds.
    let extra = ["--offline-messages", "4000", "--message-rate", "100000"];
    Hub::spawn(cmd, listen, data, &extra)
}

/// A session for `identity`, its keys in a folder of its own under `dir` (the same at
/// each of its logins, as a profile folder is).
fn join(hub: &str, identity: &Identity, name: &str, dir: &Path) -> Peer {
    let keys = dir.join(format!("keys-{}", identity.id().short()));
    common::join(hub, identity, PW, name, &keys, Duration::from_secs(30))
}

fn scratch(tag: &str) -> TempDir {
    TempDir::new(&format!("durable-{tag}"))
}

#[test]
fn a_hub_killed_mid_storm_delivers_every_stored_message_exactly_once() {
    let dir = scratch("storm");
    let data = dir.join("hub");
    let hub = start_hub(&data);

    // Recipients come once (so the hub knows them) and leave; the sender watches them go.
    let sender_identity = Identity::generate().unwrap();
    let sender = join(hub.addr(), &sender_identity, "sender", &dir);
    let recipients: Vec<Identity> = (0..RECIPIENTS)
        .map(|_| Identity::generate().unwrap())
        .collect();
    for (n, who) in recipients.iter().enumerate() {
        drop(join(hub.addr(), who, &format!("r{n}"), &dir));
    }
    let ids: HashSet<ClientId> = recipients.iter().map(Identity::id).collect();
    let mut offline: HashSet<ClientId> = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while offline != ids {
        assert!(
            Instant::now() < deadline,
            "recipients still online: {}",
            offline.len()
        );
        if let Some(Update::Event(Event::Contact(c))) =
            recv_timeout(&sender.updates, Duration::from_millis(100))
            && ids.contains(&c.id)
        {
            if c.online {
                offline.remove(&c.id);
            } else {
                offline.insert(c.id);
            }
        }
    }

    // The storm: texts name their number; receipts counted as they come.
    let sent: Arc<std::sync::Mutex<HashMap<MsgId, (usize, usize)>>> = Arc::default();
    let stored = Arc::new(AtomicUsize::new(0));
    let storm = {
        let handle = sender.handle.clone();
        let sent = sent.clone();
        let targets: Vec<ClientId> = recipients.iter().map(Identity::id).collect();
        std::thread::spawn(move || {
            smol::block_on(async move {
                for i in 0..MESSAGES {
                    let to = i % RECIPIENTS;
                    match handle
                        .send_message(Target::Client(targets[to]), format!("m{i}"))
                        .await
                    {
                        Ok(id) => {
                            sent.lock().unwrap().insert(id, (i, to));
                        }
                        Err(_) => break,
                    }
                }
            });
        })
    };
    let mut receipts: HashMap<MsgId, Delivery> = HashMap::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    while stored.load(Ordering::Relaxed) < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "too few receipts: {}",
            receipts.len()
        );
        if let Some(Update::Event(Event::Receipt { id, status })) =
            recv_timeout(&sender.updates, Duration::from_millis(200))
        {
            if status == Delivery::Stored {
                stored.fetch_add(1, Ordering::Relaxed);
            }
            receipts.insert(id, status);
        }
    }
    let storm_time = started.elapsed();
    drop(hub); // SIGKILL, mid-storm
    // Receipts already on their way were written before they were sent.
    while let Some(u) = recv_timeout(&sender.updates, Duration::from_millis(300)) {
        if let Update::Event(Event::Receipt { id, status }) = u {
            receipts.insert(id, status);
        }
    }
    drop(sender);
    let _ = storm.join();
    let sent = sent.lock().unwrap().clone();
    let acknowledged: HashSet<MsgId> = receipts
        .iter()
        .filter(|(_, s)| **s == Delivery::Stored)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        receipts.values().all(|s| *s == Delivery::Stored),
        "every receipt said stored: {:?}",
        receipts.values().find(|s| **s != Delivery::Stored)
    );
    eprintln!(
        "{} messages sent, {} acknowledged stored in {:?} before the kill",
        sent.len(),
        acknowledged.len(),
        storm_time
    );

    // Started again on the same folder: each recipient comes back and collects.
    let restarted_at = courier_core::proto::Timestamp::now();
    let hub = start_hub(&data);
    let mut delivered: HashMap<MsgId, usize> = HashMap::new();
    for (n, who) in recipients.iter().enumerate() {
        let expected: HashSet<MsgId> = acknowledged
            .iter()
            .filter(|id| sent.get(id).is_some_and(|(_, to)| *to == n))
            .copied()
            .collect();
        let peer = join(hub.addr(), who, &format!("r{n}"), &dir);
        let mut got: HashSet<MsgId> = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        // Until every acknowledged message is in, then a little longer for strays.
        let mut quiet_until: Option<Instant> = None;
        loop {
            if quiet_until.is_none() && expected.is_subset(&got) {
                quiet_until = Some(Instant::now() + Duration::from_millis(500));
            }
            if quiet_until.is_some_and(|q| Instant::now() >= q) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "r{n}: {} of {} acknowledged messages arrived",
                expected.intersection(&got).count(),
                expected.len()
            );
            if let Some(Update::Event(Event::Message(m))) =
                recv_timeout(&peer.updates, Duration::from_millis(100))
            {
                let (i, to) = *sent
                    .get(&m.id)
                    .unwrap_or_else(|| panic!("r{n} got a message never sent: {m:?}"));
                assert_eq!(to, n, "to the right person");
                assert_eq!(m.text, format!("m{i}"), "the text sent");
                assert_eq!(m.from, sender_identity.id(), "the original sender");
                assert!(m.time.0 < restarted_at.0, "the original time");
                *delivered.entry(m.id).or_default() += 1;
                got.insert(m.id);
            }
        }
    }
    for id in &acknowledged {
        assert_eq!(delivered.get(id), Some(&1), "{id:?} delivered exactly once");
    }
    assert!(delivered.values().all(|n| *n == 1), "nothing twice");
    eprintln!(
        "after the restart: {} delivered ({} acknowledged, {} more that were written but \
         not yet acknowledged when the hub died)",
        delivered.len(),
        acknowledged.len(),
        delivered.len() - acknowledged.len()
    );
    drop(hub);
}

/// A loopback address with a port nobody listens on now (a hub restarted there keeps
/// its address for clients that wait through the restart).
fn free_loopback_port() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// A client command as `name` (its own profile folder under `dir`) against `hub`.
fn member(hub: &str, dir: &Path, name: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("COURIER_HUB", hub)
        .env("COURIER_HOME", dir.join(name))
        .env("COURIER_NAME", name)
        .env("COURIER_PASSWORD", PW)
        .env("COURIER_NO_DISCOVERY", "1")
        .stdin(Stdio::null());
    c
}

/// Kills `child` if it is still running after `limit` (a hung test fails, it does not
/// hang CI).
fn watchdog(child: &Child, limit: Duration) {
    #[cfg(unix)]
    {
        let pid = rustix::process::Pid::from_child(child);
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        });
    }
    #[cfg(not(unix))]
    let _ = (child, limit);
}

/// A file offer to a contact who is offline waits at the hub (`send --wait`), survives
/// the hub being killed with SIGKILL and started again, reaches the contact at their
/// next login, and the files go, verified, once they accept: the sender's command
/// waited through it all.
#[test]
fn a_stored_file_offer_survives_a_hub_killed_with_sigkill_and_the_files_go_when_both_are_back() {
    let dir = scratch("offer");
    let listen = free_loopback_port();
    let hub = start_hub_at(&dir.join("hub"), &listen);
    let at = hub.addr().to_owned();
    // Bob is a member (he came once) and is offline now.
    let out = member(&at, &dir, "bob").args(["who"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let payload: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let file = dir.join("plans.bin");
    std::fs::write(&file, &payload).unwrap();
    let mut send = member(&at, &dir, "alice");
    send.args(["send", "--wait", "--json", "--to", "bob"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut sender = send.spawn().unwrap();
    watchdog(&sender, Duration::from_secs(120));
    let mut lines = BufReader::new(sender.stdout.take().unwrap());
    let mut seen = Vec::new();
    let stored = loop {
        let mut line = String::new();
        assert!(
            lines.read_line(&mut line).unwrap() > 0,
            "send ended: {seen:?}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        seen.push(v.clone());
        if v["type"] == "stored" {
            break v;
        }
    };
    assert_eq!(stored["to"]["name"], "bob", "{stored}");

    // The hub dies without a word and comes back on the same folder and port.
    drop(hub);
    let hub = start_hub_at(&dir.join("hub"), &listen);

    // Bob comes online: the stored offer is there; he takes it.
    let downloads = dir.join("bob-downloads");
    let mut receive = member(&at, &dir, "bob");
    receive
        .args(["receive", "--yes", "--json", "--count", "1", "--dir"])
        .arg(&downloads)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let receiver = receive.spawn().unwrap();
    watchdog(&receiver, Duration::from_secs(120));
    let got = receiver.wait_with_output().unwrap();
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(
        std::fs::read(downloads.join("plans.bin")).unwrap(),
        payload,
        "arrived whole and verified"
    );

    // Alice's command saw it through: reclaimed after the restart, sent, done.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut lines, &mut rest).unwrap();
    let status = sender.wait().unwrap();
    assert!(status.success(), "{rest}");
    let last: serde_json::Value =
        serde_json::from_str(rest.lines().last().unwrap_or("null")).unwrap();
    assert_eq!(last["type"], "result", "{rest}");
    assert_eq!(last["status"], "ok", "{rest}");
    drop(hub);
}

/// Senders, each making this many stored offers (the hub's offer burst).
const OFFER_SENDERS: usize = 10;
const OFFERS_EACH: usize = 8;
/// The hub is killed once this many `stored` receipts for offers came back.
const KILL_AFTER_OFFERS: usize = 30;

/// The same for file offers: a hub killed with SIGKILL while 80 offers to offline
/// contacts pour in (`transfer::send` with `wait`, as `courier send --wait` and the app
/// make them), started again on the same folder and port. Every offer that got `stored`
/// reaches its recipient at their next login, once, from its true sender and with its
/// files' names; nothing arrives that was never offered.
#[test]
fn a_hub_killed_while_file_offers_pour_in_hands_every_stored_offer_over_once() {
    use courier_core::transfer::{self, Update as TUpdate};
    let dir = scratch("offer-storm");
    let data = dir.join("hub");
    let listen = free_loopback_port();
    let hub = start_hub_at(&data, &listen);
    let recipients: Vec<Identity> = (0..4).map(|_| Identity::generate().unwrap()).collect();
    for (n, who) in recipients.iter().enumerate() {
        drop(join(&listen, who, &format!("r{n}"), &dir));
    }
    let targets: Vec<ClientId> = recipients.iter().map(Identity::id).collect();
    // Small files, one per offer, named for who offers it.
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let senders: Vec<Identity> = (0..OFFER_SENDERS)
        .map(|_| Identity::generate().unwrap())
        .collect();
    let (stored_tx, stored_rx) =
        async_channel::unbounded::<(usize, courier_core::proto::TransferId)>();
    let mut pumps = Vec::new();
    let (stop, stopped) = async_channel::bounded::<()>(1);
    for (s, identity) in senders.iter().enumerate() {
        let peer = join(&listen, identity, &format!("s{s}"), &dir);
        let offers: Vec<_> = (0..OFFERS_EACH)
            .map(|k| {
                let path = files.join(format!("s{s}-k{k}.txt"));
                std::fs::write(&path, format!("offer {s} {k}")).unwrap();
                let to = targets[(s * OFFERS_EACH + k) % targets.len()];
                let options = transfer::Options {
                    wait: true,
                    listen: Some("127.0.0.1:0".parse().unwrap()),
                    ..transfer::Options::default()
                };
                transfer::send(peer.handle.clone(), to, vec![path], options)
            })
            .collect();
        let stored_tx = stored_tx.clone();
        let stopped = stopped.clone();
        pumps.push(std::thread::spawn(move || {
            smol::block_on(async move {
                let mut all = futures::stream::select_all(offers);
                let session = async {
                    // The session keeps running (and reconnects) while offers wait.
                    while peer.updates.recv().await.is_ok() {}
                };
                let offers = async {
                    while let Some(u) = all.next().await {
                        if let TUpdate::Stored { id } = u
                            && stored_tx.send((s, id)).await.is_err()
                        {
                            return;
                        }
                    }
                };
                let stop = async {
                    let _ = stopped.recv().await;
                };
                futures_lite::future::or(stop, futures_lite::future::or(session, offers)).await;
            });
        }));
    }
    drop(stored_tx);

    // Receipts as they come; SIGKILL after KILL_AFTER_OFFERS of them.
    let mut acknowledged: Vec<(usize, courier_core::proto::TransferId)> = Vec::new();
    while acknowledged.len() < KILL_AFTER_OFFERS {
        match recv_timeout(&stored_rx, Duration::from_secs(30)) {
            Some(x) => acknowledged.push(x),
            None => panic!("only {} offers stored", acknowledged.len()),
        }
    }
    drop(hub);
    while let Ok(x) = stored_rx.try_recv() {
        acknowledged.push(x);
    }
    let hub = start_hub_at(&data, &listen);

    // Each recipient comes back and collects what waits for it.
    let sender_of: HashMap<ClientId, usize> = senders
        .iter()
        .enumerate()
        .map(|(s, i)| (i.id(), s))
        .collect();
    let mut arrived: HashMap<courier_core::proto::TransferId, usize> = HashMap::new();
    for (n, who) in recipients.iter().enumerate() {
        let peer = join(&listen, who, &format!("r{n}"), &dir);
        while let Some(u) = recv_timeout(&peer.updates, Duration::from_secs(2)) {
            if let Update::Event(Event::Offer(o)) = u {
                let s = *sender_of
                    .get(&o.from)
                    .unwrap_or_else(|| panic!("an offer from a stranger: {o:?}"));
                let name = &o.manifest.files[0].path;
                let k: usize = name
                    .strip_prefix(&format!("s{s}-k"))
                    .and_then(|r| r.strip_suffix(".txt"))
                    .and_then(|k| k.parse().ok())
                    .unwrap_or_else(|| panic!("{name} was never offered by s{s}"));
                assert_eq!(
                    targets[(s * OFFERS_EACH + k) % targets.len()],
                    who.id(),
                    "to the right person"
                );
                *arrived.entry(o.id).or_default() += 1;
            }
        }
    }
    for (s, id) in &acknowledged {
        assert_eq!(
            arrived.get(id),
            Some(&1),
            "s{s}'s stored offer {id:?} handed over once"
        );
    }
    assert!(arrived.values().all(|n| *n == 1), "nothing twice");
    eprintln!(
        "offers after the restart: {} handed over ({} acknowledged before the kill)",
        arrived.len(),
        acknowledged.len()
    );
    drop(stop);
    for pump in pumps {
        let _ = pump.join();
    }
    drop(hub);
}
