//! Hardening round 2 against a real hub: one member fills only its own share of what the
//! hub holds for others (N4: a recipient's mailbox; N11: reach-back checks), and others
//! talking fast never cost a reader its connection (N5). The simulator tests in
//! `src/hub/tests/{shares,reachback,fairness}.rs` pin the exact numbers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use courier_core::limits;
use courier_core::proto::{Delivery, Reach, RejectReason, Target};
use courier_core::session::Event;

/// Reads a client's events until `done`, or until nothing comes for a while.
async fn until(c: &mut Client, mut done: impl FnMut(&Event) -> bool) {
    c.event(|e| done(e)).await;
}

/// N4: Mallory floods Bob's mailbox while he is away; she fills a quarter of it, and
/// Alice's message still reaches Bob.
#[test]
fn one_sender_fills_only_its_share_of_an_offline_mailbox() {
    run_smol(|| async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let mut mallory = Client::login(&hub.addr(), "mallory").await;
            let mut alice = Client::login(&hub.addr(), "alice").await;
            let bob_config = client_config(&hub.addr(), "bob", PW);
            let bob_identity = bob_config.identity.clone();
            let bob_id = bob_identity.id();
            drop(Client::login_with(bob_config.clone()).await);
            sleep(Duration::from_millis(300)).await;
            let mut stored = 0;
            let mut refused = 0;
            for n in 0..100 {
                // Within the message rate.
                sleep(Duration::from_millis(60)).await;
                let id = mallory
                    .handle()
                    .send_message(Target::Client(bob_id), format!("flood {n}"))
                    .await
                    .unwrap();
                let mut status = None;
                until(&mut mallory, |e| match e {
                    Event::Receipt { id: r, status: s } if *r == id => {
                        status = Some(s.clone());
                        true
                    }
                    _ => false,
                })
                .await;
                match status {
                    Some(Delivery::Stored) => stored += 1,
                    Some(Delivery::Rejected(RejectReason::MailboxFull)) => refused += 1,
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(stored, limits::MAILBOX / limits::OFFLINE_PAIR_SHARE);
            assert_eq!(refused, 100 - stored);
            let id = alice
                .handle()
                .send_message(Target::Client(bob_id), "for bob")
                .await
                .unwrap();
            until(
                &mut alice,
                |e| matches!(e, Event::Receipt { id: r, status: Delivery::Stored } if *r == id),
            )
            .await;
            // Bob comes back (his keys with him) and gets Alice's message.
            let mut bob = Client::login_with(bob_config).await;
            until(
                &mut bob,
                |e| matches!(e, Event::Message(m) if m.text == "for bob"),
            )
            .await;
        })
        .await;
    });
}

/// N11: a member with ten connections gets one member's reach-back checks, not ten.
#[test]
fn reach_back_checks_are_one_members_whatever_its_connections() {
    run_smol(|| async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let config = client_config(&hub.addr(), "ada", PW);
            let identity = config.identity.clone();
            let mut conns = vec![Client::login_with(config).await];
            for _ in 1..10 {
                let mut config = client_config(&hub.addr(), "ada", PW);
                config.identity = identity.clone();
                conns.push(Client::login_with(config).await);
            }
            let mut tried = 0;
            for c in &mut conns {
                c.handle().reachback(9).await.unwrap();
                let mut outcome = None;
                until(c, |e| match e {
                    Event::Reachback { outcome: o, .. } => {
                        outcome = Some(*o);
                        true
                    }
                    _ => false,
                })
                .await;
                if outcome != Some(Reach::TooSoon) {
                    tried += 1;
                }
            }
            assert_eq!(tried, limits::REACHBACK_BURST as usize);
        })
        .await;
    });
}

