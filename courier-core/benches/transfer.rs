//! Transfer benchmark on loopback. In the same run, for the same bytes:
//!
//! 1. one large file: a plain TCP copy (file → socket → file, two threads) as the
//!    baseline, then Courier's full path (hub brokering, TLS 1.3 with both certificates
//!    pinned, BLAKE3 on both sides, file written, synced and verified on disk), sender and
//!    receiver each in its own process, direct and then through the hub's relay; prints
//!    the rates and ratios, CPU seconds per GiB (sender + receiver, user + system; the
//!    hub's per relayed GiB) and each side's peak RSS, each beside its goal;
//! 2. a folder of many small files: `tar c | plain TCP | tar x` as the baseline, then
//!    Courier.
//!
//! Figures are medians of alternating rounds.
//!
//! Run: `cargo bench -p courier-core --bench transfer`
//! Environment: `COURIER_BENCH_MIB=1024` (large file size), `COURIER_BENCH_FILES=1000`
//! and `COURIER_BENCH_FILE_KIB=100` (the folder), `COURIER_BENCH_DIR` (scratch space,
//! default the system temp dir; `/dev/shm` for tmpfs), `COURIER_BENCH_ONLY=large|small`,
//! `COURIER_BENCH_ROUNDS=3`, `COURIER_BENCH_RELAY=0` (no relayed runs),
//! `COURIER_BENCH_CPU_BASELINE` (CPU s per GiB the goal halves), `COURIER_BENCH_PIDS=1`
//! (print the sender's and receiver's process ids, for a profiler).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use courier_core::auth::{HubSecret, Password};
use courier_core::hub;
use courier_core::identity::Identity;
use courier_core::proto::{ClientId, Profile};
use courier_core::session::{self, Event, Update as SUpdate};
use courier_core::transfer::{self, Options, Update};
use courier_testkit::bench::{env_u64, fill, settle, tar_copy, tcp_copy};
use futures::StreamExt;

const PW: &str = "bench password";

