//! A hub that comes back with a big past: 100 000 members and 1 000 000 messages
//! backlogs for 10 000 of them in its database. How long from starting the hub's
//! process to a member logged in and its first page of kept messages received, and the
//! hub's memory then (VmRSS) and at its peak (VmHWM); beside, in the same run, the same
//! hub started on an empty database. The bars: ready within 1 s, 64 MiB.
//!
//! Run: `cargo bench -p courier-core --bench backlog`
//! Environment: `COURIER_BENCH_MEMBERS=100000`, `COURIER_BENCH_MESSAGES=1000000`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message as WsMessage;
use courier_core::hub::{self, db};
use courier_core::identity::Identity;
use courier_core::proto::{
    self, ClientFrame, ClientId, MsgId, Profile, SealedMessage, ServerFrame, Target, Timestamp,
};

#[path = "common/hub_process.rs"]
mod hub_process;
use hub_process::{login, next_frame, spawn_hub};

/// Members that wait for messages, and real identities among them (who log in).
const RECIPIENTS: usize = 10_000;
const REAL: usize = 10;

fn main() {
    if std::env::var("COURIER_BENCH_ROLE").as_deref() == Ok("hub") {
        return hub_process::child_hub();
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let members: usize = env_or("COURIER_BENCH_MEMBERS", 100_000);
    let messages: usize = env_or("COURIER_BENCH_MESSAGES", 1_000_000);
    println!("# Courier hub restart benchmark: {members} members, {messages} kept messages\n");
    let root = std::env::temp_dir().join(format!("courier-bench-backlog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let real: Vec<Identity> = (0..REAL).map(|_| Identity::generate().unwrap()).collect();

    // The baseline: the same hub on an empty database (the member logs in first).
    let empty = measure(&root.join("empty"), &real[0], 0);

    let dir = root.join("full");
    let start = Instant::now();
    fill(&dir, &real, members, messages);
    println!(
        "database filled in {:.1} s ({:.0} MB)\n",
        start.elapsed().as_secs_f64(),
        dir_size(&dir) as f64 / 1e6
    );
    {
        // Where a start's time goes: reading the members, and the backlog's counts.
        let database = hub::Home::open(&dir).unwrap().database().unwrap();
        let t = Instant::now();
        let mut n = 0;
        database.each_member(|_| n += 1).unwrap();
        let read_members = t.elapsed();
        let t = Instant::now();
        let secret = courier_core::auth::HubSecret::register(
            &mut rand::thread_rng(),
            &courier_core::auth::Password::new("x"),
        )
        .unwrap();
        let mut machine = hub::Hub::new(
            hub::Config::new(Identity::generate().unwrap(), secret),
            Instant::now(),
            Timestamp::now(),
        );
        let made = t.elapsed();
        let t = Instant::now();
        machine.restore(std::iter::empty(), database.backlogs().unwrap());
        database.each_member(|m| machine.restore_member(m)).unwrap();
        println!(
            "a hub machine made in {:.0} ms, restored in {:.0} ms",
            made.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e3
        );
        drop(machine);
        let t = Instant::now();
        let backlogs = database.backlogs().unwrap();
        println!(
            "reading {n} members: {:.0} ms; the backlog's counts ({} recipients): {:.1} ms\n",
            read_members.as_secs_f64() * 1e3,
            backlogs.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    let per_recipient = messages / RECIPIENTS;
    let full = measure(
        &dir,
        &real[0],
        per_recipient.min(courier_core::limits::MAILBOX_PAGE),
    );

    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "", "ready ms", "listed ms", "page ms", "RSS MiB", "peak MiB"
    );
    let label_full = format!("{members} members, {messages} kept messages");
    for (label, r) in [
        ("empty database (baseline)", &empty),
        (label_full.as_str(), &full),
    ] {
        println!(
            "{label:<44} {:>10.0} {:>10.0} {:>10.0} {:>9.1} {:>9.1}",
            r.ready.as_secs_f64() * 1e3,
            r.listed.as_secs_f64() * 1e3,
            r.first_page.as_secs_f64() * 1e3,
            r.rss,
            r.peak
        );
    }
    println!();
    println!(
        "ready = the hub's welcome to a member's login; listed = the member has the whole \
         contact list (pages of {} pulled one by one); page = its first kept messages",
        courier_core::limits::CONTACT_PAGE
    );
    println!(
        "ready: {:.2} of the 1 s bar ({:.1}× the empty hub); memory: {:.2} of the 64 MiB bar (peak {:.2})",
        full.ready.as_secs_f64(),
        full.ready.as_secs_f64() / empty.ready.as_secs_f64(),
        full.rss / 64.0,
        full.peak / 64.0
    );
    let _ = std::fs::remove_dir_all(&root);
}

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Run {
    /// Start to the hub's welcome for a member's login.
    ready: Duration,
    /// Start to the whole contact list at the client.
    listed: Duration,
    /// Start to the first page of kept messages.
    first_page: Duration,
    rss: f64,
    peak: f64,
}

/// Starts the hub on `dir`, logs `who` in and waits for `expect` kept messages.
fn measure(dir: &std::path::Path, who: &Identity, expect: usize) -> Run {
    let start = Instant::now();
    let hub = spawn_hub(dir);
    let (welcomed, listed) = futures_lite::future::block_on(async {
        let (mut ws, mut got, welcomed) = login(&hub.addr, who, false).await;
        let listed = start.elapsed();
        while got < expect {
            if let ServerFrame::MailboxPage(page) = next_frame(&mut ws).await {
                got += page.len();
                ws.send(WsMessage::Binary(
                    proto::encode(&ClientFrame::MailboxAck).into(),
                ))
                .await
                .unwrap();
            }
        }
        (welcomed.duration_since(start), listed)
    });
    let first_page = start.elapsed();
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", hub.child.id())).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    Run {
        ready: welcomed,
        listed,
        first_page,
        rss: field("VmRSS:"),
        peak: field("VmHWM:"),
    }
}

fn fill(dir: &std::path::Path, real: &[Identity], members: usize, messages: usize) {
    let home = hub::Home::open(dir).unwrap();
    let database = home.database().unwrap();
    let ids: Vec<ClientId> = (0..members)
        .map(|n| match real.get(n) {
            Some(identity) => identity.id(),
            None => {
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&(n as u64).to_be_bytes());
                id[31] = 0xC0;
                ClientId(id)
            }
        })
        .collect();
    for chunk in ids.chunks(10_000) {
        let records: Vec<db::Record> = chunk
            .iter()
            .enumerate()
            .map(|(n, id)| {
                let mut profile = Profile::with_name(format!("Member {}", id.short()));
                if n % 3 == 0 {
                    profile.status = "back on Monday".into();
                }
                db::Record::Member(db::Member {
                    id: *id,
                    profile,
                    first_seen: Some(Timestamp(1_700_000_000_000)),
                    last_seen: Timestamp(1_700_000_000_000),
                    logins: 3,
                    avatar_changed: None,
                    remembered_since: Some(Timestamp(1_700_000_000_000)),
                    card_mark: Default::default(),
                })
            })
            .collect();
        database.write(&records).unwrap();
    }
    // A 100-byte text sealed: about 100 bytes of envelope around it.
    let sealed = courier_core::proto::Sealed::from(vec![b'x'; 200]);
    let recipients = RECIPIENTS.min(members);
    let mut n = 0;
    while n < messages {
        let end = (n + 20_000).min(messages);
        let records: Vec<db::Record> = (n..end)
            .map(|k| {
                let to = ids[k % recipients];
                db::Record::Message {
                    to,
                    message: Arc::new(SealedMessage {
                        id: MsgId(k as u64),
                        from: ids[(k + 1) % members],
                        to: Target::Client(to),
                        sealed: sealed.clone(),
                        // Now: the hub keeps messages for 30 days.
                        time: Timestamp::now(),
                        seq: None,
                    }),
                }
            })
            .collect();
        database.write(&records).unwrap();
        n = end;
    }
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