/// N5: three members talk to Everyone at about 18 messages a second each; a reader
/// marks everything it reads, as `courier chat` did. It stays connected and misses
/// nothing.
#[test]
fn a_reader_of_a_fast_room_stays_and_misses_nothing() {
    run_smol(|| async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let talkers = [
                Client::login(&hub.addr(), "t1").await,
                Client::login(&hub.addr(), "t2").await,
                Client::login(&hub.addr(), "t3").await,
            ];
            let mut reader = Client::login(&hub.addr(), "reader").await;
            sleep(Duration::from_millis(300)).await;
            let rounds = 18 * 6;
            let mut sent = HashSet::new();
            for n in 0..rounds {
                for t in &talkers {
                    let id = t
                        .handle()
                        .send_message(Target::Everyone, format!("line {n}"))
                        .await
                        .unwrap();
                    sent.insert((t.id, id));
                }
                // Read and marked as it comes.
                while let Ok(u) = reader.updates.try_recv() {
                    if let courier_core::session::Update::Event(Event::Message(m)) = u {
                        sent.remove(&(m.from, m.id));
                        reader.handle().mark_read(m.from, m.id).await.unwrap();
                    }
                }
                sleep(Duration::from_millis(1000 / 18)).await;
            }
            while !sent.is_empty() {
                let e = reader.event(|e| matches!(e, Event::Message(_))).await;
                if let Event::Message(m) = e {
                    sent.remove(&(m.from, m.id));
                    reader.handle().mark_read(m.from, m.id).await.unwrap();
                }
            }
            // Still connected: a message to it arrives.
            let id = talkers[0]
                .handle()
                .send_message(Target::Client(reader.id), "still here?")
                .await
                .unwrap();
            until(
                &mut reader,
                |e| matches!(e, Event::Message(m) if m.id == id),
            )
            .await;
        })
        .await;
    });
}

/// N3: Mallory keeps file offers for Bob, who is away, as fast as the hub lets her: she
/// fills her quarter of what Bob may be kept, Alice still keeps one for him, and an
/// offer with `wait` to Carol, who is online, still goes (live) when Mallory's share is
/// full.
#[test]
fn one_sender_keeps_only_its_share_of_offers() {
    use courier_core::proto::{ClientFrame, FileEntry, Manifest, OfferRefusal, ServerFrame};
    run_smol(|| async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let bob = courier_core::identity::Identity::generate().unwrap();
            drop(raw_login_as(&hub.addr(), &bob, "bob").await);
            let _carol = Client::login(&hub.addr(), "carol").await;
            let carol_id = _carol.id;
            let mut mallory = raw_login(&hub.addr(), "mallory").await;
            let mut alice = raw_login(&hub.addr(), "alice").await;
            sleep(Duration::from_millis(300)).await;
            let manifest = Manifest {
                files: vec![FileEntry {
                    path: "report.pdf".into(),
                    size: 1000,
                }],
                ..Manifest::default()
            };
            // What the hub says to one offer: Ok(true) kept, Ok(false) sent live.
            async fn offer(
                raw: &mut RawClient,
                tag: u32,
                to: courier_core::proto::ClientId,
                manifest: &Manifest,
            ) -> Result<bool, OfferRefusal> {
                raw.send_frame(&ClientFrame::Offer {
                    tag,
                    to,
                    // The names as a client seals them (the hub sees bytes only).
                    sealed: courier_core::proto::Sealed::from(courier_core::proto::encode(
                        manifest,
                    )),
                    test: None,
                    addrs: Vec::new(),
                    wait: true,
                })
                .await;
                loop {
                    match raw
                        .recv_frame()
                        .await
                        .expect("the hub closed the connection")
                    {
                        ServerFrame::OfferStored { tag: t, .. } if t == tag => return Ok(true),
                        ServerFrame::OfferSent { tag: t, .. } if t == tag => return Ok(false),
                        ServerFrame::OfferRefused { tag: t, reason } if t == tag => {
                            return Err(reason);
                        }
                        _ => {}
                    }
                }
            }
            let mut kept = 0;
            for tag in 0..40 {
                // Within the offer rate (2 a second).
                sleep(Duration::from_millis(520)).await;
                match offer(&mut mallory, tag, bob.id(), &manifest).await {
                    Ok(true) => kept += 1,
                    Err(OfferRefusal::Busy) => break,
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(
                kept,
                limits::STORED_OFFERS / 4,
                "a quarter of what Bob may be kept"
            );
            assert_eq!(offer(&mut alice, 1, bob.id(), &manifest).await, Ok(true));
            sleep(Duration::from_millis(520)).await;
            assert_eq!(
                offer(&mut mallory, 99, carol_id, &manifest).await,
                Ok(false),
                "an offer to someone online is never refused for kept ones"
            );
        })
        .await;
    });
}
