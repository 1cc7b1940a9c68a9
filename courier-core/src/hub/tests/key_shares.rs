//! Room key shares in one frame ([`ClientFrame::Shares`]): each item routed like a
//! direct message with its own receipt, on an allowance of their own (a whole group at
//! once is never refused), a flood of them refused without touching anyone else's
//! messages, and items for offline members stored and handed over at their login.
use super::storing::Disk;
use super::*;
use crate::proto::{Sealed, Share};

fn share(to: u8, n: u64) -> Share {
    Share {
        to: id(to),
        id: MsgId(MsgId::SHARE_BIT | n),
        sealed: Sealed::from(vec![7; 250]),
    }
}

/// Ids of the messages the hub sent client `i`, live or in mailbox pages.
fn got(sim: &Sim, i: usize) -> Vec<MsgId> {
    let mut ids = Vec::new();
    for f in &sim.clients[i].frames {
        match f {
            ServerFrame::Message(m) => ids.push(m.id),
            ServerFrame::MailboxPage(page) => ids.extend(page.iter().map(|m| m.id)),
            _ => {}
        }
    }
    ids
}

fn statuses(sim: &Sim, i: usize) -> Vec<(MsgId, Delivery)> {
    sim.clients[i]
        .frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Receipt { id, status } => Some((*id, status.clone())),
            _ => None,
        })
        .collect()
}

/// Shares to 60 members (more than the chat burst) in one frame: every one delivered,
/// and the chat allowance untouched (the room message after them goes through).
#[test]
fn a_whole_group_of_shares_is_delivered_in_one_frame() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let members: Vec<usize> = (10..70).map(|w| sim.login(w, "member")).collect();
    sim.clear();
    let items = (10..70).map(|w| share(w, u64::from(w))).collect();
    sim.raw(a, &ClientFrame::Shares { items });
    let receipts = statuses(&sim, a);
    assert_eq!(receipts.len(), 60);
    assert!(
        receipts.iter().all(|(_, s)| *s == Delivery::Delivered),
        "{receipts:?}"
    );
    for (m, w) in members.iter().zip(10u64..) {
        assert_eq!(got(&sim, *m), vec![MsgId(MsgId::SHARE_BIT | w)]);
    }
    for n in 0..u64::from(limits::MESSAGE_BURST) {
        send(&mut sim, a, n + 1, Target::Client(id(10)), "chat");
    }
    let chat = statuses(&sim, a).into_iter().skip(60);
    assert!(chat.into_iter().all(|(_, s)| s == Delivery::Delivered));
}

/// A member flooding shares is refused per item past its allowance (one violation per
/// refused frame, so not closed for a few frames), and another member's messages to the
/// same recipient still flow.
#[test]
fn a_share_flood_leaves_other_members_messages_flowing() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    sim.clear();
    let frames = limits::SHARE_BURST as usize / limits::SHARES_PER_FRAME + 4;
    for f in 0..frames as u64 {
        let items = (0..limits::SHARES_PER_FRAME as u64)
            .map(|n| share(2, f * 1000 + n))
            .collect();
        sim.raw(a, &ClientFrame::Shares { items });
    }
    let limited = statuses(&sim, a)
        .iter()
        .filter(|(_, s)| *s == Delivery::Rejected(RejectReason::RateLimited))
        .count();
    assert!(
        limited >= 4 * limits::SHARES_PER_FRAME - 1,
        "{limited} refused"
    );
    assert!(sim.clients[a].closed.is_none());
    send(&mut sim, c, 1, Target::Client(id(2)), "still here");
    assert_eq!(statuses(&sim, c), vec![(MsgId(1), Delivery::Delivered)]);
    assert!(got(&sim, b).contains(&MsgId(1)));
}

