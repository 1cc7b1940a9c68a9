//! Looking at a running hub (issue 26): `courier hub --metrics` scraped during a load of
//! real clients, and `courier hub status`, with the real binary on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Peer, recv_timeout};
use courier_core::identity::Identity;
use courier_core::proto::{ClientId, Delivery, Target};
use courier_core::session::{Event, Update};
use courier_testkit::json::text;
use courier_testkit::{HubProcess as Hub, TempDir};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "observe test password";

fn start_hub(data: &Path, extra: &[&str]) -> Hub {
    let mut cmd = Command::new(BIN);
    cmd.env("COURIER_PASSWORD", PW);
    let mut args = vec!["--no-advertise", "--message-rate", "10000"];
    args.extend_from_slice(extra);
    Hub::spawn(cmd, "127.0.0.1:0", data, &args)
}

/// Logs `name` in (a new identity, its keys in a folder under `dir`).
fn join(hub: &Hub, name: &str, dir: &Path) -> Peer {
    let identity = Identity::generate().unwrap();
    let keys = dir.join(format!("keys-{name}"));
    common::join(
        hub.addr(),
        &identity,
        PW,
        name,
        &keys,
        Duration::from_secs(60),
    )
}

/// `GET path` on `addr`: the status code and the body.
fn get(addr: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n"
    )
    .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or_default()
        .to_owned();
    (code, content_type, body.to_owned())
}

/// A scrape, parsed; every sample has its help, counters are counters.
fn scrape(addr: &str) -> (String, prometheus_parse::Scrape) {
    let (code, content_type, body) = get(addr, "/metrics");
    assert_eq!(code, 200, "{body}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let parsed = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert!(parsed.samples.len() >= 20, "{body}");
    for s in &parsed.samples {
        assert!(s.metric.starts_with("courier_"), "{}", s.metric);
        // The parser gives a histogram's sum and count as samples of their own.
        let family = ["_sum", "_count"]
            .iter()
            .find_map(|x| s.metric.strip_suffix(x))
            .filter(|f| parsed.docs.contains_key(*f))
            .unwrap_or(&s.metric);
        assert!(parsed.docs.contains_key(family), "no HELP for {}", s.metric);
        let counter = matches!(s.value, prometheus_parse::Value::Counter(_));
        assert_eq!(
            counter,
            s.metric.ends_with("_total"),
            "{}: {:?}",
            s.metric,
            s.value
        );
    }
    (body, parsed)
}

fn value(scrape: &prometheus_parse::Scrape, name: &str) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == name)
        .unwrap_or_else(|| panic!("no {name}"));
    match &s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        other => panic!("{name}: {other:?}"),
    }
}

