//! Issue 11, nothing the hub acknowledged is lost: a real `courier hub` process with its
//! database, killed with SIGKILL while 10 000 messages to offline contacts pour in, and
//! started again on the same folder. Every message that got a `stored` receipt reaches
//! its recipient, once, with its original sender and time; nothing arrives that was
//! never sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use courier_core::auth::Password;
use courier_core::identity::Identity;
use courier_core::proto::{ClientId, Delivery, MsgId, Profile, Target};
use courier_core::session::{self, Event, Handle, Update};
use futures::StreamExt;

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "durable test password";
const RECIPIENTS: usize = 20;
const MESSAGES: usize = 10_000;
/// The hub is killed once this many `stored` receipts came back.
const KILL_AFTER: usize = 4_000;

struct Hub {
    child: Child,
    addr: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_hub(data: &Path) -> Hub {
    let mut child = Command::new(BIN)
        .args(["hub", "--json", "--listen", "127.0.0.1:0"])
        // Room for every message, and a sender fast enough to fill it in seconds.
        .args(["--offline-messages", "1000", "--message-rate", "100000"])
        .arg("--data-dir")
        .arg(data)
        .env("COURIER_PASSWORD", PW)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).expect("the hub's JSON line");
    Hub {
        child,
        addr: info["listen"].as_str().unwrap().to_owned(),
    }
}

/// A logged-in session, its updates forwarded to a channel; dropping it disconnects.
struct Peer {
    handle: Handle,
    updates: async_channel::Receiver<Update>,
    stop: async_channel::Sender<()>,
    pump: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.close();
        if let Some(pump) = self.pump.take() {
            let _ = pump.join();
        }
    }
}

fn join(hub: &str, identity: &Identity, name: &str) -> Peer {
    let config = session::Config::new(
        hub,
        identity.clone(),
        Password::new(PW),
        Profile::with_name(name),
    );
    let (tx, updates) = async_channel::unbounded();
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let pump = std::thread::spawn(move || {
        smol::block_on(async move {
            let mut stream = Box::pin(session::connect(config));
            loop {
                let next = futures_lite::future::or(async { stream.next().await }, async {
                    let _ = stopped.recv().await;
                    None
                });
                let Some(u) = next.await else { break };
                if tx.send(u).await.is_err() {
                    break;
                }
            }
        });
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match recv_timeout(&updates, left) {
            Some(Update::Connected { handle, .. }) => {
                return Peer {
                    handle,
                    updates,
                    stop,
                    pump: Some(pump),
                };
            }
            Some(_) => {}
            None => panic!("{name} could not log in"),
        }
    }
}

fn recv_timeout<T>(rx: &async_channel::Receiver<T>, wait: Duration) -> Option<T> {
    smol::block_on(futures_lite::future::or(
        async { rx.recv().await.ok() },
        async {
            smol::Timer::after(wait).await;
            None
        },
    ))
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("courier-durable-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_hub_killed_mid_storm_delivers_every_stored_message_exactly_once() {
    let dir = scratch("storm");
    let data = dir.join("hub");
    let hub = start_hub(&data);

    // Recipients come once (so the hub knows them) and leave; the sender watches them go.
    let sender_identity = Identity::generate().unwrap();
    let sender = join(&hub.addr, &sender_identity, "sender");
    let recipients: Vec<Identity> = (0..RECIPIENTS)
        .map(|_| Identity::generate().unwrap())
        .collect();
    for (n, who) in recipients.iter().enumerate() {
        drop(join(&hub.addr, who, &format!("r{n}")));
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
        let peer = join(&hub.addr, who, &format!("r{n}"));
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
    let _ = std::fs::remove_dir_all(&dir);
}
