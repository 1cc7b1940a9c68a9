//! `courier send` to several contacts at once, with the real binary: one sender, eight
//! receivers as separate processes on a real hub on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_testkit::json::text;
use courier_testkit::process::{ChildGuard, wait_for};
use courier_testkit::{HubProcess as Hub, TempDir};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "many test password";

fn client(hub: &Hub, home: &Path, name: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("COURIER_HUB", hub.addr())
        .env("COURIER_HOME", home.join(name))
        .env("COURIER_NAME", name)
        .env("COURIER_PASSWORD", PW)
        .stdin(Stdio::null());
    c
}

/// Whether every one of `names` shows as online to `probe`.
fn online(hub: &Hub, dir: &Path, names: &[&str]) -> bool {
    let out = client(hub, dir, "probe")
        .args(["who", "--json"])
        .output()
        .unwrap();
    let contacts: Vec<Value> = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    names.iter().all(|n| {
        contacts
            .iter()
            .any(|c| c["name"] == *n && c["online"] == true)
    })
}

/// `courier receive --yes --json --count 1` as `name` into `dir/dl/name` (stdout in
/// `dir/name.out`), plus `extra`.
fn receiver(hub: &Hub, dir: &Path, name: &str, extra: &[&str]) -> ChildGuard {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.out")))
        .unwrap();
    let mut c = client(hub, dir, name);
    c.args(["receive", "--yes", "--json", "--count", "1", "--dir"])
        .arg(dir.join("dl").join(name))
        .args(extra)
        .stdout(out)
        .stderr(Stdio::null());
    ChildGuard(c.spawn().unwrap())
}

/// Bytes under `dir` (files, `.part` files included).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => bytes_under(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The peak resident memory of a running process, from /proc (0 once it is gone).
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Reads the sender's JSON lines as they come (so its stdout never fills up).
fn lines_of(child: &mut Child) -> (Arc<Mutex<Vec<Value>>>, mpsc::Receiver<Value>) {
    let out = BufReader::new(child.stdout.take().unwrap());
    let all = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let keep = all.clone();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let v: Value = serde_json::from_str(&line).unwrap();
            keep.lock().unwrap().push(v.clone());
            let _ = tx.send(v);
        }
    });
    (all, rx)
}

fn about(v: &Value, who: &str, kind: &str) -> bool {
    v["type"] == kind && v["to"]["name"] == who
}

