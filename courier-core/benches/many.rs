//! Files to many, on loopback. In the same run, for the same file and the same ten
//! receivers (each its own process, logged in to a hub in a third):
//!
//! 1. the baseline: the file sent to the ten **one after another** (ten `transfer::send`);
//! 2. `transfer::many::send` to the ten with the default cap (4 copies at once);
//! 3. the same with a cap of 8 (the hub's burst of offers, so all eight start together)
//!    and 10 (all at once: the last two offers keep to the hub's pace of 2 a second, and
//!    the first eight wait at the start line for them).
//!
//! For each: the whole send's wall time (first offer to the last verification), the ratio
//! to the baseline (goal ≤ 1.0), and the bytes the sending process read: `rchar` of
//! `/proc/self/io` (every byte `read(2)` returned, page cache or not: the source's reads,
//! since sockets are read with `recv(2)`, which `rchar` does not count) and `read_bytes`
//! (what reached the block device: about 0 when the file is in the page cache), and the
//! sender's peak RSS.
//!
//! Run: `cargo bench -p courier-core --bench many`
//! Environment: `COURIER_BENCH_MIB=256` (file size), `COURIER_BENCH_RECEIVERS=10`,
//! `COURIER_BENCH_DIR` (scratch space, default the system temp dir).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

#[path = "common/hub_process.rs"]
mod hub_process;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use courier_core::auth::Password;
use courier_core::identity::Identity;
use courier_core::proto::{ClientId, Profile};
use courier_core::session::{self, Event, Update as SUpdate};
use courier_core::transfer::{self, Options, Update, many};
use futures::StreamExt;

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn var(k: &str) -> String {
    std::env::var(format!("COURIER_BENCH_{k}")).unwrap()
}

/// The runs, in order; each receiver takes one offer per run.
const RUNS: [(&str, usize); 4] = [
    ("one after another", 0),
    ("many, cap 4", 4),
    ("many, cap 8", 8),
    ("many, cap 10", 10),
];

fn main() {
    match std::env::var("COURIER_BENCH_ROLE").as_deref() {
        Ok("hub") => return hub_process::child_hub(),
        Ok("receive") => return child_receive(),
        Ok("send") => return child_send(),
        _ => {}
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scratch = std::env::var_os("COURIER_BENCH_DIR")
        .map_or_else(std::env::temp_dir, PathBuf::from)
        .join(format!("courier-bench-many-{}", std::process::id()));
    std::fs::create_dir_all(scratch.join("hub")).unwrap();
    let mib = env_u64("COURIER_BENCH_MIB", 256);
    let n = env_u64("COURIER_BENCH_RECEIVERS", 10);
    let file = scratch.join("source.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        let block: Vec<u8> = (0..1u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        for _ in 0..mib {
            f.write_all(&block).unwrap();
        }
    }
    let hub = hub_process::spawn_hub(&scratch.join("hub"));
    let receivers: Vec<Proc> = (0..n)
        .map(|i| {
            let dest = scratch.join(format!("r{i}"));
            std::fs::create_dir_all(&dest).unwrap();
            spawn(
                "receive",
                &[
                    ("HUB", hub.addr.clone()),
                    ("NAME", format!("r{i}")),
                    ("DEST", dest.display().to_string()),
                ],
            )
        })
        .collect();
    let ids: Vec<String> = receivers.iter().map(|r| r.line.clone()).collect();
    let mut sender = spawn(
        "send",
        &[
            ("HUB", hub.addr.clone()),
            ("TO", ids.join(",")),
            ("FILE", file.display().to_string()),
        ],
    );
    println!(
        "files to many: one {mib} MiB file to {n} receivers on loopback (each its own process)"
    );
    println!(
        "{:<20} {:>9} {:>7} {:>16} {:>16} {:>12}",
        "run", "seconds", "ratio", "rchar (× file)", "read_bytes", "sender RSS"
    );
    let size = mib << 20;
    let mut base = None;
    for (name, _) in RUNS {
        let line = sender.next_line();
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.first(), Some(&"ok"), "sender: {line}");
        let secs: f64 = f[1].parse().unwrap();
        let rchar: u64 = f[2].parse().unwrap();
        let read_bytes: u64 = f[3].parse().unwrap();
        let hwm: u64 = f[4].parse().unwrap();
        let base = *base.get_or_insert(secs);
        println!(
            "{name:<20} {secs:>9.2} {:>6.2}x {:>9.1} MiB ({:.2}) {:>12.1} MiB {:>8.1} MiB",
            secs / base,
            rchar as f64 / 1048576.0,
            rchar as f64 / size as f64,
            read_bytes as f64 / 1048576.0,
            hwm as f64 / 1024.0,
        );
        // Room for the next run.
        for i in 0..n {
            for e in std::fs::read_dir(scratch.join(format!("r{i}"))).unwrap() {
                let _ = std::fs::remove_file(e.unwrap().path());
            }
        }
        sender.say("next");
    }
    drop(sender);
    drop(receivers);
    drop(hub);
    let _ = std::fs::remove_dir_all(&scratch);
}

