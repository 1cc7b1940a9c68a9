//! The `restart` section (issue 26, an upgrade restart): 2 000 clients online, each
//! a real `session::connect` (the reconnect logic the app and the CLI use) logged in as a
//! remembered device; the hub process is stopped (as `systemctl restart` does: it says
//! goodbye and exits) and started again on the same folder and port. Prints when the last
//! client was back and the p50/p99, counted from the new hub listening and from the stop;
//! how many were closed as slow consumers during the storm (the goal: none); and how the
//! clients' first retries spread (jitter), which is what keeps them from arriving at one
//! instant.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_net::TcpListener;
use courier_core::auth::Password;
use courier_core::identity::Identity;
use courier_core::proto::{CloseReason, Profile};
use courier_core::{hub, session};
use futures::StreamExt;

use crate::{PW, ms, pct};

/// Clients online when the hub restarts (`COURIER_BENCH_RESTART_CLIENTS`, default 2000).
fn clients() -> usize {
    crate::env_or("COURIER_BENCH_RESTART_CLIENTS", "2000")
        .parse()
        .unwrap_or(2000)
}
/// First logins at once (each runs Argon2 in the bench process).
const LOGINS_AT_ONCE: usize = 4;
/// The goal: every client back within this.
const GOAL: Duration = Duration::from_secs(5);
/// How long to wait for the last client before calling it missing.
const GIVE_UP: Duration = Duration::from_secs(60);

/// The hub child of this section: its folder (identity, password record, database) kept
/// across the restart, its address given (port 0 the first time); it stops when its
/// stdin closes, as `courier hub` stops on SIGTERM.
pub(crate) fn child() {
    smol::block_on(async {
        let dir = std::path::PathBuf::from(std::env::var_os("COURIER_BENCH_HUB_DIR").unwrap());
        let addr = std::env::var("COURIER_BENCH_ADDR").unwrap();
        let home = hub::Home::open(&dir).unwrap();
        let secret = match home.secret().unwrap() {
            Some(s) => s,
            None => home.set_password(&Password::new(PW)).unwrap(),
        };
        let mut config = hub::Config::new(home.identity().unwrap(), secret);
        config.db = Some(home.database().unwrap());
        // All the clients come from one address: the limits per address are lifted
        // (on a LAN each device has its own). The hub's total of unfinished logins
        // stays at its default, as a real hub's.
        config.message_rate = u32::MAX / 2;
        config.message_burst = u32::MAX / 2;
        config.max_preauth_per_ip = config.max_preauth_total;
        config.connects_per_sec = u32::MAX / 2;
        config.connect_burst = u32::MAX / 2;
        let listener = TcpListener::bind(addr.as_str()).await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        let stop = blocking::unblock(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        });
        hub::serve(listener, config, stop).await.unwrap();
    });
}

struct Hub {
    child: Child,
    addr: String,
}

impl Hub {
    fn start(dir: &std::path::Path, addr: &str) -> Self {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .env("COURIER_BENCH_ROLE", "hub-restart")
            .env("COURIER_BENCH_HUB_DIR", dir)
            .env("COURIER_BENCH_ADDR", addr)
            .stdin(Stdio::piped());
        let (child, addr) = crate::start_role(command);
        Self { child, addr }
    }

