//! Routing benchmark through a real hub (separate process, with its database as `courier
//! hub` runs) on loopback, with a plain-TCP relay doing the same routing as the baseline
//! in the same run.
//!
//! Reports, for N = 2, 100, 1000 clients sending 1:1 100-byte messages: routed msg/s at
//! full load (courier vs baseline, and the ratio); p50/p99 latency at an offered load of
//! 10 000 msg/s with 1000 clients; login time (total, client-side Argon2 stretch, and the
//! rest); hub RSS per idle logged-in client.
//!
//! Run: `ulimit -n 65536; cargo bench -p courier-core --bench routing`
//! Environment: `COURIER_BENCH_IDLE=1000,10000` (idle client counts),
//! `COURIER_BENCH_SECS=3` (measurement window), `COURIER_BENCH_CLIENTS=2,100,1000`
//! (client counts for the throughput table),
//! `COURIER_BENCH_ONLY=throughput,advertise,sealed,group,latency,login,restart,idle`.
//!
//! The `latency` section (`benches/routing/latency.rs`) checks issue 25's bar (p99 ≤ 1 ms
//! at 10 000 msg/s, every message of the window received) beside the relay; built with
//! `--features stage-trace` and run with `COURIER_BENCH_STAGES=1` it also prints where
//! the messages waited (`benches/routing/stages.rs`). The `restart` section
//! (`benches/routing/restart.rs`): 2 000 clients through a hub restart.
//!
//! The `sealed` section (`benches/routing/sealed.rs`): the 1000-client figure with
//! bodies of a real sealed envelope against the plain text, alternated in the same run
//! (goal: at least 0.9x; the hub does no cryptographic work per message).
//!
//! The `group` section: deliveries per second to a group of 100 members, all online,
//! against the same messages to Everyone on a hub of 100 (the same fan-out), alternated
//! in the same run (goal: at least 0.8x).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    missing_docs
)]

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_net::{TcpListener, TcpStream};
use async_tungstenite::tungstenite::Message as WsMessage;
use courier_core::auth::{HubSecret, Password};
use courier_core::identity::Identity;
use courier_core::proto::{self, ClientFrame, ClientId, MsgId, Profile, ServerFrame, Target};
use courier_core::session::{Session, Timing};
use courier_core::{hub, net, tls};
use futures::io::{AsyncReadExt, AsyncWriteExt, BufReader as AsyncBufReader, BufWriter};
use futures::{SinkExt, StreamExt};

const PW: &str = "bench password";
const MSG_BYTES: usize = 100;
/// What sealing adds to a text (header, nonce, tag, CBOR): the hub routes texts sealed.
const ENVELOPE_BYTES: usize = 100;
const WINDOW: usize = 32;

#[path = "routing/latency.rs"]
mod latency;
#[path = "routing/restart.rs"]
mod restart;
#[path = "routing/sealed.rs"]
mod sealed;
#[cfg(feature = "stage-trace")]
#[path = "routing/stages.rs"]
mod stages;

