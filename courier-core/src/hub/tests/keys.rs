//! Published keys on the simulator: checked against the publisher's certificate, the
//! newest few kept per member, shown in contact cards, handed out on request (nothing
//! for a stranger), bounded per member against a flooding publisher, and kept on the
//! disk across a restart. Bundles are really signed by the members' certificates; the
//! hub refuses unsigned ones and those with an unbounded lifetime.
use serde_bytes::ByteBuf;

use crate::identity::Identity;

use super::storing::Disk;
use super::*;
use crate::proto::{KeyBundle, KeyId};

/// About the simulated hub's wall clock (the real one, read once for all tests, so that
/// bundles made twice are the same).
static WALL: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| Timestamp::now().0);
const DAY: u64 = 24 * 3600 * 1000;

/// A member with a real identity (its id is its certificate's fingerprint); returns its
/// index and identity.
fn member(sim: &mut Sim, name: &str) -> (usize, Identity) {
    let identity = Identity::generate().unwrap();
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let i = sim.connect_as(ip, identity.id(), PW, name).unwrap();
    sim.start_login(i);
    sim.run();
    sim.advance(limits::PRESENCE_BATCH);
    (i, identity)
}

/// A bundle signed by `identity`, made `created` ms after [`WALL`], living `life` ms.
fn signed(identity: &Identity, key: u8, created: u64, life: u64) -> KeyBundle {
    let created = Timestamp(*WALL + created);
    let expires = Timestamp(created.0 + life);
    crate::seal::sign_bundle(identity, [key; 32], [key; 32], created, expires).unwrap()
}

/// A week-long bundle signed by `identity`, made `created` ms after [`WALL`].
fn bundle(identity: &Identity, key: u8, created: u64) -> KeyBundle {
    signed(identity, key, created, 7 * DAY)
}

/// What tells bundles apart here (signatures differ each time one is made).
fn keys(bundles: &[KeyBundle]) -> Vec<(u8, Timestamp)> {
    bundles.iter().map(|b| (b.sealing[0], b.created)).collect()
}

fn publish(sim: &mut Sim, i: usize, b: KeyBundle) {
    sim.raw(i, &ClientFrame::PublishKeys(b));
    sim.advance(limits::PRESENCE_BATCH);
}

/// The bundles the hub handed `i` for `whose`, in its last answer.
fn keys_of(sim: &mut Sim, i: usize, whose: ClientId) -> Vec<KeyBundle> {
    sim.clients[i].frames.clear();
    sim.raw(i, &ClientFrame::GetKeys { id: whose });
    sim.clients[i]
        .frames
        .iter()
        .rev()
        .find_map(|f| match f {
            ServerFrame::Keys { id, bundles } if *id == whose => Some(bundles.clone()),
            _ => None,
        })
        .expect("the hub answered")
}

/// The key ids `i` saw in `whose`'s contact updates, in order.
fn cards(sim: &Sim, i: usize, whose: ClientId) -> Vec<Option<KeyId>> {
    sim.events(i)
        .iter()
        .filter_map(|e| match e {
            SEvent::Contact(c) if c.id == whose => Some(c.profile.keys),
            _ => None,
        })
        .collect()
}

fn errors(sim: &Sim, i: usize) -> Vec<ErrorCode> {
    sim.clients[i]
        .frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Error { code, .. } => Some(*code),
            _ => None,
        })
        .collect()
}

#[test]
fn published_keys_reach_contact_cards_and_are_handed_out_newest_first() {
    let mut sim = Sim::new(PW);
    let (a, cert) = member(&mut sim, "alice");
    let (b, _) = member(&mut sim, "bob");
    let alice = sim.clients[a].id;
    sim.clear();
    publish(&mut sim, a, bundle(&cert, 1, 1_000));
    sim.advance(Duration::from_secs(1));
    publish(&mut sim, a, bundle(&cert, 2, 2_000));
    sim.advance(Duration::from_secs(1));
    // Every login publishes the same keys again: nobody hears of it.
    publish(&mut sim, a, bundle(&cert, 2, 2_000));
    assert_eq!(
        cards(&sim, b, alice),
        vec![Some(KeyId::of(&[1; 32])), Some(KeyId::of(&[2; 32]))],
        "each new newest key is a contact update, like a profile change"
    );
    assert_eq!(
        keys(&keys_of(&mut sim, b, alice)),
        keys(&[bundle(&cert, 2, 2_000), bundle(&cert, 1, 1_000)])
    );
    // A newcomer's list carries the newest key id at once.
    let c = sim.login(3, "carol");
    let listed = sim.events(c).iter().find_map(|e| match e {
        SEvent::LoggedIn { contacts, .. } => contacts.iter().find(|x| x.id == alice).cloned(),
        _ => None,
    });
    assert_eq!(listed.unwrap().profile.keys, Some(KeyId::of(&[2; 32])));
}

