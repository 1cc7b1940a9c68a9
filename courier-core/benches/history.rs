//! A client's history with 1 000 000 messages (200 conversations; texts of common words
//! from a small vocabulary plus one rarer word from 20 000): how long a search takes
//! (full-text, newest 50 matches, p50/p99 over 200 queries each of common words, which
//! match a fifth of everything, and of a rare word, which matches about 50 messages) and
//! opening a conversation (its newest 50 messages), beside the same searches as a plain
//! `LIKE '%word%'` scan of the same table in the same run.
//!
//! Run: `cargo bench -p courier-core --bench history` (`COURIER_BENCH_MESSAGES=1000000`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::time::{Duration, Instant};

use courier_core::history::History;
use courier_core::proto::{ClientId, Message, MsgId, Target, Timestamp};

const WORDS: &[&str] = &[
    "lunch", "meeting", "slides", "printer", "coffee", "report", "deadline", "budget", "holiday",
    "server", "backup", "invoice", "client", "review", "draft", "schedule", "café", "naïve",
    "résumé", "garden", "bicycle", "window", "keyboard", "monitor", "network", "folder", "picture",
    "music", "train", "weather", "birthday", "pizza",
];

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let total: u64 = std::env::var("COURIER_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("courier-bench-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let hub = ClientId([9; 32]);
    let me = ClientId([1; 32]);
    let mut history = History::open(&dir, &hub).unwrap();
    println!("# Courier history benchmark: {total} messages, 200 conversations\n");

    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let start = Instant::now();
    let mut n = 0u64;
    while n < total {
        let batch = (total - n).min(10_000);
        history
            .batch(|h| {
                for k in n..n + batch {
                    let peer = ClientId([(k % 200) as u8 + 10; 32]);
                    let words: Vec<&str> = (0..8)
                        .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
                        .collect();
                    let text = format!("{} tag{} #{k}", words.join(" "), next() % 20_000);
                    if k % 2 == 0 {
                        h.received(&Message {
                            id: MsgId(k),
                            from: peer,
                            to: Target::Client(me),
                            text,
                            time: Timestamp(k),
                            seq: None,
                        })?;
                    } else {
                        h.sent(me, MsgId(k), Target::Client(peer), &text, Timestamp(k))?;
                    }
                }
                Ok(())
            })
            .unwrap();
        n += batch;
    }
    let filled = start.elapsed();
    println!(
        "filled in {:.1} s ({:.0} messages/s, in transactions of 10 000)\n",
        filled.as_secs_f64(),
        total as f64 / filled.as_secs_f64()
    );

    let common: Vec<String> = (0..200)
        .map(|i| {
            let a = WORDS[(next() % WORDS.len() as u64) as usize];
            if i % 2 == 0 {
                a.to_owned()
            } else {
                format!("{a} {}", WORDS[(next() % WORDS.len() as u64) as usize])
            }
        })
        .collect();
    let rare: Vec<String> = (0..200)
        .map(|_| format!("tag{}", next() % 20_000))
        .collect();
    let search = |queries: &[String]| {
        let mut times = Vec::new();
        for q in queries {
            let t = Instant::now();
            let found = history.search(q, 50).unwrap();
            times.push(t.elapsed());
            assert!(!found.is_empty(), "{q} is in the history");
        }
        times
    };
    let mut fts_common = search(&common);
    let mut fts_rare = search(&rare);
    // The baseline: the same searches as a scan (20 of each: a scan is slow).
    let raw = rusqlite::Connection::open(History::path_for(&dir, &hub)).unwrap();
    let scan = |queries: &[String]| {
        let mut times = Vec::new();
        for q in queries.iter().take(20) {
            let mut sql = String::from("SELECT seq FROM messages WHERE 1");
            for w in q.split(' ') {
                sql.push_str(&format!(" AND text LIKE '%{w} %'"));
            }
            sql.push_str(" ORDER BY seq DESC LIMIT 50");
            let t = Instant::now();
            let mut stmt = raw.prepare(&sql).unwrap();
            let rows: Vec<i64> = stmt
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            times.push(t.elapsed());
            assert!(!rows.is_empty());
        }
        times
    };
    let mut like_common = scan(&common);
    let mut like_rare = scan(&rare);
    let mut open = Vec::new();
    for k in 0..200u8 {
        let peer = Target::Client(ClientId([k % 200 + 10; 32]));
        let t = Instant::now();
        let page = history.page(Some(peer), None, 50).unwrap();
        open.push(t.elapsed());
        assert_eq!(page.len(), 50);
    }
    println!("{:<48} {:>9} {:>9}", "", "p50 ms", "p99 ms");
    row(
        "search common words, full-text (p99 <= 20 ms)",
        &mut fts_common,
    );
    row(
        "search common words, LIKE scan (baseline)",
        &mut like_common,
    );
    row(
        "search a rare word, full-text (p99 <= 20 ms)",
        &mut fts_rare,
    );
    row("search a rare word, LIKE scan (baseline)", &mut like_rare);
    row("open a conversation: newest 50 (<= 16 ms)", &mut open);
    let _ = std::fs::remove_dir_all(&dir);
}

fn row(name: &str, times: &mut [Duration]) {
    times.sort();
    let at = |p: f64| {
        let i = ((times.len() as f64 - 1.0) * p).round() as usize;
        times[i].as_secs_f64() * 1000.0
    };
    println!("{name:<48} {:>9.2} {:>9.2}", at(0.5), at(0.99));
}