thread_local! {
    /// When set, the body of every message the courier clients send (the `sealed`
    /// section's plain texts and real envelopes), in place of [`payload`]'s.
    static BODY: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

fn main() {
    match std::env::var("COURIER_BENCH_ROLE").as_deref() {
        Ok("hub") => return child_hub(false),
        Ok("hub-advertised") => return child_hub(true),
        Ok("tcp") => return child_tcp_relay(),
        Ok("hub-restart") => return restart::child(),
        _ => {}
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there are no test cases here
    }
    // Each client login runs Argon2 over 19 MiB. With glibc's adaptive mmap threshold
    // those blocks come from the heap, small allocations settle inside them and the
    // process grows by ~14 MB per login: 10 000 logins would need 140 GB. A fixed
    // threshold keeps them mmapped and returned on free. (Re-exec: glibc reads it once.)
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        let status = Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env("MALLOC_MMAP_THRESHOLD_", "131072")
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let secs: f64 = env_or("COURIER_BENCH_SECS", "3").parse().unwrap_or(3.0);
    let idle_counts: Vec<usize> = env_or("COURIER_BENCH_IDLE", "1000,10000")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let only = env_or(
        "COURIER_BENCH_ONLY",
        "throughput,advertise,sealed,group,latency,login,restart,idle",
    );
    let want = |section: &str| only.split(',').any(|s| s.trim() == section);
    let fd_limit = open_file_limit();
    println!("# Courier routing benchmark (loopback, hub in its own process)");
    println!("open-file limit: {fd_limit}; measurement window {secs}s per point\n");

    if want("throughput") {
        throughput(secs, fd_limit);
    }
    if want("advertise") {
        advertise(secs, fd_limit);
    }
    if want("sealed") {
        sealed::section(secs, fd_limit);
    }
    if want("group") {
        group(secs, fd_limit);
    }
    if want("latency") {
        latency::section(secs, fd_limit);
    }
    if want("login") {
        login();
    }
    if want("restart") {
        restart::section(fd_limit);
    }
    if want("idle") {
        idle(&idle_counts, fd_limit);
    }
}

fn throughput(secs: f64, fd_limit: usize) {
    println!(
        "## Routed 1:1 messages per second at full load ({MSG_BYTES}-byte texts, {WINDOW} in flight per sender)"
    );
    println!(
        "{:>8} {:>16} {:>16} {:>8}",
        "clients", "courier msg/s", "tcp-relay msg/s", "ratio"
    );
    let counts: Vec<usize> = env_or("COURIER_BENCH_CLIENTS", "2,100,1000")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for n in counts {
        if n * 2 + 64 > fd_limit {
            println!("{n:>8}  skipped: raise `ulimit -n` above {}", n * 2 + 64);
            continue;
        }
        let courier = run_with_child("hub", |addr| async move {
            courier_throughput(&addr, n, secs).await
        });
        let tcp = run_with_child(
            "tcp",
            |addr| async move { tcp_throughput(&addr, n, secs).await },
        );
        println!("{n:>8} {courier:>16.0} {tcp:>16.0} {:>8.2}", courier / tcp);
    }
}

/// The same throughput with the hub advertising itself by mDNS (as `courier hub` does by
/// default) while someone browses for hubs once a second, against the hub without it,
/// alternated so that drift in the machine hits both alike.
fn advertise(secs: f64, fd_limit: usize) {
    println!("\n## Advertising by mDNS: routed msg/s without and with (someone browsing 1/s)");
    println!(
        "{:>8} {:>16} {:>16} {:>8}",
        "clients", "plain msg/s", "advertised msg/s", "ratio"
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let browsing = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut answered = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(hubs) = courier_core::discovery::find(Duration::from_millis(900)) {
                    answered += hubs.len();
                }
            }
            answered
        })
    };
    for n in [100usize, 1000] {
        if n * 2 + 64 > fd_limit {
            println!("{n:>8}  skipped: raise `ulimit -n` above {}", n * 2 + 64);
            continue;
        }
        let (mut plain, mut advertised) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            plain.push(run_with_child("hub", |addr| async move {
                courier_throughput(&addr, n, secs).await
            }));
            advertised.push(run_with_child("hub-advertised", |addr| async move {
                courier_throughput(&addr, n, secs).await
            }));
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (p, a) = (mean(&plain), mean(&advertised));
        println!("{n:>8} {p:>16.0} {a:>16.0} {:>8.2}", a / p);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered = browsing.join().unwrap_or(0);
    println!("(the browser saw the advertised hub {answered} times: it was answering)");
}

/// Fan-out to a group of `GROUP` online members against the same to Everyone on a hub of
/// `GROUP`, alternated three times; prints each round and the median ratio.
fn group(secs: f64, fd_limit: usize) {
    const GROUP: usize = 100;
    const SENDERS: usize = 10;
    println!(
        "\n## Fan-out: {SENDERS} of {GROUP} members sending to a group of all {GROUP} (online), \
         against the same to Everyone on a hub of {GROUP}"
    );
    if GROUP * 2 + 64 > fd_limit {
        println!("skipped: raise `ulimit -n` above {}", GROUP * 2 + 64);
        return;
    }
    println!(
        "{:>6} {:>22} {:>22} {:>8}",
        "round", "group deliveries/s", "everyone deliveries/s", "ratio"
    );
    let mut ratios = Vec::new();
    for round in 1..=3 {
        let everyone = run_with_child("hub", |addr| async move {
            fanout(&addr, GROUP, SENDERS, secs, false).await
        });
        let group = run_with_child("hub", |addr| async move {
            fanout(&addr, GROUP, SENDERS, secs, true).await
        });
        let ratio = group / everyone;
        ratios.push(ratio);
        println!("{round:>6} {group:>22.0} {everyone:>22.0} {ratio:>8.2}");
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median ratio group / everyone: {:.2} (goal >= 0.80)",
        ratios[ratios.len() / 2]
    );
}

