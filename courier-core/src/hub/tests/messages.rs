//! Messages on the simulator: stamped and receipted, refused with a reason, stored for
//! offline contacts, broadcast, notices, rate limits and profile updates; and a
//! property test of routing against a reference model.
use super::*;

#[test]
fn direct_message_is_stamped_by_the_hub_and_receipted() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    sim.clear();
    send(&mut sim, a, 10, Target::Client(id(2)), "hi bob");
    let got = messages(&sim, b);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].from, got[0].text.as_str(), got[0].id),
        (id(1), "hi bob", MsgId(10))
    );
    assert!(got[0].time.0 >= 1_700_000_000_000);
    assert!(
        messages(&sim, c).is_empty(),
        "carol must not see a DM to bob"
    );
    assert_eq!(receipts(&sim, a), vec![(MsgId(10), Delivery::Delivered)]);
}

/// Texts are sealed: the hub checks only an envelope's bounds (not empty, at most
/// `MAX_SEALED_TEXT` bytes), and refuses the rest as it refused bad texts.
#[test]
fn bad_recipients_and_envelopes_are_rejected() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let _b = sim.login(2, "bob");
    sim.clear();
    send(&mut sim, a, 1, Target::Client(id(9)), "nobody");
    send(&mut sim, a, 2, Target::Client(id(1)), "myself");
    let envelope = |id: u64, len: usize| ClientFrame::Send {
        id: MsgId(id),
        to: Target::Everyone,
        sealed: crate::proto::Sealed::from(vec![7; len]),
    };
    sim.raw(a, &envelope(3, 0));
    sim.raw(a, &envelope(4, crate::proto::MAX_SEALED_TEXT + 1));
    sim.raw(a, &envelope(5, crate::proto::MAX_SEALED_TEXT));
    assert_eq!(
        receipts(&sim, a),
        vec![
            (MsgId(1), Delivery::Rejected(RejectReason::NoSuchPeer)),
            (MsgId(2), Delivery::Rejected(RejectReason::NoSuchPeer)),
            (MsgId(3), Delivery::Rejected(RejectReason::BadText)),
            (MsgId(4), Delivery::Rejected(RejectReason::BadText)),
            (MsgId(5), Delivery::Delivered),
        ]
    );
    assert!(sim.is_online(a));
}

#[test]
fn offline_messages_are_stored_then_delivered_at_login() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    assert!(
        sim.events(a)
            .iter()
            .any(|e| matches!(e, SEvent::Contact(c) if !c.online))
    );
    sim.clear();
    send(&mut sim, a, 5, Target::Client(id(2)), "while you were out");
    assert_eq!(receipts(&sim, a), vec![(MsgId(5), Delivery::Stored)]);
    assert_eq!(sim.hub.stats().stored, 1);
    let b2 = sim.login(2, "bob");
    let got = messages(&sim, b2);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, "while you were out");
    assert_eq!(sim.hub.stats().stored, 0);
}

#[test]
fn mailbox_is_bounded() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.mailbox = 3;
    let mut sim = Sim::with_config(config, PW);
    established(&mut sim, &[1, 3, 4, 5]);
    // One message from each of four senders (one sender may fill only a share).
    let senders: Vec<usize> = [1, 3, 4, 5].map(|n| sim.login(n, "sender")).into();
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    sim.clear();
    for (n, &s) in senders.iter().enumerate() {
        send(&mut sim, s, n as u64, Target::Client(id(2)), "m");
    }
    let r: Vec<(MsgId, Delivery)> = senders.iter().flat_map(|&s| receipts(&sim, s)).collect();
    assert_eq!(r.iter().filter(|(_, s)| *s == Delivery::Stored).count(), 3);
    assert_eq!(r[3].1, Delivery::Rejected(RejectReason::MailboxFull));
}

#[test]
fn broadcast_reaches_everyone_else_once() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    sim.clear();
    send(&mut sim, a, 1, Target::Everyone, "hello all");
    assert!(messages(&sim, a).is_empty());
    for r in [b, c] {
        let got = messages(&sim, r);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].from, got[0].to), (id(1), Target::Everyone));
    }
}

#[test]
fn read_marks_and_typing_reach_the_right_person() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let c = sim.login(3, "carol");
    sim.clear();
    let now = sim.now;
    sim.clients[b]
        .session
        .typing(Target::Client(id(1)), now)
        .unwrap();
    sim.clients[b]
        .session
        .mark_read(id(1), MsgId(42), now)
        .unwrap();
    sim.run();
    // Read marks go out once for a batch.
    let later = now + limits::READ_MARK_BATCH;
    sim.clients[b].session.handle_timeout(later).unwrap();
    sim.run();
    assert!(sim.events(a).contains(&SEvent::Typing {
        from: id(2),
        to: Target::Client(id(1))
    }));
    assert!(sim.events(a).contains(&SEvent::Read {
        by: id(2),
        id: MsgId(42)
    }));
    assert!(sim.events(c).is_empty());
}

