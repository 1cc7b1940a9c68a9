//! Large frames a member is owed (pictures it asked for, file offers others sent it) go
//! out as its outbox drains: neither a client asking for every picture at login, nor
//! many senders offering it files at once, nor offers stored for it while it was away,
//! can make it a "slow consumer" (hardening round 2, N1 and N2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use courier_core::limits;
use courier_core::proto::{
    ClientFrame, ClientId, FileEntry, Manifest, ManifestError, OfferRefusal, ServerFrame,
};

/// A manifest whose encoding is about `bytes` long: files with long names.
fn manifest_of(bytes: usize) -> Manifest {
    let name = |i: usize| format!("{i:04}-{}", "n".repeat(995));
    let files = (0..bytes / 1010)
        .map(|i| FileEntry {
            path: name(i),
            size: 1,
        })
        .collect();
    Manifest {
        files,
        ..Manifest::default()
    }
}

/// Reads frames until `done` says so; None if the hub closed the connection first.
async fn read_until(raw: &mut RawClient, mut done: impl FnMut(&ServerFrame) -> bool) -> Option<()> {
    loop {
        let frame = raw.recv_frame().await?;
        if done(&frame) {
            return Some(());
        }
    }
}

/// The app asks for every missing picture at once when it logs in. With several
/// contacts' pictures near the 256 KiB limit, that used to be over the 1 MiB outbox
/// in one batch, and the app was dropped at every login.
async fn pictures_asked_for_at_login() {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let mut members = Vec::new();
        for i in 0..8 {
            let mut config = client_config(&hub.addr(), &format!("pic{i}"), PW);
            config.profile.avatar = vec![i; limits::MAX_AVATAR - 1024].into();
            members.push(Client::login_with(config).await);
        }
        let mut app = raw_login(&hub.addr(), "app").await;
        for m in &members {
            app.send_frame(&ClientFrame::GetAvatar { id: m.id }).await;
        }
        let mut got = BTreeSet::new();
        let all = read_until(&mut app, |f| {
            if let ServerFrame::Avatar { id, avatar } = f {
                assert_eq!(avatar.len(), limits::MAX_AVATAR - 1024, "whole pictures");
                got.insert(*id);
            }
            got.len() == members.len()
        })
        .await;
        assert!(
            all.is_some(),
            "the hub dropped the client after {} of {} pictures",
            got.len(),
            members.len()
        );
        // Still connected, and still served.
        app.send_frame(&ClientFrame::GetAvatar { id: members[0].id })
            .await;
        let again = read_until(&mut app, |f| matches!(f, ServerFrame::Avatar { .. })).await;
        assert!(again.is_some());
    })
    .await;
}

#[test]
fn pictures_asked_for_at_login_never_drop_the_asker_smol() {
    run_smol(pictures_asked_for_at_login);
}

#[test]
fn pictures_asked_for_at_login_never_drop_the_asker_async_std() {
    run_async_std(pictures_asked_for_at_login);
}

/// Twelve members offer Bob files with long lists of names at the same moment: every
/// offer reaches him, and he stays connected.
/// The envelope a client would send for `manifest`: its names and sizes plus about 100
/// bytes of sealing (the hub sees only how big it is).
fn sealed_like(manifest: &courier_core::proto::Manifest) -> courier_core::proto::Sealed {
    let mut bytes = courier_core::proto::encode(manifest);
    bytes.extend_from_slice(&[0; 100]);
    courier_core::proto::Sealed::from(bytes)
}

#[test]
fn many_big_offers_at_once_reach_their_recipient_whole() {
    run_smol(|| async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let mut bob = raw_login(&hub.addr(), "bob").await;
            let mut senders = Vec::new();
            for i in 0..12 {
                senders.push(raw_login(&hub.addr(), &format!("sender{i}")).await);
            }
            // Bob learns of them all before the offers.
            sleep(Duration::from_millis(300)).await;
            let manifest = manifest_of(limits::MAX_MANIFEST_BYTES - 4096);
            assert!(manifest.validate().is_ok());
            let sealed = sealed_like(&manifest);
            for (tag, s) in senders.iter_mut().enumerate() {
                let offer = ClientFrame::Offer {
                    tag: tag as u32,
                    to: bob.id,
                    sealed: sealed.clone(),
                    test: None,
                    addrs: Vec::new(),
                    wait: false,
                };
                s.send_frame(&offer).await;
            }
            let mut from = BTreeSet::<ClientId>::new();
            let all = read_until(&mut bob, |f| {
                if let ServerFrame::Offer(o) = f {
                    assert_eq!(o.sealed, sealed);
                    from.insert(o.from);
                }
                from.len() == senders.len()
            })
            .await;
            assert!(
                all.is_some(),
                "bob was dropped after {} of 12 offers",
                from.len()
            );
        })
        .await;
    });
}

/// An offer whose names would not fit far below the frame and outbox limits is refused
/// to its sender, and never reaches (or drops) its recipient; neither does a kept one.
#[test]
fn an_oversized_offer_is_refused_at_the_sender() {
    run_smol(|| async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let mut bob = raw_login(&hub.addr(), "bob").await;
            let mut ada = raw_login(&hub.addr(), "ada").await;
            sleep(Duration::from_millis(300)).await;
            // The review's offers: about 480 KiB of names each (three at once overflowed
            // the recipient's outbox; one a little larger made the hub's forwarded frame
            // bigger than the client's 512 KiB limit).
            let manifest = manifest_of(480 * 1024);
            assert!(courier_core::proto::encode(&manifest).len() < limits::MAX_MESSAGE - 1024);
            assert_eq!(manifest.validate(), Err(ManifestError::TooLong));
            let sealed = sealed_like(&manifest);
            for (tag, wait) in [(1, false), (2, true)] {
                let offer = ClientFrame::Offer {
                    tag,
                    to: bob.id,
                    sealed: sealed.clone(),
                    test: None,
                    addrs: Vec::new(),
                    wait,
                };
                ada.send_frame(&offer).await;
                let mut reason = None;
                read_until(&mut ada, |f| match f {
                    ServerFrame::OfferRefused { reason: r, .. } => {
                        reason = Some(*r);
                        true
                    }
                    ServerFrame::OfferSent { .. } | ServerFrame::OfferStored { .. } => true,
                    _ => false,
                })
                .await;
                assert_eq!(
                    reason,
                    Some(OfferRefusal::Invalid(ManifestError::TooLong)),
                    "refused at the sender (wait: {wait})"
                );
            }
            // What Bob gets next is the message, not an offer; he is still here.
            let text = ClientFrame::Send {
                id: courier_core::proto::MsgId(7),
                to: courier_core::proto::Target::Client(bob.id),
                sealed: courier_core::proto::Sealed::from(b"still here?".to_vec()),
            };
            ada.send_frame(&text).await;
            let next = read_until(&mut bob, |f| {
                assert!(!matches!(f, ServerFrame::Offer(_)), "no offer reaches bob");
                matches!(f, ServerFrame::Message(_))
            })
            .await;
            assert!(next.is_some());
        })
        .await;
    });
}
