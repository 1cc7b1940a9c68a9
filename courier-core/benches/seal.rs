//! Sealing benchmark: what end-to-end encryption costs per message, on this machine.
//!
//! Reports: seal + open of a 100-byte direct message with the box cached (goal
//! <= 50 µs), and cold (the first message to a new key: two X25519 agreements, shown
//! for information); a message to a room of 100 members once the session is shared:
//! seal once + one member opens (goal <= 100 µs, twice the direct goal).
//!
//! Run: `cargo bench -p courier-core --bench seal`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    missing_docs
)]

use std::time::{Duration, Instant};

use courier_core::identity::Identity;
use courier_core::proto::{ClientId, GroupId, MsgId, Target, Timestamp};
use courier_core::seal::{KeyPolicy, Keyring, Payload};

const NOW: Timestamp = Timestamp(1_800_000_000_000);
const MEMBERS: usize = 100;

fn keyring() -> Keyring {
    Keyring::in_memory(&Identity::generate().unwrap(), KeyPolicy::default(), NOW).unwrap()
}

fn introduce(a: &mut Keyring, b: &mut Keyring) {
    let (ab, bb) = (a.bundle(NOW).unwrap(), b.bundle(NOW).unwrap());
    b.learn(a.me(), &[ab], NOW).unwrap();
    a.learn(b.me(), &[bb], NOW).unwrap();
}

/// Median of `rounds` timings of `per_round` runs of `f`, per run.
fn median(rounds: usize, per_round: u32, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_round {
                f();
            }
            start.elapsed() / per_round
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn show(what: &str, took: Duration, goal: Option<Duration>) {
    let us = took.as_secs_f64() * 1e6;
    match goal {
        Some(goal) => {
            let ok = if took <= goal { "ok" } else { "MISSED" };
            println!(
                "{what:<58} {us:>9.1} µs   goal <= {:>5.0} µs  {ok}",
                goal.as_secs_f64() * 1e6
            );
        }
        None => println!("{what:<58} {us:>9.1} µs   (information)"),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there are no test cases here
    }
    println!("# Courier sealing benchmark (one thread, medians)\n");
    let text = Payload::Text("x".repeat(100));
    let (mut alice, mut bob) = (keyring(), keyring());
    introduce(&mut alice, &mut bob);
    let mut id = 0u64;
    let from = alice.me();
    let to = bob.me();

    let direct = median(31, 200, || {
        id += 1;
        let sealed = alice.seal_direct(to, MsgId(id), &text, NOW).unwrap();
        bob.open_direct(from, MsgId(id), &sealed, NOW).unwrap();
    });
    show(
        "direct 100 B, seal + open, box cached",
        direct,
        Some(Duration::from_micros(50)),
    );

    // Cold: each round a new sender the recipient has not met (both sides compute
    // their box once). The keyrings are made outside the timing.
    let mut cold_times = Vec::new();
    for _ in 0..31 {
        let mut sender = keyring();
        introduce(&mut sender, &mut bob);
        let sender_id = sender.me();
        let start = Instant::now();
        let sealed = sender.seal_direct(to, MsgId(1), &text, NOW).unwrap();
        bob.open_direct(sender_id, MsgId(1), &sealed, NOW).unwrap();
        cold_times.push(start.elapsed());
    }
    cold_times.sort();
    show(
        "direct 100 B, seal + open, first message to a new key",
        cold_times[15],
        None,
    );

    // A room of 100: alice and 99 others; every member has the session already.
    let room = Target::Group(GroupId(1));
    let mut others: Vec<Keyring> = (1..MEMBERS).map(|_| keyring()).collect();
    for other in &mut others {
        introduce(&mut alice, other);
    }
    let members: Vec<ClientId> = others.iter().map(Keyring::me).collect();
    let first = alice
        .seal_room(room, &members, MsgId(0), &text, NOW)
        .unwrap();
    for (member, share) in first.shares {
        let Payload::RoomKey(key) = share else {
            panic!("share")
        };
        let keys = others.iter_mut().find(|k| k.me() == member).unwrap();
        keys.accept_room_key(from, key, NOW).unwrap();
    }
    let reader = &mut others[0];
    let mut id = 0u64;
    let group = median(31, 200, || {
        id += 1;
        let out = alice
            .seal_room(room, &members, MsgId(id), &text, NOW)
            .unwrap();
        assert!(out.shares.is_empty());
        reader
            .open_room(from, room, MsgId(id), &out.sealed, NOW)
            .unwrap();
    });
    show(
        &format!("room of {MEMBERS}, 100 B, seal once + one member opens"),
        group,
        Some(Duration::from_micros(100)),
    );
}