/// A frame with an item that is no share (a plain id, an envelope too large) is refused
/// whole: nothing of it is delivered.
#[test]
fn a_malformed_shares_frame_is_refused_whole() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.clear();
    let plain = Share {
        id: MsgId(5),
        ..share(2, 5)
    };
    sim.raw(
        a,
        &ClientFrame::Shares {
            items: vec![share(2, 1), plain],
        },
    );
    let big = Share {
        sealed: Sealed::from(vec![1; crate::proto::MAX_SHARE + 1]),
        ..share(2, 6)
    };
    sim.raw(a, &ClientFrame::Shares { items: vec![big] });
    assert!(got(&sim, b).is_empty());
    let errors = sim.clients[a]
        .frames
        .iter()
        .filter(|f| {
            matches!(
                f,
                ServerFrame::Error {
                    code: ErrorCode::Unexpected,
                    ..
                }
            )
        })
        .count();
    assert_eq!(errors, 2);
    assert!(statuses(&sim, a).is_empty());
}

/// An item to someone the hub does not know is refused alone; the others go through.
#[test]
fn a_share_to_an_unknown_member_is_refused_alone() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.clear();
    sim.raw(
        a,
        &ClientFrame::Shares {
            items: vec![share(9, 1), share(2, 2)],
        },
    );
    assert_eq!(
        statuses(&sim, a),
        vec![
            (
                MsgId(MsgId::SHARE_BIT | 1),
                Delivery::Rejected(RejectReason::NoSuchPeer)
            ),
            (MsgId(MsgId::SHARE_BIT | 2), Delivery::Delivered)
        ]
    );
    assert_eq!(got(&sim, b), vec![MsgId(MsgId::SHARE_BIT | 2)]);
}

/// Shares for a member who is away are stored like direct messages (`stored` once
/// written) and handed over at its next login.
#[test]
fn shares_for_offline_members_are_stored_and_delivered_at_login() {
    let disk = Disk::new("key-shares");
    let mut sim = Sim::new(PW);
    sim.hub.restore(Vec::new(), Vec::new());
    established(&mut sim, &[1, 2]);
    let a = sim.login(1, "alice");
    disk.sync(&mut sim);
    sim.clear();
    sim.raw(
        a,
        &ClientFrame::Shares {
            items: vec![share(2, 1), share(2, 2)],
        },
    );
    disk.sync(&mut sim);
    assert_eq!(
        statuses(&sim, a),
        vec![
            (MsgId(MsgId::SHARE_BIT | 1), Delivery::Stored),
            (MsgId(MsgId::SHARE_BIT | 2), Delivery::Stored)
        ]
    );
    let b = sim.login(2, "bob");
    disk.sync(&mut sim);
    assert_eq!(
        got(&sim, b),
        vec![MsgId(MsgId::SHARE_BIT | 1), MsgId(MsgId::SHARE_BIT | 2)]
    );
}

/// A person's message (`Send`) with a key share's id: no session sends one (shares go in
/// `Shares` frames, and `Session` refuses such an id), so the hub refuses it as malformed:
/// the sender hears why, nobody gets it, nothing is counted as routed or stored, and each
/// counts as a violation (past the allowance of them, the connection is closed).
#[test]
fn a_message_with_a_share_id_is_refused_as_malformed() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.clear();
    let before = sim.hub.totals();
    let send = |n: u64| ClientFrame::Send {
        id: MsgId(MsgId::SHARE_BIT | n),
        to: Target::Client(id(2)),
        sealed: Sealed::from(vec![7; 250]),
    };
    sim.raw(a, &send(1));
    assert!(got(&sim, b).is_empty());
    assert!(statuses(&sim, a).is_empty());
    let errors = |sim: &Sim| {
        sim.clients[a]
            .frames
            .iter()
            .filter(|f| {
                matches!(
                    f,
                    ServerFrame::Error {
                        code: ErrorCode::Unexpected,
                        ..
                    }
                )
            })
            .count()
    };
    assert_eq!(errors(&sim), 1);
    let t = sim.hub.totals();
    assert_eq!(t.messages_routed, before.messages_routed);
    assert_eq!(t.messages_stored, before.messages_stored);
    for n in 2..=u64::from(limits::RATE_VIOLATIONS_BEFORE_CLOSE) {
        sim.raw(a, &send(n));
    }
    assert_eq!(sim.clients[a].closed, None, "{} violations", errors(&sim));
    sim.raw(a, &send(0));
    assert_eq!(sim.clients[a].closed, Some(CloseReason::RateLimited));
    assert!(got(&sim, b).is_empty());
    assert!(sim.is_online(b));
}