/// `senders` of `n` clients send as fast as their receipts allow, to a group of all `n`
/// (created by the first) or to Everyone; returns the messages delivered per second,
/// counted at the receivers.
async fn fanout(addr: &str, n: usize, senders: usize, secs: f64, group: bool) -> f64 {
    let t0 = Instant::now();
    let mut clients = courier_clients(addr, n).await;
    let to = if group {
        let members: Vec<ClientId> = clients.iter().skip(1).map(|c| c.id).collect();
        let ws = &mut clients[0].ws;
        let create = ClientFrame::GroupCreate {
            tag: 1,
            name: "bench".to_owned(),
            members,
        };
        ws.send(WsMessage::Binary(proto::encode(&create).into()))
            .await
            .unwrap();
        let id = loop {
            let WsMessage::Binary(b) = ws.next().await.unwrap().unwrap() else {
                continue;
            };
            if let Ok(ServerFrame::GroupAnswer { tag: 1, outcome }) = proto::decode_server(&b) {
                match outcome {
                    proto::GroupOutcome::Done(id) => break id,
                    proto::GroupOutcome::Refused(why) => panic!("the hub refused the group: {why}"),
                }
            }
        };
        // Let the membership news settle.
        async_io::Timer::after(Duration::from_millis(300)).await;
        Target::Group(id)
    } else {
        Target::Everyone
    };
    let received = Rc::new(Cell::new(0u64));
    let measuring = Rc::new(Cell::new(false));
    let since = Rc::new(Cell::new(Duration::MAX));
    let stop = Rc::new(Cell::new(false));
    let ex = LocalExecutor::new();
    for (i, c) in clients.into_iter().enumerate() {
        let (permits_tx, permits_rx) = async_channel::bounded::<()>(WINDOW);
        let (mut sink, mut stream) = c.ws.split();
        let (received, measuring, stop) = (received.clone(), measuring.clone(), stop.clone());
        ex.spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let WsMessage::Binary(b) = msg else { continue };
                match proto::decode_server(&b) {
                    Ok(ServerFrame::Message(_)) if measuring.get() => {
                        received.set(received.get() + 1);
                    }
                    Ok(ServerFrame::Receipt { .. }) => {
                        let _ = permits_rx.try_recv();
                    }
                    _ => {}
                }
            }
        })
        .detach();
        if i >= senders {
            // A reader only; its sink must live as long as the run.
            ex.spawn(async move {
                let _keep = sink;
                std::future::pending::<()>().await;
            })
            .detach();
            continue;
        }
        ex.spawn(async move {
            let mut next = 0u64;
            while !stop.get() {
                if permits_tx.send(()).await.is_err() {
                    return;
                }
                let mut batch = 1;
                while batch < WINDOW && permits_tx.try_send(()).is_ok() {
                    batch += 1;
                }
                for _ in 0..batch {
                    next += 1;
                    let f = ClientFrame::Send {
                        id: MsgId(next),
                        to,
                        sealed: proto::Sealed::from(payload(t0)),
                    };
                    if sink
                        .feed(WsMessage::Binary(proto::encode(&f).into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        })
        .detach();
    }
    let run = drive(None, secs, &[], (&measuring, &since, t0), &stop, &|| true);
    ex.run(run).await;
    received.get() as f64 / secs
}

fn login() {
    println!("\n## Login (TCP + TLS 1.3 + WebSocket + OPAQUE), 200 sequential logins");
    let (total, stretch) =
        run_with_child("hub", |addr| async move { login_times(&addr, 200).await });
    let rest: Vec<Duration> = total
        .iter()
        .zip(&stretch)
        .map(|(t, s)| t.saturating_sub(*s))
        .collect();
    println!(
        "total p50 {:.2} ms | client Argon2 stretch p50 {:.2} ms | hub side + network p50 {:.2} ms (p99 {:.2} ms)",
        ms(pct(&total, 50.0)),
        ms(pct(&stretch, 50.0)),
        ms(pct(&rest, 50.0)),
        ms(pct(&rest, 99.0))
    );
}

fn idle(counts: &[usize], fd_limit: usize) {
    println!("\n## Hub memory per idle logged-in client");
    for &n in counts {
        if n + 64 > fd_limit {
            println!(
                "{n:>6} idle clients: skipped, raise `ulimit -n` above {}",
                n + 64
            );
            continue;
        }
        let (base, loaded) = idle_rss(n);
        println!(
            "{n:>6} idle clients: hub RSS {:.1} MiB -> {:.1} MiB = {:.1} KiB per client",
            base as f64 / 1024.0,
            loaded as f64 / 1024.0,
            (loaded.saturating_sub(base)) as f64 / n as f64
        );
    }
}

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| d.to_owned())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[i.min(v.len() - 1)]
}