fn main() {
    match std::env::var("COURIER_BENCH_ROLE").as_deref() {
        Ok("hub") => return child_hub(),
        Ok("receive") => return child_receive(),
        Ok("send") => return child_send(),
        _ => {}
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scratch = std::env::var_os("COURIER_BENCH_DIR")
        .map_or_else(std::env::temp_dir, PathBuf::from)
        .join(format!("courier-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let only = std::env::var("COURIER_BENCH_ONLY").unwrap_or_default();
    let hub = spawn("hub", &[]);
    if only.is_empty() || only == "large" {
        large(&scratch, &hub);
    }
    if only.is_empty() || only == "small" {
        small(&scratch, &hub.line);
    }
    drop(hub);
    let _ = std::fs::remove_dir_all(&scratch);
}

fn rate(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

/// Rounds in which the two sides take turns going first; the median of each side counts.
/// Disk writes on this VM are noisy (the first large write after a pause is often 3-5×
/// faster than the next). Each copy is deleted after its run (a GiB per run would fill a
/// tmpfs); dirty pages are written back before each.
fn rounds() -> u64 {
    env_u64("COURIER_BENCH_ROUNDS", 3).max(1)
}

/// The median of `xs` (the upper one of the middle two).
fn median<T: Copy + PartialOrd>(xs: &[T]) -> T {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// CPU seconds per GiB (sender + receiver) before issue 25's work, on this machine: the
/// goal is half of it. `COURIER_BENCH_CPU_BASELINE` overrides it.
fn cpu_baseline() -> f64 {
    std::env::var("COURIER_BENCH_CPU_BASELINE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CPU_PER_GIB_BEFORE)
}

/// Measured in step 1 of issue 25 at `28fb54a` (docs/BENCHMARKS.md, "Transfer speed":
/// before): 2.51 s on tmpfs, 2.50 s on disk. The "about 3.6 s" came from another
/// counter; the goal is half of what this bench measured.
const CPU_PER_GIB_BEFORE: f64 = 2.5;

fn large(scratch: &Path, hub: &ChildProc) {
    let mib = env_u64("COURIER_BENCH_MIB", 1024);
    let bytes = mib << 20;
    let gib = bytes as f64 / (1u64 << 30) as f64;
    let src = scratch.join("large-src");
    std::fs::create_dir_all(&src).unwrap();
    let file = src.join("big.bin");
    fill(&file, bytes);
    // Read once so every run starts from the page cache.
    std::io::copy(
        &mut std::fs::File::open(&file).unwrap(),
        &mut std::io::sink(),
    )
    .unwrap();
    let relay = std::env::var("COURIER_BENCH_RELAY").as_deref() != Ok("0");
    println!(
        "large file, {mib} MiB (median of {} alternating rounds)",
        rounds()
    );
    // For reading the CPU figures: what hashing alone costs on one core here.
    let data = std::fs::read(&file).unwrap();
    let start = Instant::now();
    let mut hasher = blake3::Hasher::new();
    for chunk in data.chunks(256 << 10) {
        hasher.update(chunk);
    }
    let _ = hasher.finalize();
    let t = start.elapsed();
    drop(data);
    println!(
        "  BLAKE3 alone, one core {:6.2} GB/s  ({:.2} s)",
        rate(bytes, t),
        t.as_secs_f64()
    );
    let (mut tcp, mut direct, mut relayed) = (Vec::new(), Vec::<Run>::new(), Vec::<Run>::new());
    let mut hub_cpu = Vec::new();
    for round in 0..rounds() {
        // Which goes first alternates: on this VM the first writer after a pause is
        // often much faster than the next.
        let mut turns = if round % 2 == 0 {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        if relay {
            turns.push(2);
        }
        for turn in turns {
            settle(&file);
            if turn == 0 {
                let dst = scratch.join(format!("large-tcp-{round}"));
                std::fs::create_dir_all(&dst).unwrap();
                let t = tcp_copy(&file, &dst.join("big.bin"));
                println!(
                    "  plain TCP copy        {:6.2} GB/s  ({:.2} s)",
                    rate(bytes, t),
                    t.as_secs_f64()
                );
                tcp.push(t);
                let _ = std::fs::remove_dir_all(&dst);
                continue;
            }
            let via_relay = turn == 2;
            let dst = scratch.join(format!("large-courier-{round}-{turn}"));
            let hub_before = cpu_secs_of(hub.child.id());
            let r = courier(&hub.line, &dst, &[&file], via_relay);
            let hub_used = cpu_secs_of(hub.child.id()) - hub_before;
            println!(
                "  courier ({:6})      {:6.2} GB/s  ({:.2} s; CPU s: sender {:.2}, receiver {:.2}{})",
                r.route,
                rate(bytes, r.elapsed),
                r.elapsed.as_secs_f64(),
                r.sender_cpu,
                r.receiver_cpu,
                if via_relay {
                    format!(", hub {hub_used:.2}")
                } else {
                    String::new()
                }
            );
            assert_eq!(std::fs::metadata(dst.join("big.bin")).unwrap().len(), bytes);
            let _ = std::fs::remove_dir_all(&dst);
            if via_relay {
                hub_cpu.push(hub_used);
                relayed.push(r);
            } else {
                direct.push(r);
            }
        }
    }
    let tcp_t = median(&tcp);
    let elapsed = |runs: &[Run]| median(&runs.iter().map(|r| r.elapsed).collect::<Vec<_>>());
    let direct_t = elapsed(&direct);
    let cpu: Vec<f64> = direct
        .iter()
        .map(|r| (r.sender_cpu + r.receiver_cpu) / gib)
        .collect();
    let side = |f: fn(&Run) -> f64| median(&direct.iter().map(|r| f(r) / gib).collect::<Vec<_>>());
    println!(
        "  median: plain TCP {:.2} GB/s, courier {:.2} GB/s: ratio {:.2} (goal ≥ 0.55)",
        rate(bytes, tcp_t),
        rate(bytes, direct_t),
        tcp_t.as_secs_f64() / direct_t.as_secs_f64()
    );
    println!(
        "  CPU s per GiB, sender + receiver: {:.2} (sender {:.2}, receiver {:.2}; goal ≤ {:.2}, half of {:.2} before)",
        median(&cpu),
        side(|r| r.sender_cpu),
        side(|r| r.receiver_cpu),
        cpu_baseline() / 2.0,
        cpu_baseline()
    );
    if !relayed.is_empty() {
        let relay_t = elapsed(&relayed);
        println!(
            "  relayed: courier {:.2} GB/s: ratio to plain TCP {:.2} (goal ≥ 0.3); hub CPU s per relayed GiB {:.2}",
            rate(bytes, relay_t),
            tcp_t.as_secs_f64() / relay_t.as_secs_f64(),
            median(&hub_cpu) / gib
        );
    }
    let hwm = |runs: &[Run], f: fn(&Run) -> u64| runs.iter().map(f).max().unwrap_or(0);
    println!(
        "  peak RSS: sender {:.1} MiB, receiver {:.1} MiB (goal ≤ 40)",
        hwm(&direct, |r| r.sender_hwm_kib).max(hwm(&relayed, |r| r.sender_hwm_kib)) as f64 / 1024.0,
        hwm(&direct, |r| r.receiver_hwm_kib).max(hwm(&relayed, |r| r.receiver_hwm_kib)) as f64
            / 1024.0
    );
}

fn small(scratch: &Path, hub: &str) {
    let count = env_u64("COURIER_BENCH_FILES", 1000);
    let kib = env_u64("COURIER_BENCH_FILE_KIB", 100);
    let src = scratch.join("small-src/folder");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..count {
        fill(&src.join(format!("file-{i:05}.bin")), (kib << 10) + i);
    }
    let bytes: u64 = (0..count).map(|i| (kib << 10) + i).sum();
    println!(
        "folder, {count} x {kib} KiB (median of {} alternating rounds)",
        rounds()
    );
    let (mut tars, mut couriers) = (Vec::new(), Vec::new());
    let (mut hwm_s, mut hwm_r) = (0, 0);
    for round in 0..rounds() {
        for courier_turn in [round % 2 == 1, round % 2 == 0] {
            settle(&src);
            if courier_turn {
                let dst = scratch.join(format!("small-courier-{round}"));
                let r = courier(hub, &dst, &[&src], false);
                assert_eq!(
                    std::fs::read_dir(dst.join("folder")).unwrap().count() as u64,
                    count
                );
                println!(
                    "  courier ({})        {:6.0} files/s ({:.2} s; CPU s: sender {:.2}, receiver {:.2})",
                    r.route,
                    count as f64 / r.elapsed.as_secs_f64(),
                    r.elapsed.as_secs_f64(),
                    r.sender_cpu,
                    r.receiver_cpu
                );
                couriers.push(r.elapsed);
                hwm_s = hwm_s.max(r.sender_hwm_kib);
                hwm_r = hwm_r.max(r.receiver_hwm_kib);
                let _ = std::fs::remove_dir_all(&dst);
            } else {
                let dst = scratch.join(format!("small-tar-{round}"));
                std::fs::create_dir_all(&dst).unwrap();
                let t = tar_copy(&src, &dst);
                assert_eq!(
                    std::fs::read_dir(dst.join("folder")).unwrap().count() as u64,
                    count
                );
                println!(
                    "  tar | plain TCP | tar {:6.0} files/s ({:.2} s)",
                    count as f64 / t.as_secs_f64(),
                    t.as_secs_f64()
                );
                tars.push(t);
                let _ = std::fs::remove_dir_all(&dst);
            }
        }
    }
    let (best_tar, best) = (median(&tars), median(&couriers));
    println!(
        "  median: tar|tcp|tar {:.0} files/s ({:.2} GB/s), courier {:.0} files/s ({:.2} GB/s): ratio {:.2} (goal ≥ 1.2)",
        count as f64 / best_tar.as_secs_f64(),
        rate(bytes, best_tar),
        count as f64 / best.as_secs_f64(),
        rate(bytes, best),
        best_tar.as_secs_f64() / best.as_secs_f64()
    );
    println!(
        "  peak RSS: sender {:.1} MiB, receiver {:.1} MiB (goal ≤ 40)",
        hwm_s as f64 / 1024.0,
        hwm_r as f64 / 1024.0
    );
}

struct Run {
    route: String,
    elapsed: Duration,
    sender_cpu: f64,
    receiver_cpu: f64,
    sender_hwm_kib: u64,
    receiver_hwm_kib: u64,
}

/// A receiver and a sender process through the hub; the time is the sender's, from the
/// ticket to the receiver's last verification.
fn courier(hub: &str, dst: &Path, paths: &[&Path], relay: bool) -> Run {
    let route = if relay { "relay" } else { "any" }.to_owned();
    let mut receiver = spawn(
        "receive",
        &[
            ("HUB", hub.to_owned()),
            ("DEST", dst.display().to_string()),
            ("ROUTE", route.clone()),
        ],
    );
    let id = receiver.line.clone();
    let paths = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let mut sender = spawn(
        "send",
        &[
            ("HUB", hub.to_owned()),
            ("TO", id),
            ("PATHS", paths),
            ("ROUTE", route),
        ],
    );
    if std::env::var_os("COURIER_BENCH_PIDS").is_some() {
        println!(
            "  (pids: sender {}, receiver {})",
            sender.child.id(),
            receiver.child.id()
        );
    }
    let sent = sender.next_line();
    let got = receiver.next_line();
    let s: Vec<&str> = sent.split_whitespace().collect();
    let r: Vec<&str> = got.split_whitespace().collect();
    assert_eq!(s.first(), Some(&"ok"), "sender: {sent}");
    assert_eq!(r.first(), Some(&"ok"), "receiver: {got}");
    Run {
        route: s[1].to_owned(),
        elapsed: Duration::from_secs_f64(s[2].parse().unwrap()),
        sender_hwm_kib: s[3].parse().unwrap(),
        sender_cpu: s[4].parse().unwrap(),
        receiver_cpu: r[4].parse().unwrap(),
        receiver_hwm_kib: r[3].parse().unwrap(),
    }
}

// ---------- child processes ----------

struct ChildProc {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    line: String,
}

impl ChildProc {
    fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(role: &str, env: &[(&str, String)]) -> ChildProc {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("COURIER_BENCH_ROLE", role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(format!("COURIER_BENCH_{k}"), v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    ChildProc {
        child,
        out,
        line: line.trim().to_owned(),
    }
}

fn hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) this process has used, all threads.
fn cpu_secs() -> f64 {
    cpu_secs_of(std::process::id())
}

/// CPU seconds (user + system) process `pid` has used, all threads.
fn cpu_secs_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
    (ticks(11) + ticks(12)) / 100.0
}

fn var(k: &str) -> String {
    std::env::var(format!("COURIER_BENCH_{k}")).unwrap()
}

fn child_hub() {
    smol::block_on(async {
        let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        let secret = HubSecret::register(&mut rand::thread_rng(), &Password::new(PW)).unwrap();
        let config = hub::Config::new(Identity::generate().unwrap(), secret);
        hub::serve(listener, config, std::future::pending())
            .await
            .unwrap();
    });
}

fn session(name: &str) -> Updates {
    let config = session::Config::new(
        var("HUB"),
        Identity::generate().unwrap(),
        Password::new(PW),
        Profile::with_name(name),
    );
    Box::pin(session::connect(config))
}

/// Listens on loopback; with `COURIER_BENCH_ROUTE=relay` neither side listens nor waits
/// for a direct way, so the hub's relay is taken at once (as the CLI's `--relay-only`:
/// two machines that cannot reach each other, without the wait for direct ways, which
/// would otherwise count in the relayed time).
fn options() -> Options {
    let relay = std::env::var("COURIER_BENCH_ROUTE").as_deref() == Ok("relay");
    Options {
        listen: (!relay).then(|| "127.0.0.1:0".parse().unwrap()),
        direct_wait: if relay {
            Duration::ZERO
        } else {
            Options::default().direct_wait
        },
        ..Options::default()
    }
}

type Updates = std::pin::Pin<Box<dyn futures::Stream<Item = SUpdate> + Send>>;

/// Logs in as `name`; returns the session stream and its handle.
async fn login(name: &str) -> (Updates, session::Handle) {
    let mut updates = session(name);
    loop {
        if let Some(SUpdate::Connected { handle, .. }) = updates.next().await {
            return (updates, handle);
        }
    }
}

/// Drives the transfer (and the session beside it) to its end and prints
/// `ok ROUTE SECONDS PEAK_RSS_KIB CPU_SECONDS` or `error …`.
async fn report(mut updates: Updates, mut t: transfer::Transfer, cpu_start: f64) {
    let result = loop {
        futures::select! {
            _ = futures::FutureExt::fuse(updates.next()) => {}
            u = t.next() => if let Some(Update::Finished(r)) = u { break r },
        }
    };
    match result {
        Ok(s) => println!(
            "ok {} {} {} {}",
            match s.route {
                transfer::Route::Direct => "direct",
                _ => "relayed",
            },
            s.elapsed.as_secs_f64(),
            hwm_kib(),
            cpu_secs() - cpu_start
        ),
        Err(e) => println!("error {e}"),
    }
}

fn child_receive() {
    smol::block_on(async {
        let (mut updates, handle) = login("receiver").await;
        println!("{}", handle.id().to_hex());
        let offer = loop {
            if let Some(SUpdate::Event(Event::Offer(o))) = updates.next().await {
                break o;
            }
        };
        let cpu_start = cpu_secs();
        let t = transfer::receive(handle, offer, None, PathBuf::from(var("DEST")), options());
        report(updates, t, cpu_start).await;
    });
}

fn child_send() {
    smol::block_on(async {
        let (updates, handle) = login("sender").await;
        println!("ready");
        let to = ClientId::from_hex(&var("TO")).unwrap();
        let paths = var("PATHS").lines().map(PathBuf::from).collect();
        let cpu_start = cpu_secs();
        let t = transfer::send(handle, to, paths, options());
        report(updates, t, cpu_start).await;
    });
}