/// Ten members send each other and an offline member `PER_PAIR` messages each while the
/// metrics are scraped. Proves: the counters add up (routed == what the clients
/// received == `delivered` receipts; stored == `stored` receipts == the backlog; login
/// failures == the wrong passwords tried), the text parses with a Prometheus parser (a
/// HELP for each series, counters typed as counters, the commit time a histogram), and
/// no name of a member is anywhere in it.
#[test]
fn metrics_add_up_during_a_load_and_carry_no_names() {
    const CLIENTS: usize = 10;
    const PER_PAIR: usize = 3;
    let dir = TempDir::new("observe-load");
    let hub = start_hub(&dir.join("hub"), &["--metrics", "127.0.0.1:0"]);
    let metrics = hub.info()["metrics"].as_str().unwrap().to_owned();
    let names: Vec<String> = (0..CLIENTS).map(|i| format!("zelda-member-{i}")).collect();
    let away_name = "yorick-away";
    let away = join(&hub, away_name, &dir);
    let away_id = away.id;
    drop(away);
    let peers: Vec<Peer> = names.iter().map(|n| join(&hub, n, &dir)).collect();
    let ids: Vec<ClientId> = peers.iter().map(|p| p.id).collect();
    // Three wrong passwords, from a device the hub does not remember.
    for i in 0..3 {
        let out: Output = Command::new(BIN)
            .env("COURIER_HUB", hub.addr())
            .env("COURIER_HOME", dir.join(format!("mallory-{i}")))
            .env("COURIER_NAME", "mallory")
            .env("COURIER_PASSWORD", "not the password")
            .stdin(Stdio::null())
            .args(["who"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    }
    // Everyone sends at once, each from a thread of its own.
    let senders: Vec<_> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let handle = p.handle.clone();
            let mut to: Vec<ClientId> = ids.iter().copied().filter(|id| *id != ids[i]).collect();
            to.push(away_id);
            std::thread::spawn(move || {
                smol::block_on(async {
                    for n in 0..PER_PAIR {
                        for t in &to {
                            handle
                                .send_message(Target::Client(*t), format!("m{n}"))
                                .await
                                .unwrap();
                        }
                    }
                });
            })
        })
        .collect();
    let mut scrapes = vec![scrape(&metrics)];
    let expected_receipts = CLIENTS * CLIENTS * PER_PAIR;
    let mut received = 0usize;
    let mut receipts: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while receipts.values().sum::<usize>() < expected_receipts
        || received < CLIENTS * (CLIENTS - 1) * PER_PAIR
    {
        assert!(
            Instant::now() < deadline,
            "{received} received, receipts {receipts:?}"
        );
        let mut quiet = true;
        for p in &peers {
            while let Ok(u) = p.updates.try_recv() {
                quiet = false;
                match u {
                    Update::Event(Event::Message(_)) => received += 1,
                    Update::Event(Event::Receipt { status, .. }) => {
                        *receipts.entry(format!("{status:?}")).or_default() += 1;
                    }
                    _ => {}
                }
            }
        }
        if quiet {
            scrapes.push(scrape(&metrics));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for s in senders {
        s.join().unwrap();
    }
    // The hub gives the same answer for a second (HUB.md, Metrics): the last scrape
    // comes after that, so it counts everything above.
    std::thread::sleep(Duration::from_millis(1100));
    let (body, last) = scrape(&metrics);
    let delivered = receipts.get(&format!("{:?}", Delivery::Delivered)).copied();
    let stored = receipts.get(&format!("{:?}", Delivery::Stored)).copied();
    assert_eq!(
        value(&last, "courier_messages_routed_total") as usize,
        received
    );
    assert_eq!(delivered, Some(received), "{receipts:?}");
    assert_eq!(stored, Some(CLIENTS * PER_PAIR), "{receipts:?}");
    assert_eq!(
        value(&last, "courier_messages_stored_total") as usize,
        CLIENTS * PER_PAIR
    );
    assert_eq!(
        value(&last, "courier_backlog_messages") as usize,
        CLIENTS * PER_PAIR
    );
    assert_eq!(value(&last, "courier_login_failures_total"), 3.0);
    assert_eq!(value(&last, "courier_members_online") as usize, CLIENTS);
    assert!(value(&last, "courier_logins_total") as usize > CLIENTS);
    assert!(value(&last, "courier_members_known") as usize > CLIENTS);
    // Stored messages were committed: the commit time histogram saw them.
    let commits = last
        .samples
        .iter()
        .find(|s| s.metric == "courier_db_commit_seconds")
        .unwrap();
    let prometheus_parse::Value::Histogram(buckets) = &commits.value else {
        panic!("{:?}", commits.value)
    };
    assert!(
        buckets
            .iter()
            .any(|b| b.less_than.is_infinite() && b.count >= 1.0)
    );
    if cfg!(target_os = "linux") {
        assert!(value(&last, "courier_resident_memory_bytes") > 1e6);
    }
    scrapes.push((body, last));
    // Counters never went back between scrapes.
    for pair in scrapes.windows(2) {
        let (before, after) = (&pair[0].1, &pair[1].1);
        for name in [
            "courier_messages_routed_total",
            "courier_messages_stored_total",
        ] {
            assert!(value(before, name) <= value(after, name), "{name}");
        }
    }
    // No name anywhere: not in a label value, not anywhere in the text.
    for (text, parsed) in &scrapes {
        for s in &parsed.samples {
            for (k, v) in s.labels.iter() {
                assert_eq!(k, "le", "{}: the only label is the histogram's", s.metric);
                assert!(!v.contains("member") && !v.contains("yorick"), "{v}");
            }
        }
        for name in names
            .iter()
            .map(String::as_str)
            .chain([away_name, "mallory", "zelda"])
        {
            assert!(!text.contains(name), "{name} in the metrics");
        }
    }
    // Anything but GET /metrics is a 404.
    assert_eq!(get(&metrics, "/").0, 404);
    assert_eq!(get(&metrics, "/metrics.json").0, 404);
}

/// A scrape, or `None` when the connection is closed without an answer.
fn try_scrape(addr: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut all = String::new();
    s.read_to_string(&mut all).ok()?;
    all.split(' ').nth(1)?.parse().ok()
}

/// A client that opens the metrics port and never finishes its request stops nobody;
/// a crowd of them (more than the hub answers at once) is closed or dropped at the
/// deadline, and scrapes are answered again.
#[test]
fn clients_holding_the_metrics_port_stop_nobody_for_long() {
    let dir = TempDir::new("observe-held");
    let hub = start_hub(&dir.join("hub"), &["--metrics", "127.0.0.1:0"]);
    let metrics = hub.info()["metrics"].as_str().unwrap().to_owned();
    let mut held = TcpStream::connect(&metrics).unwrap();
    held.write_all(b"GET /metr").unwrap();
    assert_eq!(try_scrape(&metrics), Some(200));
    let crowd: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&metrics).unwrap();
            let _ = s.write_all(b"GET /metr");
            s
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while try_scrape(&metrics) != Some(200) {
        assert!(Instant::now() < deadline, "scrapes never answered again");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop((held, crowd));
}

/// Listening sockets of process `pid` (Linux: /proc), as ports.
#[cfg(target_os = "linux")]
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(t) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in t.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // Local address, state (0A: listening), inode.
            if f.get(3) == Some(&"0A") && f.get(9).is_some_and(|i| inodes.iter().any(|x| x == i)) {
                let port = f[1].rsplit(':').next().unwrap();
                ports.push(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports.sort_unstable();
    ports
}

/// Without `--metrics` nothing serves them: the hub listens on its own port and its
/// status port, nothing else, and its startup line names no metrics address.
#[cfg(target_os = "linux")]
#[test]
fn metrics_are_off_by_default() {
    let dir = TempDir::new("observe-off");
    let hub = start_hub(&dir.join("hub"), &[]);
    assert!(hub.info().get("metrics").is_none(), "{}", hub.info());
    let status = status_file(&dir.join("hub"));
    let hub_port: u16 = hub.addr().rsplit(':').next().unwrap().parse().unwrap();
    let mut expected = vec![hub_port, status["port"].as_u64().unwrap() as u16];
    expected.sort_unstable();
    assert_eq!(listening_ports(hub.id()), expected);
    // With it, one more.
    let dir = TempDir::new("observe-on");
    let hub = start_hub(&dir.join("hub"), &["--metrics", "127.0.0.1:0"]);
    assert_eq!(listening_ports(hub.id()).len(), 3);
}

fn status_file(data: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(data.join("hub.status")).unwrap()).unwrap()
}

fn status(data: &Path, json: bool) -> Output {
    let mut c = Command::new(BIN);
    c.args(["hub", "status", "--data-dir"]).arg(data);
    if json {
        c.arg("--json");
    }
    c.env_remove("COURIER_HUB_DATA").output().unwrap()
}

/// `courier hub status` on a running hub, read from the hub and not from its database:
/// with hub.db moved away it still answers (and makes none). Proves the address, the
/// members online by name, the backlog, the human table; that a client holding the
/// status port open does not block it, and a wrong token gets nothing.
#[test]
fn status_of_a_running_hub_comes_from_the_hub_not_its_database() {
    let dir = TempDir::new("observe-status");
    let data = dir.join("hub");
    let hub = start_hub(&data, &[]);
    let away = join(&hub, "away-one", &dir);
    let away_id = away.id;
    drop(away);
    let alice = join(&hub, "alice", &dir);
    let _bob = join(&hub, "bob", &dir);
    for n in 0..4 {
        smol::block_on(
            alice
                .handle
                .send_message(Target::Client(away_id), format!("m{n}")),
        )
        .unwrap();
    }
    let mut stored = 0;
    while stored < 4 {
        match recv_timeout(&alice.updates, Duration::from_secs(30)) {
            Some(Update::Event(Event::Receipt { status, .. })) => {
                assert_eq!(status, Delivery::Stored);
                stored += 1;
            }
            Some(_) => {}
            None => panic!("no receipts"),
        }
    }
    // A client that holds the status port and says nothing.
    let port = status_file(&data)["port"].as_u64().unwrap();
    let _stuck = TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    // A wrong token: the connection is closed with no answer.
    let mut wrong = TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    wrong
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    wrong.write_all(&[b'0'; 64]).unwrap();
    wrong.write_all(b"\n").unwrap();
    let mut got = Vec::new();
    let _ = wrong.read_to_end(&mut got);
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));

    let db = data.join("hub.db");
    let moved = data.join("hub.db.moved");
    std::fs::rename(&db, &moved).unwrap();
    let out = status(&data, true);
    let human = status(&data, false);
    assert!(!db.exists(), "status opened no database");
    std::fs::rename(&moved, &db).unwrap();

    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(v["running"], true);
    assert_eq!(v["listen"], hub.addr());
    assert_eq!(v["pid"], hub.id());
    assert_eq!(v["safety_code"], hub.safety_code());
    assert_eq!(v["backlog"]["messages"], 4);
    assert_eq!(v["members_online"], 2);
    let online: Vec<&str> = v["online"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(online, ["alice", "bob"]);
    assert!(v["uptime_secs"].as_u64().is_some());
    assert_eq!(v["metrics"], Value::Null);

    assert_eq!(human.status.code(), Some(0), "{}", text(&human.stderr));
    let table = text(&human.stdout);
    for line in [
        "A hub is running on",
        &format!("listening on  {}", hub.addr()),
        "backlog       4 messages",
        "online        2 members",
        "alice",
        "bob",
        "metrics       off",
    ] {
        assert!(table.contains(line), "{line:?} not in\n{table}");
    }
    assert!(!table.contains("away-one"), "{table}");
}

/// No hub: a folder never used, a hub killed (its hub.status left behind), a hub
/// stopped with Ctrl-C (its hub.status removed). Each says so, with exit code 3 and
/// `{"running": false}`.
#[test]
fn status_says_when_no_hub_runs_even_after_a_crash() {
    let dir = TempDir::new("observe-gone");
    let data = dir.join("hub");
    let not_running = |why: &str| {
        let out = status(&data, false);
        assert_eq!(out.status.code(), Some(3), "{why}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout).trim(),
            format!("no hub is running on {}", data.display()),
            "{why}"
        );
        let out = status(&data, true);
        assert_eq!(out.status.code(), Some(3), "{why}");
        let v: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
        assert_eq!(v, serde_json::json!({ "running": false }), "{why}");
    };
    not_running("never started");
    assert!(!data.exists(), "status makes no folder");

    let hub = start_hub(&data, &[]);
    assert_eq!(status(&data, true).status.code(), Some(0));
    drop(hub); // SIGKILL: what a crash looks like
    assert!(data.join("hub.status").exists(), "left behind by the crash");
    not_running("killed");

    #[cfg(unix)]
    {
        let mut hub = start_hub(&data, &[]);
        assert_eq!(status(&data, true).status.code(), Some(0));
        assert!(hub.interrupt(Duration::from_secs(30)).success());
        assert!(!data.join("hub.status").exists(), "removed at a clean stop");
        not_running("stopped");
    }
}

/// A hub killed, and another local program on the loopback port its hub.status names,
/// answering `running: true` with a made-up status full of escape sequences. Without
/// the proof only the hub knows, it is not shown: exit 3, "no hub is running", a note
/// that something else holds the port, and not one ESC byte on stdout.
#[test]
fn a_program_on_a_dead_hubs_status_port_cannot_pass_for_the_hub() {
    use std::net::TcpListener;
    let dir = TempDir::new("observe-impostor");
    let data = dir.join("hub");
    std::fs::create_dir_all(&data).unwrap();
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = fake.local_addr().unwrap().port();
    // The pid is this test's own: alive, as the pid of a killed hub reused would be.
    let pid = std::process::id();
    let file = serde_json::json!({
        "port": port, "token": "ab".repeat(32), "proof": "cd".repeat(32), "pid": pid,
    });
    std::fs::write(data.join("hub.status"), format!("{file}\n")).unwrap();
    let lie = serde_json::json!({
        "running": true,
        "pid": pid,
        "proof": "ef".repeat(32),
        "listen": "\u{1b}[2J0.0.0.0:8977",
        "addresses": ["\u{1b}[31m192.0.2.66:8977"],
        "safety_code": "\u{1b}]0;owned\u{7}1234 5678",
        "metrics": "\u{1b}[8m127.0.0.1:1",
        "uptime_secs": 5,
        "online": [{ "short": "\u{1b}[1mabcd", "name": "\u{1b}[5mmallory", "connections": 1 }],
        "backlog": {},
    });
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = fake.accept().unwrap();
            let mut line = [0u8; 65];
            let _ = s.read_exact(&mut line);
            let _ = writeln!(s, "{lie}");
        }
    });
    for json in [false, true] {
        let out = status(&data, json);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
        assert!(!out.stdout.contains(&0x1b), "{}", text(&out.stdout));
        assert!(
            text(&out.stderr).contains("something other than the hub holds its status port"),
            "{}",
            text(&out.stderr)
        );
    }
    server.join().unwrap();
}