fn open_file_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(1024)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

struct ChildServer {
    child: Child,
    addr: String,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A hub child's database folder.
        let dir = std::env::temp_dir().join(format!("courier-bench-routing-{}", self.child.id()));
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn spawn_child(role: &str) -> ChildServer {
    let mut command = Command::new(std::env::current_exe().unwrap());
    #[cfg(feature = "stage-trace")]
    if let Some(f) = stages::file() {
        command.env("COURIER_BENCH_STAGES_FILE", f);
    }
    command.env("COURIER_BENCH_ROLE", role);
    let (child, addr) = start_role(command);
    ChildServer { child, addr }
}

/// Starts `command` (this bench again, in the role its environment names) and reads the
/// address the child prints first.
fn start_role(mut command: Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}

fn run_with_child<T, F: Future<Output = T>>(role: &str, f: impl FnOnce(String) -> F) -> T {
    let server = spawn_child(role);
    latency::SERVER_PID.set(server.child.id());
    let ex = LocalExecutor::new();
    futures_lite::future::block_on(ex.run(f(server.addr.clone())))
}

// ---------- child processes ----------

fn child_hub(advertise: bool) {
    #[cfg(feature = "stage-trace")]
    stages::start_dumping();
    smol::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        println!("{}", listener.local_addr().unwrap());
        let secret = HubSecret::register(&mut rand::thread_rng(), &Password::new(PW)).unwrap();
        let identity = Identity::generate().unwrap();
        // Advertised on every interface as `courier hub` does (the clients here use
        // loopback; the advert runs all the same and answers the browser).
        let _advert = advertise.then(|| {
            let all = std::net::SocketAddr::from(([0, 0, 0, 0], port));
            courier_core::discovery::Advert::start("Bench hub", all, identity.id()).unwrap()
        });
        let mut config = hub::Config::new(identity, secret);
        // As `courier hub` runs: with its database (members are written as they log in).
        let dir =
            std::env::temp_dir().join(format!("courier-bench-routing-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        config.db = Some(hub::Home::open(&dir).unwrap().database().unwrap());
        // A benchmark measures capacity: lift the per-client chat rate limit.
        config.message_rate = u32::MAX / 2;
        config.message_burst = u32::MAX / 2;
        config.max_preauth_per_ip = 512;
        config.max_preauth_total = 512;
        // All benchmark clients come from one address.
        config.connects_per_sec = u32::MAX / 2;
        config.connect_burst = u32::MAX / 2;
        hub::serve(listener, config, std::future::pending())
            .await
            .unwrap();
    });
}

type Outboxes = Rc<RefCell<Vec<Option<async_channel::Sender<Vec<u8>>>>>>;

/// The baseline: the same routing (message to the partner, receipt to the sender) over
/// plain TCP with a fixed binary header, single-threaded like the hub.
fn child_tcp_relay() {
    let ex = Rc::new(LocalExecutor::new());
    futures_lite::future::block_on(ex.run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        let outboxes: Outboxes = Rc::default();
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let (tx, rx) = async_channel::bounded::<Vec<u8>>(256);
            let me = {
                let mut o = outboxes.borrow_mut();
                o.push(Some(tx));
                (o.len() - 1) as u32
            };
            let outboxes = outboxes.clone();
            ex.spawn(async move {
                let mut writer = BufWriter::new(tcp.clone());
                let write = async {
                    while let Ok(first) = rx.recv().await {
                        if writer.write_all(&first).await.is_err() {
                            return;
                        }
                        while let Ok(more) = rx.try_recv() {
                            if writer.write_all(&more).await.is_err() {
                                return;
                            }
                        }
                        if writer.flush().await.is_err() {
                            return;
                        }
                    }
                };
                let read = async {
                    let mut reader = AsyncBufReader::new(tcp.clone());
                    let mut hello = [0u8; 4];
                    if reader.read_exact(&mut hello).await.is_err() {
                        return;
                    }
                    let _ = reader.write_all(&me.to_le_bytes()).await;
                    loop {
                        // [len u32][dest u32][id u64][payload]
                        let mut head = [0u8; 16];
                        if reader.read_exact(&mut head).await.is_err() {
                            return;
                        }
                        let len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
                        let dest = u32::from_le_bytes(head[4..8].try_into().unwrap()) as usize;
                        let mut payload = vec![0u8; len];
                        if reader.read_exact(&mut payload).await.is_err() {
                            return;
                        }
                        let mut msg = Vec::with_capacity(16 + len);
                        msg.extend_from_slice(&(len as u32).to_le_bytes());
                        msg.extend_from_slice(&me.to_le_bytes());
                        msg.extend_from_slice(&head[8..16]);
                        msg.extend_from_slice(&payload);
                        let mut receipt = Vec::with_capacity(16);
                        receipt.extend_from_slice(&0u32.to_le_bytes());
                        receipt.extend_from_slice(&u32::MAX.to_le_bytes());
                        receipt.extend_from_slice(&head[8..16]);
                        let o = outboxes.borrow();
                        if let Some(Some(tx)) = o.get(dest) {
                            let _ = tx.try_send(msg);
                        }
                        if let Some(Some(tx)) = o.get(me as usize) {
                            let _ = tx.try_send(receipt);
                        }
                    }
                };
                futures_lite::future::or(read, write).await;
            })
            .detach();
        }
    }));
}