// ---------- child processes ----------

struct Proc {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    line: String,
}

impl Proc {
    fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }

    fn say(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(role: &str, env: &[(&str, String)]) -> Proc {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("COURIER_BENCH_ROLE", role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(format!("COURIER_BENCH_{k}"), v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    Proc {
        child,
        out,
        line: line.trim().to_owned(),
    }
}

/// `(rchar, read_bytes)` of this process so far.
fn io() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("rchar:"), field("read_bytes:"))
}

fn hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next().and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

type Updates = std::pin::Pin<Box<dyn futures::Stream<Item = SUpdate> + Send>>;

fn options() -> Options {
    Options {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Options::default()
    }
}

async fn login(name: &str) -> (Updates, session::Handle) {
    let config = session::Config::new(
        var("HUB"),
        Identity::generate().unwrap(),
        Password::new(hub_process::PW),
        Profile::with_name(name),
    );
    let mut updates: Updates = Box::pin(session::connect(config));
    loop {
        if let Some(SUpdate::Connected { handle, .. }) = updates.next().await {
            return (updates, handle);
        }
    }
}

/// Takes one offer per run, each to its end, keeping the session polled.
fn child_receive() {
    smol::block_on(async {
        let (mut updates, handle) = login(&var("NAME")).await;
        println!("{}", handle.id().to_hex());
        for _ in RUNS {
            let offer = loop {
                if let Some(SUpdate::Event(Event::Offer(o))) = updates.next().await {
                    break o;
                }
            };
            let dest = PathBuf::from(var("DEST"));
            let mut t = transfer::receive(handle.clone(), offer, None, dest, options());
            loop {
                futures::select! {
                    _ = futures::FutureExt::fuse(updates.next()) => {}
                    u = t.next() => if let Some(Update::Finished(r)) = u {
                        r.unwrap();
                        break;
                    },
                }
            }
        }
        std::future::pending::<()>().await;
    });
}

/// Runs the three sends; after each prints `ok SECONDS RCHAR READ_BYTES PEAK_RSS_KIB`
/// and waits for a line on stdin.
fn child_send() {
    smol::block_on(async {
        let (mut updates, handle) = login("sender").await;
        println!("ready");
        let to: Vec<ClientId> = var("TO")
            .split(',')
            .map(|h| ClientId::from_hex(h).unwrap())
            .collect();
        let file = PathBuf::from(var("FILE"));
        let mut stdin = BufReader::new(std::io::stdin());
        for (_, cap) in RUNS {
            let (rchar, read_bytes) = io();
            let started = Instant::now();
            if cap == 0 {
                for &who in &to {
                    let t = transfer::send(handle.clone(), who, vec![file.clone()], options());
                    drive(
                        &mut updates,
                        t.map(|u| match u {
                            Update::Finished(r) => {
                                r.unwrap();
                                true
                            }
                            _ => false,
                        }),
                    )
                    .await;
                }
            } else {
                let config = many::Config {
                    running: cap,
                    ..many::Config::default()
                };
                let m = many::send(
                    handle.clone(),
                    to.clone(),
                    vec![file.clone()],
                    options(),
                    config,
                );
                let finished = |u: many::Update| match u {
                    many::Update::Finished(r) => {
                        let report = r.unwrap();
                        assert!(report.all_verified(), "{report:?}");
                        true
                    }
                    _ => false,
                };
                drive(&mut updates, m.map(finished)).await;
            }
            let secs = started.elapsed().as_secs_f64();
            let (rchar2, read_bytes2) = io();
            println!(
                "ok {secs} {} {} {}",
                rchar2 - rchar,
                read_bytes2 - read_bytes,
                hwm_kib()
            );
            let mut line = String::new();
            stdin.read_line(&mut line).unwrap();
        }
    });
}

/// Polls `updates` beside `stream` until the stream says it finished (`true`).
async fn drive(updates: &mut Updates, stream: impl futures::Stream<Item = bool> + Unpin) {
    let mut stream = stream.fuse();
    loop {
        futures::select! {
            _ = futures::FutureExt::fuse(updates.next()) => {}
            done = stream.next() => if done != Some(false) { return },
        }
    }
}
