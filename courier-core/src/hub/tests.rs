//! Hub state-machine tests on the in-memory simulator, with synthetic time.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::proto::{
    ClientFrame, Delivery, ErrorCode, LoginRejection, Message, MsgId, PROTOCOL_VERSION, Profile,
    RejectReason, ServerFrame, Target, Timestamp,
};
use crate::session::Event as SEvent;
use crate::testing::Sim;

const PW: &str = "correct horse";

fn messages(sim: &Sim, i: usize) -> Vec<Message> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Makes `whos` members of long standing (not new identities, whose messages for
/// offline members share the newcomers' room): each logs in once, then a week passes.
fn established(sim: &mut Sim, whos: &[u8]) {
    for &who in whos {
        let i = sim.login(who, "member");
        sim.disconnect(i);
    }
    sim.advance(limits::NEWCOMER);
}

/// How many of client `i`'s messages were acknowledged `stored`.
fn stored(sim: &Sim, i: usize) -> usize {
    receipts(sim, i)
        .iter()
        .filter(|(_, d)| *d == Delivery::Stored)
        .count()
}

fn receipts(sim: &Sim, i: usize) -> Vec<(MsgId, Delivery)> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::Receipt { id, status } => Some((*id, status.clone())),
            _ => None,
        })
        .collect()
}

fn send(sim: &mut Sim, i: usize, id: u64, to: Target, text: &str) {
    let now = sim.now;
    sim.clients[i]
        .session
        .send_message(MsgId(id), to, text.into(), now)
        .unwrap();
    sim.run();
}

fn id(who: u8) -> ClientId {
    ClientId([who; 32])
}

#[test]
fn login_shares_contacts_both_ways() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    assert!(sim.is_online(a));
    assert!(
        matches!(&sim.events(a)[0], SEvent::LoggedIn { you, contacts, .. }
        if *you == id(1) && contacts.is_empty())
    );
    let b = sim.login(2, "bob");
    // Bob sees Alice in his welcome; Alice hears Bob join.
    assert!(
        matches!(&sim.events(b)[0], SEvent::LoggedIn { contacts, .. }
        if contacts.len() == 1 && contacts[0].id == id(1) && contacts[0].online
            && contacts[0].profile.name == "alice")
    );
    assert!(sim.events(a).iter().any(|e| matches!(e, SEvent::Contact(c)
        if c.id == id(2) && c.online && c.profile.name == "bob")));
    assert_eq!(sim.hub.stats().logged_in, 2);
    assert_eq!(sim.hub.stats().preauth, 0);
}

#[test]
fn heartbeat_pings_then_drops_silent_clients_and_tells_others() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.clear();
    // Idle but alive: the hub pings, both answer, nobody is dropped.
    sim.advance(limits::HEARTBEAT_TIMEOUT * 2);
    assert!(sim.clients[a].frames.contains(&ServerFrame::Ping));
    assert!(sim.is_online(a) && sim.is_online(b));
    // Alice's cable is pulled; Bob stays.
    sim.raw(a, &ClientFrame::Ping); // last sign of life, now
    sim.mute(a);
    sim.advance(limits::HEARTBEAT_TIMEOUT - Duration::from_secs(2));
    assert_eq!(sim.clients[a].closed, None);
    sim.advance(limits::HEARTBEAT_INTERVAL);
    assert_eq!(sim.clients[a].closed, Some(CloseReason::HeartbeatTimeout));
    assert_eq!(sim.clients[b].closed, None);
    assert!(
        sim.events(b)
            .iter()
            .any(|e| matches!(e, SEvent::Contact(c) if !c.online && c.id == id(1)))
    );
}

#[test]
fn bad_input_maps_to_close_codes() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "a");
    let b = sim.login(2, "b");
    let c = sim.login(3, "c");
    let now = sim.now;
    sim.hub
        .handle_bad_input(sim.clients[a].conn, BadInput::TooBig, now);
    sim.hub
        .handle_bad_input(sim.clients[b].conn, BadInput::Text, now);
    sim.hub.handle_bad_input(
        sim.clients[c].conn,
        BadInput::Malformed(crate::proto::DecodeError::Truncated),
        now,
    );
    sim.run();
    assert_eq!(sim.clients[a].closed.map(CloseReason::code), Some(1009));
    assert_eq!(sim.clients[b].closed.map(CloseReason::code), Some(1003));
    assert_eq!(sim.clients[c].closed.map(CloseReason::code), Some(1008));
}

#[test]
fn shutdown_says_goodbye() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "a");
    let now = sim.now;
    sim.hub.shutdown(now, Timestamp::now());
    sim.run();
    assert!(sim.clients[a].frames.contains(&ServerFrame::Closing));
    assert_eq!(sim.clients[a].closed, Some(CloseReason::Shutdown));
    assert_eq!(sim.clients[a].error.as_deref(), Some("the hub shut down"));
}

/// Makes the hub know `n` members who came once and left, with ids from `first` on.
fn known_offline(sim: &mut Sim, first: u64, n: usize) {
    for i in 0..n as u64 {
        let mut who = [0u8; 32];
        who[..8].copy_from_slice(&(first + i).to_le_bytes());
        let conn = ConnId(1_000_000 + first + i);
        sim.hub
            .directory
            .login(ClientId(who), conn, Profile::with_name("x"), Timestamp(1));
        sim.hub.directory.logout(ClientId(who), conn, Timestamp(2));
    }
}

mod bans;
mod contacts;
mod fairness;
mod groups;
mod groups_disk;
mod groups_hostile;
mod groups_order;
mod groups_review;
mod hostile_hub;
mod key_shares;
mod keys;
mod login;
mod messages;
mod offers;
mod reachback;
mod receipts;
mod remember;
mod roster;
mod shares;
mod storing;
mod storms;
mod totals;
mod transfers;