/// Warm-up for a second, then `secs` of measurement. With a `rate`, ticks the senders
/// round-robin every millisecond to offer exactly that load; after the window the senders
/// stop and the receivers go on for up to [`latency::DRAIN`], until `settled` (every
/// message sent in the window arrived).
async fn drive(
    rate: Option<u32>,
    secs: f64,
    ticks: &[async_channel::Sender<()>],
    (measuring, since, t0): (&Cell<bool>, &Cell<Duration>, Instant),
    stop: &Cell<bool>,
    settled: &dyn Fn() -> bool,
) {
    // Latency counts only messages sent after the warm-up (backlogs from the login phase
    // must not count), so the warm-up also drains them.
    let warm_up = Duration::from_millis(1000);
    if let Some(rate) = rate {
        let per_tick = (rate / 1000).max(1) as usize;
        let mut k = 0usize;
        let begin = Instant::now();
        let end = begin + warm_up + Duration::from_secs_f64(secs);
        let mut at = begin;
        while Instant::now() < end {
            if !measuring.get() && begin.elapsed() > warm_up {
                since.set(t0.elapsed());
                measuring.set(true);
                latency::window_starts();
            }
            for _ in 0..per_tick {
                let _ = ticks[k % ticks.len()].try_send(());
                k += 1;
            }
            at += Duration::from_millis(1);
            async_io::Timer::at(at).await;
        }
        latency::window_ends();
        stop.set(true);
        let drained = Instant::now() + latency::DRAIN;
        while !settled() && Instant::now() < drained {
            async_io::Timer::after(Duration::from_millis(1)).await;
        }
    } else {
        async_io::Timer::after(warm_up).await;
        since.set(t0.elapsed());
        measuring.set(true);
        async_io::Timer::after(Duration::from_secs_f64(secs)).await;
    }
    measuring.set(false);
    stop.set(true);
}