/// Idle connections that hold every place of the status and metrics ports (opened again
/// as soon as they are closed) keep no real asker out: the oldest idle one gives way, so
/// a scrape is answered and `courier hub status` finds the hub (never "not running").
#[test]
fn idle_connections_holding_every_place_keep_no_asker_out() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = TempDir::new("observe-idle");
    let data = dir.join("hub");
    let hub = start_hub(&data, &["--metrics", "127.0.0.1:0"]);
    let metrics = hub.info()["metrics"].as_str().unwrap().to_owned();
    let status_port = format!("127.0.0.1:{}", status_file(&data)["port"].as_u64().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let holder = {
        let (stop, ports) = (stop.clone(), [metrics.clone(), status_port]);
        std::thread::spawn(move || {
            let open = |addr: &str| {
                let s = TcpStream::connect(addr).unwrap();
                s.set_nonblocking(true).unwrap();
                s
            };
            let mut held: Vec<(usize, TcpStream)> =
                (0..24).map(|i| (i % 2, open(&ports[i % 2]))).collect();
            while !stop.load(Ordering::Relaxed) {
                for (which, s) in &mut held {
                    let mut byte = [0u8; 1];
                    let closed = match s.read(&mut byte) {
                        Ok(n) => n == 0,
                        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                    };
                    if closed {
                        *s = open(&ports[*which]);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let deadline = Instant::now() + Duration::from_secs(30);
    while try_scrape(&metrics) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "no scrape answered past the idle crowd"
        );
    }
    for _ in 0..3 {
        let out = status(&data, true);
        assert_ne!(
            out.status.code(),
            Some(3),
            "said not running: {}",
            text(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    stop.store(true, Ordering::Relaxed);
    holder.join().unwrap();
}