#[test]
fn keys_of_an_unknown_id_are_empty_and_reveal_nothing() {
    let mut sim = Sim::new(PW);
    let (a, _) = member(&mut sim, "alice");
    assert_eq!(keys_of(&mut sim, a, ClientId([9; 32])), vec![]);
    // A member who never published: empty too, the same answer.
    let (_b, bob) = member(&mut sim, "bob");
    assert_eq!(keys_of(&mut sim, a, bob.id()), vec![]);
    assert!(sim.is_online(a));
}

#[test]
fn a_bundle_of_another_certificate_or_an_unknown_version_is_refused() {
    let mut sim = Sim::new(PW);
    let (a, cert) = member(&mut sim, "alice");
    let (b, cert_b) = member(&mut sim, "bob");
    let alice = sim.clients[a].id;
    sim.clear();
    // Bob's bundle from Alice: the hub would hand out a key Alice never made.
    publish(&mut sim, a, bundle(&cert_b, 1, 1_000));
    sim.advance(Duration::from_secs(1));
    let mut future = bundle(&cert, 1, 1_000);
    future.version = 2;
    publish(&mut sim, a, future);
    sim.advance(Duration::from_secs(1));
    let mut huge = bundle(&cert, 1, 1_000);
    huge.signature = ByteBuf::from(vec![0; crate::proto::MAX_BUNDLE_SIGNATURE + 1]);
    publish(&mut sim, a, huge);
    sim.advance(Duration::from_secs(1));
    let backwards = bundle(&cert, 1, 1_000);
    publish(
        &mut sim,
        a,
        KeyBundle {
            expires: Timestamp(999),
            ..backwards
        },
    );
    assert_eq!(errors(&sim, a), vec![ErrorCode::InvalidKeys; 4]);
    assert_eq!(keys_of(&mut sim, b, alice), vec![]);
    assert!(cards(&sim, b, alice).is_empty());
    assert!(sim.is_online(a), "a refused bundle is not fatal");
}

/// One member tries to fill the hub's table of keys: it keeps its newest four, and a
/// burst of publishes is rate limited (each over the limit a violation).
#[test]
fn one_member_cannot_fill_the_table_of_keys() {
    let mut sim = Sim::new(PW);
    let (m, cert) = member(&mut sim, "mallory");
    let (b, _) = member(&mut sim, "bob");
    let mallory = sim.clients[m].id;
    for k in 0..12u8 {
        publish(&mut sim, m, bundle(&cert, k, 1_000 + u64::from(k)));
        sim.advance(Duration::from_secs(1));
    }
    let kept = keys_of(&mut sim, b, mallory);
    assert_eq!(
        kept.iter().map(|b| b.sealing[0]).collect::<Vec<_>>(),
        vec![11, 10, 9, 8],
        "the newest four, newest first"
    );
    // All at once: the first few go through, the rest are refused.
    sim.clients[m].frames.clear();
    for k in 100..120u8 {
        sim.raw(
            m,
            &ClientFrame::PublishKeys(bundle(&cert, k, 10_000 + u64::from(k))),
        );
    }
    let limited = errors(&sim, m)
        .iter()
        .filter(|c| **c == ErrorCode::RateLimited)
        .count();
    assert!(limited >= 17, "{limited} refused");
    assert_eq!(keys_of(&mut sim, b, mallory).len(), 4);
}

