//! Where a routed message waits: the latency section's messages stamped at each stage,
//! in the bench (sent, received) and in the hub (`hub::stages`: read, handled, queued,
//! taken by the writer, flushed), joined by sender and id.
//!
//! Build with `--features stage-trace` and run with `COURIER_BENCH_STAGES=1`; without
//! the feature none of this is compiled and the hub pays nothing. The hub child appends
//! its stamps to a file every 100 ms; after the run the bench reads them back and prints
//! each segment's p50/p99/max, and where the slowest 1 % spent their time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use courier_core::hub::stages;
use courier_core::proto::{ClientId, MsgId};

thread_local! {
    /// (sender, id) -> when sent and when received, in the bench process.
    static ENDS: RefCell<HashMap<(u64, u64), (u64, u64)>> = RefCell::new(HashMap::new());
}

/// The file the hub child writes its stamps to, when tracing.
pub(crate) fn file() -> Option<&'static PathBuf> {
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    FILE.get_or_init(|| {
        if let Some(f) = std::env::var_os("COURIER_BENCH_STAGES_FILE") {
            return Some(PathBuf::from(f));
        }
        (std::env::var("COURIER_BENCH_STAGES").as_deref() == Ok("1")).then(|| {
            std::env::temp_dir().join(format!("courier-bench-stages-{}", std::process::id()))
        })
    })
    .as_ref()
}

/// In the hub child: a thread that appends the hub's stamps to [`file`].
pub(crate) fn start_dumping() {
    let Some(path) = file() else { return };
    stages::enable();
    std::thread::spawn(move || {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        loop {
            std::thread::sleep(Duration::from_millis(100));
            for s in stages::take() {
                writeln!(out, "{} {} {} {}", s.from, s.id, s.stage as u8, s.at_ns).unwrap();
            }
            out.flush().unwrap();
        }
    });
}

/// A message of the window left the bench.
pub(crate) fn sent(from: &ClientId, id: MsgId) {
    if file().is_none() {
        return;
    }
    let at = stages::now_ns();
    ENDS.with(|e| e.borrow_mut().insert((stages::key(from), id.0), (at, 0)));
}

/// A message counted as a latency sample arrived.
pub(crate) fn received(from: &ClientId, id: MsgId) {
    if file().is_none() {
        return;
    }
    let at = stages::now_ns();
    ENDS.with(|e| {
        if let Some(ends) = e.borrow_mut().get_mut(&(stages::key(from), id.0)) {
            ends.1 = at;
        }
    });
}

const NAMES: [&str; 6] = [
    "bench send -> hub read",
    "hub read -> loop takes it",
    "loop takes it -> outbox",
    "outbox -> writer takes it",
    "writer takes it -> flushed",
    "flushed -> bench read",
];

/// Joins the bench's ends with the hub's stamps and prints the segments.
pub(crate) fn report() {
    let Some(path) = file() else { return };
    // The hub child writes every 100 ms.
    std::thread::sleep(Duration::from_millis(400));
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let _ = std::fs::remove_file(path);
    let mut hub: HashMap<(u64, u64), [u64; 5]> = HashMap::new();
    for line in text.lines() {
        let v: Vec<u64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
        let [from, id, stage, at] = v[..] else {
            continue;
        };
        let slot = &mut hub.entry((from, id)).or_insert([0; 5])[stage as usize];
        // A message to many would be queued more than once: its first.
        if *slot == 0 {
            *slot = at;
        }
    }
    let mut rows: Vec<[u64; 6]> = Vec::new();
    // Messages of the window that never arrived, by the last stage the hub stamped.
    let mut lost = [0usize; 6];
    ENDS.with(|e| {
        for (key, (sent, got)) in e.borrow_mut().drain() {
            let h = hub.get(&key).copied().unwrap_or([0; 5]);
            if got == 0 {
                lost[h.iter().take_while(|t| **t != 0).count()] += 1;
                continue;
            }
            if h.contains(&0) {
                continue;
            }
            let points = [sent, h[0], h[1], h[2], h[3], h[4], got];
            let mut seg = [0u64; 6];
            for i in 0..6 {
                seg[i] = points[i + 1].saturating_sub(points[i]);
            }
            rows.push(seg);
        }
    });
    println!(
        "stages of {} messages (µs; wall clocks of two processes, so the first and last \
         segments carry any skew):",
        rows.len()
    );
    println!(
        "not arrived, by the hub's last stage: never read {}, read {}, taken by the loop {}, \
         queued {}, taken by the writer {}, flushed {}",
        lost[0], lost[1], lost[2], lost[3], lost[4], lost[5]
    );
    if rows.is_empty() {
        return;
    }
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>14}",
        "segment", "p50", "p99", "max", "slowest 1 %"
    );
    let total = |r: &[u64; 6]| r.iter().sum::<u64>();
    rows.sort_by_key(total);
    let tail = &rows[rows.len() - (rows.len() / 100).max(1)..];
    for (i, name) in NAMES.iter().enumerate() {
        let mut v: Vec<u64> = rows.iter().map(|r| r[i]).collect();
        v.sort_unstable();
        let at = |p: f64| v[((v.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
        let tail_mean = tail.iter().map(|r| r[i]).sum::<u64>() as f64 / tail.len() as f64 / 1000.0;
        println!(
            "{name:<28} {:>9.1} {:>9.1} {:>9.1} {:>14.1}",
            at(0.5),
            at(0.99),
            at(1.0),
            tail_mean
        );
    }
    let mut ends: Vec<u64> = rows.iter().map(total).collect();
    ends.sort_unstable();
    println!(
        "{:<28} {:>9.1} {:>9.1} {:>9.1}",
        "end to end",
        ends[ends.len() / 2] as f64 / 1000.0,
        ends[(ends.len() - 1) * 99 / 100] as f64 / 1000.0,
        ends[ends.len() - 1] as f64 / 1000.0
    );
}
