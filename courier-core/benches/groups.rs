//! Routing to a group against routing to Everyone, through the hub machine itself (no
//! sockets: what the hub spends per delivery), in the same run: 100 members online, one
//! of them sending 100-byte messages to a group of all 100, then the same messages to
//! Everyone (the same fan-out of 99). Prints deliveries per second for both and the
//! ratio (the goal: the group at least 0.8 × Everyone).
//!
//! Run: `cargo bench -p courier-core --bench groups`
//! Environment: `COURIER_BENCH_MESSAGES=2000` (messages per side).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::time::Instant;

use courier_core::hub::Transmit;
use courier_core::proto::{ClientFrame, ClientId, GroupId, GroupOutcome, MsgId, Target};
use courier_core::session::{Event, GroupRequest};
use courier_core::testing::{Sim, hub_config};

const MEMBERS: u8 = 100;
const PW: &str = "bench password";

/// Sends `n` messages from client 0 to `to` straight into the hub; deliveries per
/// second (frames handed to the other members' connections).
fn route(sim: &mut Sim, to: Target, n: u64, first_id: u64) -> f64 {
    let conn = sim.clients[0].conn;
    // A 100-byte text sealed: about 100 bytes of envelope around it.
    let sealed = courier_core::proto::Sealed::from(vec![b'x'; 200]);
    let mut delivered = 0u64;
    let start = Instant::now();
    for k in 0..n {
        let frame = ClientFrame::Send {
            id: MsgId(first_id + k),
            to,
            sealed: sealed.clone(),
        };
        sim.hub.handle_frame(conn, frame, sim.now);
        while let Some(t) = sim.hub.poll_transmit() {
            if let Transmit::Frame { conn: c, .. } = t
                && c != conn
            {
                delivered += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(
        delivered,
        n * u64::from(MEMBERS - 1),
        "every member, every message"
    );
    delivered as f64 / secs
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there are no test cases here
    }
    let n: u64 = std::env::var("COURIER_BENCH_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let mut config = hub_config(&courier_core::auth::Password::new(PW));
    config.message_rate = u32::MAX / 4;
    config.message_burst = u32::MAX / 4;
    config.connects_per_sec = 10_000;
    config.connect_burst = 10_000;
    config.max_preauth_per_ip = 10_000;
    let mut sim = Sim::with_config(config, PW);
    for who in 1..=MEMBERS {
        sim.login(who, &format!("member {who}"));
    }
    let members: Vec<ClientId> = (2..=MEMBERS).map(|w| ClientId([w; 32])).collect();
    let now = sim.now;
    let request = GroupRequest::Create {
        name: "everyone but in a group".into(),
        members,
    };
    sim.clients[0]
        .session
        .change_group(1, request, now)
        .unwrap();
    sim.run();
    let group: GroupId = sim.clients[0]
        .events
        .iter()
        .find_map(|e| match e {
            Event::GroupAnswer {
                outcome: GroupOutcome::Done(g),
                ..
            } => Some(*g),
            _ => None,
        })
        .expect("the group was created");
    sim.clear();
    println!(
        "# Routing to a group of {MEMBERS} against Everyone on a hub of {MEMBERS} (the hub machine, {n} messages each)"
    );
    // Warm both paths, then measure them in turn.
    route(&mut sim, Target::Group(group), n / 10, 0);
    route(&mut sim, Target::Everyone, n / 10, 1_000_000);
    let group_rate = route(&mut sim, Target::Group(group), n, 2_000_000);
    let everyone_rate = route(&mut sim, Target::Everyone, n, 3_000_000);
    println!("group of {MEMBERS}:    {group_rate:>12.0} deliveries/s");
    println!("Everyone ({MEMBERS}):   {everyone_rate:>12.0} deliveries/s (baseline)");
    println!(
        "ratio: {:.2} (goal: at least 0.8)",
        group_rate / everyone_rate
    );
    println!(
        "group log entries kept: {} (every member online: none)",
        sim.hub.stats().group_entries
    );
}