// ---------- courier clients ----------

struct Courier {
    ws: net::ClientStream,
    id: ClientId,
}

async fn courier_login(addr: &str) -> (Courier, Duration, Duration) {
    let start = Instant::now();
    let identity = Identity::generate().unwrap();
    let connector = futures_rustls::TlsConnector::from(tls::client_config(&identity).unwrap());
    let (stream, info) = net::connect_tls(addr, connector).await.unwrap();
    let mut ws = net::upgrade(stream).await.unwrap();
    let mut session = Session::new(
        Password::new(PW),
        Profile::with_name("bench"),
        Timing::default(),
        [0; 32],
        start,
    );
    session
        .handle_connected(info.channel, Instant::now())
        .unwrap();
    let mut stretch = Duration::ZERO;
    while !session.is_ready() {
        while let Some(f) = session.poll_transmit() {
            ws.send(WsMessage::Binary(proto::encode(&f).into()))
                .await
                .unwrap();
        }
        let frame = loop {
            match ws.next().await.unwrap().unwrap() {
                WsMessage::Binary(b) => break proto::decode_server(&b).unwrap(),
                _ => continue,
            }
        };
        let challenge = matches!(frame, ServerFrame::LoginChallenge { .. });
        let t = Instant::now();
        session.handle_frame(frame, Instant::now()).unwrap();
        if challenge {
            stretch += t.elapsed(); // opening the hub's answer runs Argon2
        }
    }
    while let Some(f) = session.poll_transmit() {
        ws.send(WsMessage::Binary(proto::encode(&f).into()))
            .await
            .unwrap();
    }
    (
        Courier {
            ws,
            id: identity.id(),
        },
        start.elapsed(),
        stretch,
    )
}

/// A sealed text of `MSG_BYTES` as the wire carries it (the envelope adds about 100
/// bytes), starting with when it was sent; or [`BODY`] when set.
fn payload(t0: Instant) -> Vec<u8> {
    if let Some(body) = BODY.with(|b| b.borrow().clone()) {
        return body;
    }
    let mut s = format!("{}", t0.elapsed().as_nanos()).into_bytes();
    s.resize(s.len().max(MSG_BYTES + ENVELOPE_BYTES), b'.');
    s
}

/// When a payload was sent (since `t0`) and how long it took to arrive.
fn sent_at(t0: Instant, text: &[u8]) -> Option<(Duration, Duration)> {
    let digits: String = text
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|b| char::from(*b))
        .collect();
    let sent = Duration::from_nanos(digits.parse().ok()?);
    Some((sent, t0.elapsed().saturating_sub(sent)))
}

async fn courier_clients(addr: &str, n: usize) -> Vec<Courier> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(courier_login(addr).await.0);
    }
    // Let the join announcements settle.
    async_io::Timer::after(Duration::from_millis(200)).await;
    clients
}