#[test]
fn chat_rate_limit_rejects_then_disconnects_a_flooder() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.clear();
    for n in 0..u64::from(limits::MESSAGE_BURST) + 5 {
        sim.raw(
            a,
            &ClientFrame::Send {
                id: MsgId(n),
                to: Target::Client(id(2)),
                // As the session seals "x" (the plain test envelope of `Session::unsealed`).
                sealed: crate::proto::Sealed::from(crate::proto::encode(&"x")),
            },
        );
    }
    let limited = sim.clients[a]
        .frames
        .iter()
        .filter(|f| {
            matches!(
                f,
                ServerFrame::Receipt {
                    status: Delivery::Rejected(RejectReason::RateLimited),
                    ..
                }
            )
        })
        .count();
    assert_eq!(limited, 5);
    assert_eq!(messages(&sim, b).len(), limits::MESSAGE_BURST as usize);
    // Typing notices have a small budget of their own; past it, each is a violation.
    for n in 0..u64::from(limits::RATE_VIOLATIONS_BEFORE_CLOSE + limits::TYPING_BURST) {
        sim.raw(
            a,
            &ClientFrame::Typing {
                to: Target::Everyone,
            },
        );
        let _ = n;
    }
    assert_eq!(sim.clients[a].closed, Some(CloseReason::RateLimited));
    assert!(sim.is_online(b));
}

#[test]
fn profile_updates_are_validated_rate_limited_and_shared() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.clear();
    sim.advance(Duration::from_secs(2));
    let mut p = Profile::with_name("Alice B.");
    p.status = "lunch".into();
    sim.raw(a, &ClientFrame::SetProfile(p.clone()));
    sim.advance(limits::PRESENCE_BATCH);
    assert!(sim.events(b).iter().any(
        |e| matches!(e, SEvent::Contact(c) if c.profile == crate::proto::ContactCard::from(&p))
    ));
    // A second update within the second is refused.
    sim.raw(a, &ClientFrame::SetProfile(Profile::with_name("again")));
    assert!(sim.clients[a].frames.iter().any(|f| matches!(
        f,
        ServerFrame::Error {
            code: ErrorCode::RateLimited,
            ..
        }
    )));
    sim.advance(Duration::from_secs(2));
    sim.raw(
        a,
        &ClientFrame::SetProfile(Profile::with_name("bad\u{202E}name")),
    );
    assert!(sim.clients[a].frames.iter().any(|f| matches!(
        f,
        ServerFrame::Error {
            code: ErrorCode::InvalidProfile,
            ..
        }
    )));
    assert!(sim.is_online(a));
}

#[test]
fn two_connections_of_one_identity_both_receive_and_presence_counts_both() {
    let mut sim = Sim::new(PW);
    let a1 = sim.login(1, "alice");
    let a2 = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.clear();
    send(&mut sim, b, 1, Target::Client(id(1)), "to both");
    assert_eq!(messages(&sim, a1).len(), 1);
    assert_eq!(messages(&sim, a2).len(), 1);
    sim.disconnect(a1);
    assert!(
        !sim.events(b)
            .iter()
            .any(|e| matches!(e, SEvent::Contact(c) if !c.online))
    );
    sim.disconnect(a2);
    assert!(
        sim.events(b)
            .iter()
            .any(|e| matches!(e, SEvent::Contact(c) if !c.online))
    );
}

#[derive(Debug, Clone)]
enum Op {
    Send {
        from: usize,
        to: Option<usize>,
        text: u8,
    },
    Drop(usize),
    Rejoin(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, proptest::option::of(0..4usize), any::<u8>())
            .prop_map(|(from, to, text)| Op::Send { from, to, text }),
        1 => (0..4usize).prop_map(Op::Drop),
        1 => (0..4usize).prop_map(Op::Rejoin),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Over random sends, drops and rejoins: each delivered message reaches exactly its
    /// intended online recipients, once each, stamped with the true sender; a drop clears
    /// presence for the others.
    #[test]
    fn routing_matches_a_reference_model(ops in proptest::collection::vec(op(), 1..40)) {
        let mut sim = Sim::new(PW);
        let mut slot: Vec<usize> = (0..4u8).map(|w| sim.login(w + 1, &format!("u{w}"))).collect();
        let mut online = [true; 4];
        let mut next = 0u64;
        for op in ops {
            sim.clear();
            match op {
                Op::Send { from, to, text } => {
                    if !online[from] { continue; }
                    next += 1;
                    let target = to.map_or(Target::Everyone, |t| Target::Client(id(t as u8 + 1)));
                    send(&mut sim, slot[from], next, target, &format!("m{text}"));
                    for (who, &s) in slot.iter().enumerate() {
                        let got = messages(&sim, s);
                        let expected = online[who] && who != from
                            && to.is_none_or(|t| t == who);
                        prop_assert_eq!(got.len(), usize::from(expected), "who {} op from {}", who, from);
                        if expected {
                            prop_assert_eq!(got[0].from, id(from as u8 + 1));
                        }
                    }
                    let status = &receipts(&sim, slot[from])[0].1;
                    let want = match to {
                        Some(t) if t == from => Delivery::Rejected(RejectReason::NoSuchPeer),
                        Some(t) if !online[t] => Delivery::Stored,
                        _ => Delivery::Delivered,
                    };
                    prop_assert_eq!(status, &want);
                }
                Op::Drop(w) => {
                    if !online[w] { continue; }
                    sim.disconnect(slot[w]);
                    online[w] = false;
                    for (o, &s) in slot.iter().enumerate() {
                        if online[o] {
                            let left = sim.events(s).iter().any(|e| matches!(e, SEvent::Contact(c) if !c.online && c.id == id(w as u8 + 1)));
                            prop_assert!(left);
                        }
                    }
                }
                Op::Rejoin(w) => {
                    if online[w] { continue; }
                    slot[w] = sim.login(w as u8 + 1, &format!("u{w}"));
                    online[w] = true;
                    // Anything stored for it arrives now; nothing else.
                    prop_assert!(sim.is_online(slot[w]));
                }
            }
            sim.advance(Duration::from_millis(200)); // keep under the rate limit
        }
    }
}
