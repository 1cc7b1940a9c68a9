//! The `latency` section: a fixed offered load of 10 000 msg/s over 1 000 clients, through
//! the hub and through the plain-TCP relay, side by side, with the regression check of
//! issue 25: p99 ≤ 1 ms and every message sent in the window received.
//!
//! Every message sent during the window is a sample. After the window the senders stop
//! and the receivers keep reading (up to [`DRAIN`]) so that a late message counts with
//! its real latency; one that never arrives counts as lost, above every latency. (Before
//! issue 25 the samples were only the messages that arrived inside the window: a late
//! message was left out of the percentiles rather than counted as late.)
//!
//! Beside each side's figures: the CPU time its server process and the bench process
//! used during the window and how long they waited for a CPU (`/proc/*/schedstat`), so
//! that a run on a busy machine says so.

use std::cell::Cell;
use std::time::Duration;

use crate::{courier_run, ms, run_with_child, tcp_run};

/// How long the receivers keep reading after the window for messages sent in it.
pub(crate) const DRAIN: Duration = Duration::from_secs(2);
const CLIENTS: usize = 1000;
const RATE: u32 = 10_000;
/// The goal: p99 at most this, and no message lost.
const GOAL: Duration = Duration::from_millis(1);

/// What one side's run measured.
pub(crate) struct Sampled {
    /// Latencies of the messages sent in the window that arrived.
    pub(crate) latencies: Vec<Duration>,
    /// Messages sent in the window.
    pub(crate) sent: u64,
    /// CPU accounting over the window: (server, bench).
    pub(crate) cpu: (Cpu, Cpu),
}

/// Time on a CPU and time waiting for one, in nanoseconds, summed over a process's threads.
#[derive(Clone, Copy, Default)]
pub(crate) struct Cpu {
    pub(crate) run_ns: u64,
    pub(crate) wait_ns: u64,
}

impl Cpu {
    pub(crate) fn of(pid: u32) -> Self {
        let mut total = Self::default();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return total;
        };
        for task in tasks.flatten() {
            let Ok(s) = std::fs::read_to_string(task.path().join("schedstat")) else {
                continue;
            };
            let mut v = s.split_whitespace().map(|w| w.parse::<u64>().unwrap_or(0));
            total.run_ns += v.next().unwrap_or(0);
            total.wait_ns += v.next().unwrap_or(0);
        }
        total
    }

    fn since(self, before: Self) -> Self {
        Self {
            run_ns: self.run_ns.saturating_sub(before.run_ns),
            wait_ns: self.wait_ns.saturating_sub(before.wait_ns),
        }
    }
}

thread_local! {
    /// The server child of the run in progress (its CPU is accounted over the window).
    pub(crate) static SERVER_PID: Cell<u32> = const { Cell::new(0) };
    /// Snapshots at the window's start: (server, bench).
    static AT_START: Cell<(Cpu, Cpu)> = Cell::new((Cpu::default(), Cpu::default()));
    /// Over the window: (server, bench).
    static OVER_WINDOW: Cell<(Cpu, Cpu)> = Cell::new((Cpu::default(), Cpu::default()));
}

fn snapshot() -> (Cpu, Cpu) {
    (Cpu::of(SERVER_PID.get()), Cpu::of(std::process::id()))
}

/// The window starts now.
pub(crate) fn window_starts() {
    AT_START.set(snapshot());
}

/// The window ends now.
pub(crate) fn window_ends() {
    let (s0, b0) = AT_START.get();
    let (s1, b1) = snapshot();
    OVER_WINDOW.set((s1.since(s0), b1.since(b0)));
}

/// The CPU accounting of the last window.
pub(crate) fn last_window() -> (Cpu, Cpu) {
    OVER_WINDOW.get()
}

/// The `p`th percentile of `s`'s samples, a lost message counting above every latency;
/// `None` when it falls on a lost one.
fn pct(s: &Sampled, p: f64) -> Option<Duration> {
    let mut v = s.latencies.clone();
    v.sort();
    let n = (s.sent as usize).max(v.len());
    if n == 0 {
        return None;
    }
    let i = ((p / 100.0) * (n - 1) as f64).round() as usize;
    v.get(i).copied()
}

fn show(d: Option<Duration>) -> String {
    d.map_or_else(|| "lost".to_owned(), |d| format!("{:.3}", ms(d)))
}

fn row(name: &str, s: &Sampled) {
    let max = s.latencies.iter().max().copied();
    let max = if (s.latencies.len() as u64) < s.sent {
        None
    } else {
        max
    };
    let (server, bench) = s.cpu;
    println!(
        "{name:<10} {:>8} {:>8} {:>8} {:>9} {:>16} {:>18} {:>18}",
        show(pct(s, 50.0)),
        show(pct(s, 99.0)),
        show(pct(s, 99.9)),
        show(max),
        format!("{}/{}", s.latencies.len(), s.sent),
        format!(
            "{:.0} / {:.0}",
            server.run_ns as f64 / 1e6,
            server.wait_ns as f64 / 1e6
        ),
        format!(
            "{:.0} / {:.0}",
            bench.run_ns as f64 / 1e6,
            bench.wait_ns as f64 / 1e6
        ),
    );
}

/// Whether `s` meets the goal: p99 at most [`GOAL`] and every message received.
fn passes(s: &Sampled) -> bool {
    s.sent > 0 && s.latencies.len() as u64 >= s.sent && pct(s, 99.0).is_some_and(|p| p <= GOAL)
}

pub(crate) fn section(secs: f64, fd_limit: usize) {
    println!(
        "\n## Latency at a fixed offered load of {RATE} msg/s, {CLIENTS} clients \
         (ms; samples = received / sent in the {secs} s window, late ones waited for {} s)",
        DRAIN.as_secs()
    );
    if CLIENTS * 2 + 64 > fd_limit {
        println!("skipped: raise `ulimit -n` above {}", CLIENTS * 2 + 64);
        return;
    }
    let courier = run_with_child("hub", |addr| async move {
        let sampled = courier_run(&addr, CLIENTS, secs, Some(RATE)).await.1;
        // While the hub still runs: it writes its stamps as it goes.
        #[cfg(feature = "stage-trace")]
        crate::stages::report();
        sampled
    });
    let relay = run_with_child("tcp", |addr| async move {
        tcp_run(&addr, CLIENTS, secs, Some(RATE)).await.1
    });
    println!(
        "{:<10} {:>8} {:>8} {:>8} {:>9} {:>16} {:>18} {:>18}",
        "", "p50", "p99", "p99.9", "max", "samples", "server CPU/wait", "bench CPU/wait"
    );
    row("courier", &courier);
    row("tcp-relay", &relay);
    println!("(CPU/wait: ms on a CPU / ms runnable but waiting for one, during the window)");
    println!(
        "verdict: courier p99 ≤ 1 ms and all samples: {}",
        if passes(&courier) { "PASS" } else { "FAIL" }
    );
}