/// Runs paired clients; `pace` (if any) gives each sender its own tick channel.
async fn courier_run(
    addr: &str,
    n: usize,
    secs: f64,
    rate: Option<u32>,
) -> (f64, latency::Sampled) {
    let t0 = Instant::now();
    let clients = courier_clients(addr, n).await;
    let ids: Vec<ClientId> = clients.iter().map(|c| c.id).collect();
    let received = Rc::new(Cell::new(0u64));
    let measuring = Rc::new(Cell::new(false));
    let since = Rc::new(Cell::new(Duration::MAX));
    let latencies = Rc::new(RefCell::new(Vec::new()));
    let stop = Rc::new(Cell::new(false));
    let sent = Rc::new(Cell::new(0u64));
    let ex = LocalExecutor::new();
    let mut ticks = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        let partner = ids[i ^ 1];
        let (permits_tx, permits_rx) = async_channel::bounded::<()>(WINDOW);
        let (tick_tx, tick_rx) = async_channel::unbounded::<()>();
        ticks.push(tick_tx);
        let (mut sink, mut stream) = c.ws.split();
        let (window, sent_in_window) = (measuring.clone(), sent.clone());
        let (received, measuring, latencies, stop, since) = (
            received.clone(),
            measuring.clone(),
            latencies.clone(),
            stop.clone(),
            since.clone(),
        );
        ex.spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let WsMessage::Binary(b) = msg else { continue };
                match proto::decode_server(&b) {
                    Ok(ServerFrame::Message(m)) if measuring.get() => {
                        received.set(received.get() + 1);
                        if let Some((sent, l)) = sent_at(t0, m.sealed.as_bytes())
                            && sent >= since.get()
                        {
                            latencies.borrow_mut().push(l);
                            #[cfg(feature = "stage-trace")]
                            stages::received(&m.from, m.id);
                        }
                    }
                    Ok(ServerFrame::Receipt { .. }) => {
                        let _ = permits_rx.try_recv();
                    }
                    _ => {}
                }
            }
        })
        .detach();
        let paced = rate.is_some();
        #[cfg(feature = "stage-trace")]
        let me = ids[i];
        ex.spawn(async move {
            let mut next = 0u64;
            while !stop.get() {
                if paced {
                    if tick_rx.recv().await.is_err() {
                        return;
                    }
                } else if permits_tx.send(()).await.is_err() {
                    return;
                }
                let mut batch = 1;
                if !paced {
                    while batch < WINDOW && permits_tx.try_send(()).is_ok() {
                        batch += 1;
                    }
                }
                for _ in 0..batch {
                    next += 1;
                    let f = ClientFrame::Send {
                        id: MsgId(next),
                        to: Target::Client(partner),
                        sealed: proto::Sealed::from(payload(t0)),
                    };
                    if window.get() {
                        sent_in_window.set(sent_in_window.get() + 1);
                        #[cfg(feature = "stage-trace")]
                        stages::sent(&me, MsgId(next));
                    }
                    if sink
                        .feed(WsMessage::Binary(proto::encode(&f).into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        })
        .detach();
    }
    let settled = || latencies.borrow().len() as u64 >= sent.get();
    let run = drive(
        rate,
        secs,
        &ticks,
        (&measuring, &since, t0),
        &stop,
        &settled,
    );
    ex.run(run).await;
    let rate_measured = received.get() as f64 / secs;
    let sampled = latency::Sampled {
        latencies: latencies.borrow().clone(),
        sent: sent.get(),
        cpu: latency::last_window(),
    };
    (rate_measured, sampled)
}

async fn courier_throughput(addr: &str, n: usize, secs: f64) -> f64 {
    courier_run(addr, n, secs, None).await.0
}

async fn login_times(addr: &str, n: usize) -> (Vec<Duration>, Vec<Duration>) {
    let mut total = Vec::new();
    let mut stretch = Vec::new();
    for _ in 0..n {
        let (_c, t, s) = courier_login(addr).await;
        total.push(t);
        stretch.push(s);
    }
    (total, stretch)
}

fn idle_rss(n: usize) -> (u64, u64) {
    let server = spawn_child("hub");
    let pid = server.child.id();
    std::thread::sleep(Duration::from_millis(300));
    let base = rss_kib(pid);
    let ex = LocalExecutor::new();
    let clients = futures_lite::future::block_on(ex.run(async {
        // Idle clients still read what the hub sends them (presence batches, pings),
        // as real clients do; otherwise the hub's queues for them would count as memory.
        let mut all = Vec::with_capacity(n);
        for _ in 0..n {
            let (c, _, _) = courier_login(&server.addr).await;
            let (mut sink, mut stream) = c.ws.split();
            // Read everything and answer the hub's heartbeat, as a real client does.
            all.push(ex.spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    if let WsMessage::Binary(b) = msg
                        && let Ok(ServerFrame::Ping) = proto::decode_server(&b)
                    {
                        let ping = proto::encode(&ClientFrame::Ping);
                        if sink.send(WsMessage::Binary(ping.into())).await.is_err() {
                            return;
                        }
                    }
                }
            }));
            if all.len() % 1000 == 0 {
                eprintln!(
                    "  {} logged in; bench process RSS {:.0} MiB",
                    all.len(),
                    rss_kib(std::process::id()) as f64 / 1024.0
                );
            }
        }
        async_io::Timer::after(Duration::from_secs(2)).await;
        all
    }));
    let loaded = rss_kib(pid);
    drop(clients);
    (base, loaded)
}

