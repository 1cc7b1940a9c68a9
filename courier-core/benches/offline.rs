//! Messages to offline contacts through a real hub with its database (a separate
//! process) on loopback: how many per second are acknowledged `stored` (each one on the
//! disk first), and how many per second reach their recipients when they come back.
//! The baseline, in the same run: a plain rusqlite loop inserting the same rows into
//! the same schema, in transactions of 256, with the hub's settings (WAL, synchronous
//! FULL).
//!
//! Run: `cargo bench -p courier-core --bench offline`
//! Environment: `COURIER_BENCH_MESSAGES=100000`, `COURIER_BENCH_SENDERS=50`,
//! `COURIER_BENCH_RECIPIENTS=100`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message as WsMessage;
use courier_core::identity::Identity;
use courier_core::proto::{self, ClientFrame, Delivery, MsgId, ServerFrame, Target};
use futures::SinkExt;

const MSG_BYTES: usize = 100;
/// Messages in flight per sender.
const WINDOW: usize = 256;

#[path = "common/hub_process.rs"]
mod hub_process;
use hub_process::{login, next_frame, spawn_hub};

fn main() {
    if std::env::var("COURIER_BENCH_ROLE").as_deref() == Ok("hub") {
        return hub_process::child_hub();
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let messages: usize = env_or("COURIER_BENCH_MESSAGES", "100000");
    let senders: usize = env_or("COURIER_BENCH_SENDERS", "50");
    let recipients: usize = env_or("COURIER_BENCH_RECIPIENTS", "100");
    println!(
        "# Courier offline-message benchmark (loopback, hub with its database in its own process)"
    );
    println!(
        "{messages} messages of {MSG_BYTES} bytes from {senders} senders to {recipients} offline recipients\n"
    );
    let dir = std::env::temp_dir().join(format!("courier-bench-offline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let baseline = sqlite_loop(&dir.join("baseline.db"), messages);
    let hub = spawn_hub(&dir.join("hub"));
    let (stored, drained) =
        futures_lite::future::block_on(run(&hub.addr, messages, senders, recipients));
    drop(hub);
    println!("{:<34} {:>12}", "", "msg/s");
    println!("{:<34} {:>12.0}", "sqlite insert loop (baseline)", baseline);
    println!(
        "{:<34} {:>12.0}   {:.2} x baseline",
        "acknowledged stored by the hub",
        stored,
        stored / baseline
    );
    println!(
        "{:<34} {:>12.0}   {:.2} x baseline",
        "drained to returning recipients",
        drained,
        drained / baseline
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn env_or<T: std::str::FromStr>(key: &str, default: &str) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .or_else(|| default.parse().ok())
        .expect("a number")
}

/// The same rows as the hub writes, into the same table, in transactions of 256.
fn sqlite_loop(path: &std::path::Path, messages: usize) -> f64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch(
        "CREATE TABLE stored (seq INTEGER PRIMARY KEY, recipient BLOB NOT NULL,
             sender BLOB NOT NULL, id INTEGER NOT NULL, sealed BLOB NOT NULL,
             time INTEGER NOT NULL) STRICT;
         CREATE INDEX stored_by_recipient ON stored (recipient, sender, id);",
    )
    .unwrap();
    // Sealed as the hub stores it: the envelope adds about 100 bytes.
    let text = vec![b'.'; MSG_BYTES + 100];
    let start = Instant::now();
    let mut conn = conn;
    for chunk in 0..messages.div_ceil(256) {
        let tx = conn.transaction().unwrap();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO stored (recipient, sender, id, sealed, time) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .unwrap();
            for i in chunk * 256..((chunk + 1) * 256).min(messages) {
                let recipient = [(i % 251) as u8; 32];
                insert
                    .execute(rusqlite::params![
                        &recipient[..],
                        &[7u8; 32][..],
                        i as i64,
                        &text,
                        0i64
                    ])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    messages as f64 / start.elapsed().as_secs_f64()
}

/// Stores `messages` for offline recipients, then brings them back: (stored msg/s,
/// drained msg/s).
async fn run(addr: &str, messages: usize, senders: usize, recipients: usize) -> (f64, f64) {
    let people: Vec<Identity> = (0..recipients)
        .map(|_| Identity::generate().unwrap())
        .collect();
    for who in &people {
        let (mut ws, _, _) = login(addr, who, false).await;
        let _ = ws.close(None).await;
    }
    async_io::Timer::after(Duration::from_millis(500)).await;
    let targets: Vec<_> = people.iter().map(Identity::id).collect();

    // Store: every sender keeps WINDOW messages in flight and counts `stored` receipts.
    let mut conns = Vec::new();
    for _ in 0..senders {
        conns.push(login(addr, &Identity::generate().unwrap(), false).await.0);
    }
    // Sealed as clients send it: the envelope adds about 100 bytes.
    let text = proto::Sealed::from(vec![b'.'; MSG_BYTES + 100]);
    let per_sender = messages / senders;
    let start = Instant::now();
    let tasks = conns.into_iter().enumerate().map(|(s, mut ws)| {
        let targets = targets.clone();
        let text = text.clone();
        async move {
            let (mut sent, mut stored) = (0usize, 0usize);
            while stored < per_sender {
                while sent < per_sender && sent - stored < WINDOW {
                    let to = targets[(s * per_sender + sent) % targets.len()];
                    let frame = ClientFrame::Send {
                        id: MsgId::random(),
                        to: Target::Client(to),
                        sealed: text.clone(),
                    };
                    ws.feed(WsMessage::Binary(proto::encode(&frame).into()))
                        .await
                        .unwrap();
                    sent += 1;
                }
                ws.flush().await.unwrap();
                if let ServerFrame::Receipt { status, .. } = next_frame(&mut ws).await {
                    assert_eq!(status, Delivery::Stored, "the hub kept it");
                    stored += 1;
                }
            }
            ws
        }
    });
    let done = futures::future::join_all(tasks).await;
    let stored_rate = (per_sender * senders) as f64 / start.elapsed().as_secs_f64();
    drop(done);

    // Drain: every recipient comes back; pages are acknowledged as they arrive.
    let start = Instant::now();
    let tasks = people.iter().map(|who| async move {
        let (mut ws, mut got, _) = login(addr, who, true).await;
        let expected = per_sender * senders / recipients;
        while got < expected {
            if let ServerFrame::MailboxPage(page) = next_frame(&mut ws).await {
                got += page.len();
                let ack = ClientFrame::MailboxAck;
                ws.send(WsMessage::Binary(proto::encode(&ack).into()))
                    .await
                    .unwrap();
            }
        }
        got
    });
    let drained: usize = futures::future::join_all(tasks).await.into_iter().sum();
    let drained_rate = drained as f64 / start.elapsed().as_secs_f64();
    (stored_rate, drained_rate)
}