    /// Asks the hub to stop and waits for its process to end.
    fn stop(mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.child.wait();
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// Per client: when it was last (re)connected.
    connected: Vec<Option<Instant>>,
    /// Closed by the hub as a slow consumer.
    slow: usize,
    /// Per client: the first retry delay it chose after the stop.
    retries: Vec<Option<Duration>>,
    /// Set at the stop: from then on retries are recorded.
    stopping: bool,
    /// When each disconnection after the stop happened, and why.
    failures: Vec<(Instant, String)>,
}

pub(crate) fn section(fd_limit: usize) {
    let clients = clients();
    println!(
        "\n## Upgrade restart: {clients} clients online (remembered devices, \
         `session::connect`), the hub stopped and started again on the same folder"
    );
    if clients + 64 > fd_limit {
        println!("skipped: raise `ulimit -n` above {}", clients + 64);
        return;
    }
    let dir = std::env::temp_dir().join(format!("courier-bench-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = Hub::start(&dir, "127.0.0.1:0");
    let addr = first.addr.clone();
    let seen = Arc::new(Mutex::new(Seen {
        connected: vec![None; clients],
        retries: vec![None; clients],
        ..Seen::default()
    }));
    // The clients stand for thousands of machines: they run on every core this one
    // has (an executor per thread, each client on one), so that their own work is not
    // what the storm waits for.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let (logged_tx, logged_rx) = async_channel::unbounded::<()>();
    let (done_tx, done_rx) = async_channel::bounded::<()>(1);
    let began = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (seen, addr, logged_tx, done_rx) = (
                seen.clone(),
                addr.clone(),
                logged_tx.clone(),
                done_rx.clone(),
            );
            std::thread::spawn(move || {
                let mine: Vec<usize> = (t..clients).step_by(threads).collect();
                run_clients(&mine, &addr, &seen, &logged_tx, &done_rx);
            })
        })
        .collect();
    drop(logged_tx);
    async_io::block_on(async {
        for n in 1..=clients {
            logged_rx.recv().await.unwrap();
            if n % 500 == 0 {
                eprintln!("  {n} clients logged in, {:.0?}", began.elapsed());
            }
        }
        println!(
            "{clients} clients logged in with the password in {:.1} s; every one now \
             remembered (clients on {threads} threads)",
            began.elapsed().as_secs_f64()
        );
        // Let the presence news settle.
        async_io::Timer::after(Duration::from_secs(2)).await;
        let slow_before = seen.lock().unwrap().slow;
        seen.lock().unwrap().stopping = true;
        eprintln!("  stopping the hub");
        let stopped_at = Instant::now();
        blocking::unblock(move || first.stop()).await;
        let down_for = stopped_at.elapsed();
        let second = Hub::start(&dir, &addr);
        let up_at = Instant::now();
        let deadline = up_at + GIVE_UP;
        let back = || {
            seen.lock()
                .unwrap()
                .connected
                .iter()
                .filter(|c| c.is_some_and(|c| c > stopped_at))
                .count()
        };
        while back() < clients && Instant::now() < deadline {
            async_io::Timer::after(Duration::from_millis(10)).await;
        }
        let s = seen.lock().unwrap();
        let since_up: Vec<Duration> = s
            .connected
            .iter()
            .filter_map(|c| c.filter(|c| *c > stopped_at))
            .map(|c| c.saturating_duration_since(up_at))
            .collect();
        let missing = clients - since_up.len();
        let last = since_up.iter().max().copied().unwrap_or_default();
        let mut retries: Vec<Duration> = s.retries.iter().flatten().copied().collect();
        retries.sort();
        println!(
            "hub stopped (goodbyes said, database closed) in {:.0} ms, then started again",
            ms(down_for)
        );
        println!(
            "back after the new hub listened: last {:.2} s, p50 {:.2} s, p99 {:.2} s \
             ({} of {clients}; {missing} not back within {} s); last since the stop {:.2} s",
            last.as_secs_f64(),
            pct(&since_up, 50.0).as_secs_f64(),
            pct(&since_up, 99.0).as_secs_f64(),
            since_up.len(),
            GIVE_UP.as_secs(),
            (last + (up_at - stopped_at)).as_secs_f64(),
        );
        println!(
            "first retry after the stop (jitter): min {:.0} ms, p50 {:.0} ms, max {:.0} ms \
             over {} clients",
            ms(retries.first().copied().unwrap_or_default()),
            ms(pct(&retries, 50.0)),
            ms(retries.last().copied().unwrap_or_default()),
            retries.len()
        );
        let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
        for (_, why) in &s.failures {
            *reasons.entry(why.as_str()).or_default() += 1;
        }
        for (reason, n) in reasons {
            println!("  disconnected after the stop, {n} times: {reason}");
        }
        // The storm as it went: per half second after the new hub listened, how many
        // came back and how many attempts failed.
        let slot = |t: Instant| (t.saturating_duration_since(up_at).as_millis() / 500) as usize;
        let slots = slot(up_at + last) + 1;
        let mut came = vec![0usize; slots];
        let mut failed = vec![0usize; slots];
        for t in s.connected.iter().flatten().filter(|c| **c > up_at) {
            came[slot(*t).min(slots - 1)] += 1;
        }
        let mut failed_why = std::collections::BTreeMap::<&str, usize>::new();
        for (t, why) in s.failures.iter().filter(|(t, _)| *t > up_at) {
            failed[slot(*t).min(slots - 1)] += 1;
            *failed_why.entry(why.as_str()).or_default() += 1;
        }
        println!(
            "per half second after the new hub listened: back {came:?}; failed attempts {failed:?}"
        );
        for (why, n) in failed_why {
            println!("  failed after the new hub listened, {n} times: {why}");
        }
        let slow = s.slow - slow_before;
        println!("closed as slow consumers during the storm: {slow}");
        println!(
            "verdict: every client back within {} s and none dropped: {}",
            GOAL.as_secs(),
            if missing == 0 && last <= GOAL && slow == 0 {
                "PASS"
            } else {
                "FAIL"
            }
        );
        drop(s);
        drop(second);
    });
    drop(done_tx);
    for w in workers {
        let _ = w.join();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs clients `mine` on this thread until `done` closes: each logs in with the
/// password (a few at once: the hub runs Argon2 for each), then stays connected
/// through `session::connect`, noting in `seen` when it is (re)connected and why it
/// was disconnected.
fn run_clients(
    mine: &[usize],
    addr: &str,
    seen: &Arc<Mutex<Seen>>,
    logged: &async_channel::Sender<()>,
    done: &async_channel::Receiver<()>,
) {
    let ex = LocalExecutor::new();
    async_io::block_on(ex.run(async {
        let (mine_tx, mine_rx) = async_channel::unbounded::<()>();
        for (n, &i) in mine.iter().enumerate() {
            if n >= LOGINS_AT_ONCE {
                mine_rx.recv().await.unwrap();
            }
            let config = session::Config::new(
                addr.to_owned(),
                Identity::generate().unwrap(),
                Password::new(PW),
                Profile::with_name(format!("bench {i}")),
            );
            let (seen, logged, mine_tx) = (seen.clone(), logged.clone(), mine_tx.clone());
            ex.spawn(async move {
                let mut updates = session::connect(config);
                let mut first = true;
                while let Some(update) = updates.next().await {
                    match update {
                        session::Update::Connected { .. } => {
                            seen.lock().unwrap().connected[i] = Some(Instant::now());
                            if first {
                                first = false;
                                let _ = mine_tx.try_send(());
                                let _ = logged.try_send(());
                            }
                        }
                        session::Update::Disconnected { reason, retry_in } => {
                            let mut s = seen.lock().unwrap();
                            // The code is shared with other policy closes (1008): the
                            // reason's text tells them apart.
                            if let session::Error::Closed { code, reason } = &*reason
                                && *code == CloseReason::SlowConsumer.code()
                                && reason == CloseReason::SlowConsumer.text()
                            {
                                s.slow += 1;
                            }
                            if s.stopping {
                                s.failures.push((Instant::now(), reason.to_string()));
                                if s.retries[i].is_none() {
                                    s.retries[i] = retry_in;
                                }
                            }
                        }
                        session::Update::Event(_) => {}
                    }
                }
            })
            .detach();
        }
        let _ = done.recv().await;
    }));
}
