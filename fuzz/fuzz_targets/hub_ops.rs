//! Random operation sequences against the hub state machine, through the in-memory
//! simulator: logins (right and wrong password), arbitrary frames and bytes, drops, pulled
//! cables and time. Invariants: no panic; every delivered message is stamped with the
//! identity of a client that logged in, never the recipient's own for a direct message;
//! the hub never tracks more connections than were opened.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use arbitrary::Arbitrary;
use courier_core::proto::{ClientFrame, ClientId, ServerFrame, Target};
use courier_core::testing::Sim;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Op {
    Login { who: u8, wrong_password: bool },
    Connect { who: u8, ip: u8 },
    Frame { client: u8, frame: ClientFrame },
    Bytes { client: u8, bytes: Vec<u8> },
    Disconnect { client: u8 },
    Mute { client: u8 },
    Advance { millis: u16 },
}

fuzz_target!(|ops: Vec<Op>| {
    let mut sim = Sim::new("pw");
    let mut logins = 0;
    for op in ops.into_iter().take(64) {
        let n = sim.clients.len().max(1);
        match op {
            // Fuzz builds skip Argon2 (see auth::Suite), so logins are cheap.
            Op::Login { who, wrong_password } if logins < 16 => {
                logins += 1;
                let pw = if wrong_password { "nope" } else { "pw" };
                sim.login_with(who % 8 + 1, "user", pw);
            }
            Op::Login { .. } => {}
            Op::Connect { who, ip } => {
                let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, ip % 4));
                sim.connect_from(ip, who % 8 + 1, "pw", "raw");
            }
            Op::Frame { client, frame } => sim.raw(usize::from(client) % n, &frame),
            Op::Bytes { client, bytes } => {
                let i = usize::from(client) % n;
                if let Some(conn) = sim.clients.get(i).map(|c| c.conn) {
                    match courier_core::proto::decode_client(&bytes) {
                        Ok(f) => sim.hub.handle_frame(conn, f, sim.now),
                        Err(e) => sim.hub.handle_bad_input(
                            conn,
                            courier_core::hub::BadInput::Malformed(e),
                            sim.now,
                        ),
                    }
                    sim.run();
                }
            }
            Op::Disconnect { client } => sim.disconnect(usize::from(client) % n),
            Op::Mute { client } => sim.mute(usize::from(client) % n),
            Op::Advance { millis } => sim.advance(Duration::from_millis(u64::from(millis) * 10)),
        }
        assert!(sim.hub.stats().connections <= sim.clients.len());
    }
    let logged_in: Vec<ClientId> =
        sim.clients.iter().filter(|c| c.session.is_ready()).map(|c| c.id).collect();
    for c in &sim.clients {
        for f in &c.frames {
            if let ServerFrame::Message(m) = f {
                assert!(logged_in.contains(&m.from), "message from a client that never logged in");
                if let Target::Client(to) = m.to {
                    assert_eq!(to, c.id, "a direct message reached someone else");
                    assert_ne!(m.from, c.id, "a message to oneself was delivered");
                }
            }
        }
    }
});