/// One member asks for keys in a flood (real and made-up ids): it is refused past its
/// own allowance, and another member's requests are answered as before.
#[test]
fn one_members_flood_of_key_requests_costs_the_others_nothing() {
    let mut sim = Sim::new(PW);
    let (m, _) = member(&mut sim, "mallory");
    let (b, _) = member(&mut sim, "bob");
    let (a, alice_cert) = member(&mut sim, "alice");
    let alice = sim.clients[a].id;
    publish(&mut sim, a, bundle(&alice_cert, 1, 1_000));
    sim.clients[m].frames.clear();
    for k in 0..2_000u32 {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&k.to_be_bytes());
        let id = if k % 2 == 0 { alice } else { ClientId(id) };
        sim.raw(m, &ClientFrame::GetKeys { id });
    }
    let refused = errors(&sim, m)
        .iter()
        .filter(|c| **c == ErrorCode::RateLimited)
        .count();
    assert!(
        refused > 0 || !sim.is_online(m),
        "a flood of requests is refused or closed"
    );
    let kept = keys_of(&mut sim, b, alice);
    assert_eq!(kept.len(), 1, "bob is answered as before");
    assert!(sim.is_online(b));
}

#[test]
fn keys_survive_a_restart_of_the_hub() {
    let disk = Disk::new("keys");
    let mut sim = Sim::new(PW);
    sim.hub
        .restore(disk.db.members().unwrap(), disk.db.backlogs().unwrap());
    let (a, cert) = member(&mut sim, "alice");
    let alice = sim.clients[a].id;
    publish(&mut sim, a, bundle(&cert, 1, 1_000));
    sim.advance(Duration::from_secs(1));
    publish(&mut sim, a, bundle(&cert, 2, 2_000));
    disk.sync(&mut sim);
    let mut sim = Sim::new(PW);
    sim.hub
        .restore(disk.db.members().unwrap(), disk.db.backlogs().unwrap());
    sim.hub.restore_keys(disk.db.bundles().unwrap());
    let b = sim.login(2, "bob");
    let listed = sim.events(b).iter().find_map(|e| match e {
        SEvent::LoggedIn { contacts, .. } => contacts.iter().find(|x| x.id == alice).cloned(),
        _ => None,
    });
    assert_eq!(listed.unwrap().profile.keys, Some(KeyId::of(&[2; 32])));
    assert_eq!(
        keys(&keys_of(&mut sim, b, alice)),
        keys(&[bundle(&cert, 2, 2_000), bundle(&cert, 1, 1_000)])
    );
}

/// Proves the hub checks what only a signature and a clock can tell: a bundle whose
/// signature does not match (a changed key, or no signature), one living over 400 days,
/// and one made more than a day ahead of the hub's clock are refused as invalid keys and
/// never handed out; 400 days exactly and a few hours ahead are fine.
#[test]
fn an_unsigned_endless_or_future_bundle_is_refused() {
    let mut sim = Sim::new(PW);
    let (a, alice_id) = member(&mut sim, "alice");
    let (b, _) = member(&mut sim, "bob");
    let alice = sim.clients[a].id;
    sim.clear();
    let mut forged = bundle(&alice_id, 1, 1_000);
    forged.sealing = [66; 32];
    let unsigned = KeyBundle {
        signature: ByteBuf::from(vec![0; 64]),
        ..bundle(&alice_id, 2, 1_000)
    };
    for refused in [
        forged,
        unsigned,
        signed(&alice_id, 3, 1_000, 400 * DAY + 1),
        signed(&alice_id, 4, DAY + 60_000, 7 * DAY),
        signed(&alice_id, 5, 0, 100 * 365 * DAY),
    ] {
        publish(&mut sim, a, refused);
        sim.advance(Duration::from_secs(1));
    }
    assert_eq!(errors(&sim, a), vec![ErrorCode::InvalidKeys; 5]);
    assert_eq!(keys_of(&mut sim, b, alice), vec![]);
    sim.clients[a].frames.clear();
    publish(&mut sim, a, signed(&alice_id, 6, 1_000, 400 * DAY));
    sim.advance(Duration::from_secs(1));
    publish(&mut sim, a, signed(&alice_id, 7, 3 * 3600 * 1000, 7 * DAY));
    assert_eq!(errors(&sim, a), vec![]);
    assert_eq!(keys_of(&mut sim, b, alice).len(), 2);
}

/// Clients keep rotated private keys as long as the hub keeps messages for them: the
/// welcome says how many days that is.
#[test]
fn the_welcome_says_how_long_the_hub_keeps_messages() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let days = sim.clients[a].frames.iter().find_map(|f| match f {
        ServerFrame::Welcome { offline_days, .. } => Some(*offline_days),
        _ => None,
    });
    let expected = sim
        .hub
        .config()
        .offline_max_age
        .as_secs()
        .div_ceil(24 * 3600);
    assert_eq!(days.map(u64::from), Some(expected));
    assert!(expected > 0);
}