/// The case of issue 23: one sender, eight receivers. r6 and r7 are offline when the
/// files are offered and come back later; r5 declines; r8's process is killed halfway and
/// started again, and its copy resumes. Proves: every accepted copy arrives whole and
/// verified (bytes compared), the decline is not a failure (exit 0), the final report
/// says what happened to each, and the sender's peak memory stays at most 64 MiB.
#[test]
fn files_to_eight_with_offline_declining_and_killed_receivers() {
    let dir = TempDir::new("cli-many");
    let dir = dir.path().to_path_buf();
    let mut cmd = Command::new(BIN);
    cmd.env("COURIER_PASSWORD", PW);
    let hub = Hub::spawn(cmd, "127.0.0.1:0", dir.join("hub"), &[]);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let big: Vec<u8> = (0..48u64 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(src.join("big.bin"), &big).unwrap();
    std::fs::write(src.join("notes.txt"), b"for everyone").unwrap();
    let names = ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"];
    // Everyone is known to the hub; r6 and r7 then stay away.
    for n in names {
        let out = client(&hub, &dir, n).arg("who").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let mut online_now: Vec<ChildGuard> = ["r1", "r2", "r3", "r4"]
        .iter()
        .map(|n| receiver(&hub, &dir, n, &[]))
        .collect();
    // r5 takes files from r1 only: alice's offer is declined.
    online_now.push(receiver(&hub, &dir, "r5", &["--from", "r1"]));
    let mut r8 = receiver(&hub, &dir, "r8", &[]);
    wait_for("the receivers online", Duration::from_secs(30), || {
        online(&hub, &dir, &["r1", "r2", "r3", "r4", "r5", "r8"])
    });

    let mut send = client(&hub, &dir, "alice");
    send.args(["send", "--json"]);
    for n in ["r8", "r5", "r6", "r7", "r1", "r2", "r3", "r4"] {
        send.args(["--to", n]);
    }
    send.arg(src.join("big.bin"))
        .arg(src.join("notes.txt"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut sender = ChildGuard(send.spawn().unwrap());
    let pid = sender.0.id();
    let peak = Arc::new(Mutex::new(0u64));
    let watch = {
        let peak = peak.clone();
        std::thread::spawn(move || {
            while std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let now = peak_rss_kib(pid);
                let mut p = peak.lock().unwrap();
                *p = (*p).max(now);
                drop(p);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let (all, rx) = lines_of(&mut sender.0);

    // r8 dies a third of the way in, and comes back.
    let r8_dir = dir.join("dl").join("r8");
    wait_for("r8 a third of the way", Duration::from_secs(120), || {
        bytes_under(&r8_dir) >= big.len() as u64 / 3
    });
    r8.0.kill().unwrap();
    r8.0.wait().unwrap();
    let had = bytes_under(&r8_dir);
    assert!(had < big.len() as u64, "r8 was killed before the end");
    // r6 and r7 come back once the hub keeps their offers.
    let mut stored = Vec::new();
    while stored.len() < 2 {
        let v = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("stored offers");
        for n in ["r6", "r7"] {
            if about(&v, n, "stored") && !stored.contains(&n) {
                stored.push(n);
            }
        }
    }
    let r6 = receiver(&hub, &dir, "r6", &[]);
    let r7 = receiver(&hub, &dir, "r7", &[]);
    // r8 is started again once its copy was seen lost.
    let seen_lost = |v: &Value| about(v, "r8", "retrying");
    if !all.lock().unwrap().iter().any(seen_lost) {
        while !seen_lost(&rx.recv_timeout(Duration::from_secs(60)).expect("r8 lost")) {}
    }
    let r8 = receiver(&hub, &dir, "r8", &[]);

    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(st) = sender.0.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let seen: Vec<String> = all
                .lock()
                .unwrap()
                .iter()
                .filter(|v| v["type"] != "progress")
                .map(ToString::to_string)
                .collect();
            panic!("the sender did not finish; it said:\n{}", seen.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    watch.join().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut sender.0.stderr.take().unwrap(), &mut err).unwrap();
    // Give the reader thread the last lines.
    wait_for("the result line", Duration::from_secs(10), || {
        all.lock().unwrap().iter().any(|v| v["type"] == "result")
    });
    let lines = all.lock().unwrap().clone();
    let result = lines.iter().find(|v| v["type"] == "result").unwrap();
    assert_eq!(status.code(), Some(0), "{result}\n{err}");
    assert_eq!(result["status"], "ok");
    assert_eq!(
        (&result["verified"], &result["declined"], &result["failed"]),
        (&7.into(), &1.into(), &0.into())
    );
    let of = |n: &str| -> Value {
        result["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["to"]["name"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(of("r5")["status"], "declined");
    for n in ["r6", "r7"] {
        assert_eq!(of(n)["status"], "offline-then-delivered", "{}", of(n));
    }
    for n in ["r1", "r2", "r3", "r4", "r8"] {
        assert_eq!(of(n)["status"], "verified", "{}", of(n));
    }
    let r8_report = of("r8");
    assert!(r8_report["attempts"].as_u64().unwrap() >= 2, "{r8_report}");
    assert!(
        r8_report["resumed"].as_u64().unwrap() > 0,
        "r8 resumed: {r8_report}"
    );
    // Every accepted copy is whole.
    for n in ["r1", "r2", "r3", "r4", "r6", "r7", "r8"] {
        let got: PathBuf = dir.join("dl").join(n);
        assert!(
            std::fs::read(got.join("big.bin")).unwrap() == big,
            "{n}'s copy"
        );
        assert_eq!(
            std::fs::read(got.join("notes.txt")).unwrap(),
            b"for everyone"
        );
    }
    assert!(!dir.join("dl").join("r5").join("big.bin").exists());
    let peak = *peak.lock().unwrap();
    assert!(
        peak > 0 && peak <= 64 * 1024,
        "sender's peak RSS {peak} KiB"
    );
    eprintln!(
        "sender's peak RSS: {peak} KiB; read from disk: {}",
        result["read_from_disk"]
    );
    drop((online_now, r6, r7, r8));
}