// ---------- tcp baseline clients ----------

async fn tcp_run(addr: &str, n: usize, secs: f64, rate: Option<u32>) -> (f64, latency::Sampled) {
    let t0 = Instant::now();
    let mut conns = Vec::new();
    for _ in 0..n {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        tcp.write_all(&[0u8; 4]).await.unwrap();
        let mut id = [0u8; 4];
        tcp.read_exact(&mut id).await.unwrap();
        conns.push((tcp, u32::from_le_bytes(id)));
    }
    let ids: Vec<u32> = conns.iter().map(|c| c.1).collect();
    let received = Rc::new(Cell::new(0u64));
    let measuring = Rc::new(Cell::new(false));
    let since = Rc::new(Cell::new(Duration::MAX));
    let latencies = Rc::new(RefCell::new(Vec::new()));
    let stop = Rc::new(Cell::new(false));
    let sent = Rc::new(Cell::new(0u64));
    let ex = LocalExecutor::new();
    let mut ticks = Vec::new();
    for (i, (tcp, _)) in conns.into_iter().enumerate() {
        let partner = ids[i ^ 1];
        let (permits_tx, permits_rx) = async_channel::bounded::<()>(WINDOW);
        let (tick_tx, tick_rx) = async_channel::unbounded::<()>();
        ticks.push(tick_tx);
        let (window, sent_in_window) = (measuring.clone(), sent.clone());
        let (received, measuring, latencies, stop, since) = (
            received.clone(),
            measuring.clone(),
            latencies.clone(),
            stop.clone(),
            since.clone(),
        );
        let reader_tcp = tcp.clone();
        ex.spawn(async move {
            let mut r = AsyncBufReader::new(reader_tcp);
            loop {
                let mut head = [0u8; 16];
                if r.read_exact(&mut head).await.is_err() {
                    return;
                }
                let len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
                if len == 0 {
                    let _ = permits_rx.try_recv();
                    continue;
                }
                let mut p = vec![0u8; len];
                if r.read_exact(&mut p).await.is_err() {
                    return;
                }
                if measuring.get() {
                    received.set(received.get() + 1);
                    if let Some((sent, l)) = sent_at(t0, &p)
                        && sent >= since.get()
                    {
                        latencies.borrow_mut().push(l);
                    }
                }
            }
        })
        .detach();
        let paced = rate.is_some();
        ex.spawn(async move {
            let mut w = BufWriter::new(tcp);
            let mut next = 0u64;
            while !stop.get() {
                if paced {
                    if tick_rx.recv().await.is_err() {
                        return;
                    }
                } else if permits_tx.send(()).await.is_err() {
                    return;
                }
                let mut batch = 1;
                if !paced {
                    while batch < WINDOW && permits_tx.try_send(()).is_ok() {
                        batch += 1;
                    }
                }
                for _ in 0..batch {
                    next += 1;
                    let text = payload(t0);
                    if window.get() {
                        sent_in_window.set(sent_in_window.get() + 1);
                    }
                    let mut m = Vec::with_capacity(16 + text.len());
                    m.extend_from_slice(&(text.len() as u32).to_le_bytes());
                    m.extend_from_slice(&partner.to_le_bytes());
                    m.extend_from_slice(&next.to_le_bytes());
                    m.extend_from_slice(&text);
                    if w.write_all(&m).await.is_err() {
                        return;
                    }
                }
                if w.flush().await.is_err() {
                    return;
                }
            }
        })
        .detach();
    }
    let settled = || latencies.borrow().len() as u64 >= sent.get();
    let run = drive(
        rate,
        secs,
        &ticks,
        (&measuring, &since, t0),
        &stop,
        &settled,
    );
    ex.run(run).await;
    let sampled = latency::Sampled {
        latencies: latencies.borrow().clone(),
        sent: sent.get(),
        cpu: latency::last_window(),
    };
    (received.get() as f64 / secs, sampled)
}

async fn tcp_throughput(addr: &str, n: usize, secs: f64) -> f64 {
    tcp_run(addr, n, secs, None).await.0
}
