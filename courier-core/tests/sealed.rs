//! Sealed messages through a real hub on loopback: real sessions with their keys in a
//! profile folder (`keys.db`), real sockets. A direct message, one stored for an
//! offline contact (opened after a new login with the same folder), a group with a
//! member added later and one removed, and a message to everyone all open on the other
//! side; a contact with no keys gets nothing and the sender hears why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::*;
use courier_core::identity::Identity;
use courier_core::proto::{ClientId, Delivery, GroupOutcome, MsgId, RejectReason, Target};
use courier_core::session::{self, Event, GroupRequest};

/// A device: its identity and its profile folder (where its keys live).
struct Device {
    config: session::Config,
}

impl Device {
    fn new(hub: &str, name: &str) -> Self {
        let mut config = client_config(hub, name, PW);
        config.identity = Identity::generate().unwrap();
        config.keys = session::KeyStore::Folder(scratch_dir(name));
        Self { config }
    }

    fn id(&self) -> ClientId {
        self.config.identity.id()
    }

    async fn login(&self) -> Client {
        Client::login_with(self.config.clone()).await
    }
}

/// The next message from `from`, opened (one that could not be opened fails the test).
async fn text_from(c: &mut Client, from: ClientId) -> String {
    let next = c
        .event(|e| match e {
            Event::Message(m) => m.from == from,
            Event::Unreadable { from: f, .. } => *f == from,
            _ => false,
        })
        .await;
    match next {
        Event::Message(m) => m.text,
        other => panic!("not opened: {other:?}"),
    }
}

async fn receipt(c: &mut Client, id: MsgId) -> Delivery {
    match c
        .event(|e| matches!(e, Event::Receipt { id: r, .. } if *r == id))
        .await
    {
        Event::Receipt { status, .. } => status,
        _ => unreachable!(),
    }
}

async fn group_change(c: &mut Client, request: GroupRequest) -> GroupOutcome {
    let tag = c.handle().change_group(request).await.unwrap();
    match c
        .event(|e| matches!(e, Event::GroupAnswer { tag: t, .. } if *t == tag))
        .await
    {
        Event::GroupAnswer { outcome, .. } => outcome,
        _ => unreachable!(),
    }
}

/// Waits until `c` hears `who` is online (so a message to everyone reaches them).
async fn sees_online(c: &mut Client, who: ClientId) {
    let listed = c
        .welcome
        .as_ref()
        .is_some_and(|w| w.contacts.iter().any(|k| k.id == who && k.online));
    if !listed {
        c.event(|e| matches!(e, Event::Contact(k) if k.id == who && k.online))
            .await;
    }
}

both!(
    direct_and_stored_messages_open_on_the_other_side,
    || async {
        let (hub, serve) = start_hub(|_| {});
        with_hub(serve, async move {
            let (alice, bob) = (
                Device::new(&hub.addr(), "alice"),
                Device::new(&hub.addr(), "bob"),
            );
            let mut a = alice.login().await;
            let mut b = bob.login().await;
            let id = a
                .handle()
                .send_message(Target::Client(bob.id()), "sealed hello")
                .await
                .unwrap();
            assert_eq!(receipt(&mut a, id).await, Delivery::Delivered);
            assert_eq!(text_from(&mut b, alice.id()).await, "sealed hello");
            // Bob goes away; the message waits at the hub, sealed, and opens at his next
            // login: a new session over the same profile folder.
            drop(b);
            a.event(|e| matches!(e, Event::Contact(k) if k.id == bob.id() && !k.online))
                .await;
            let id = a
                .handle()
                .send_message(Target::Client(bob.id()), "while you were out")
                .await
                .unwrap();
            assert_eq!(receipt(&mut a, id).await, Delivery::Stored);
            let mut b = bob.login().await;
            assert_eq!(text_from(&mut b, alice.id()).await, "while you were out");
        })
        .await;
    }
);

both!(
    a_contact_without_keys_is_refused_with_the_reason,
    || async {
        let (hub, serve) = start_hub(|_| {});
        with_hub(serve, async move {
            let alice = Device::new(&hub.addr(), "alice");
            let mut a = alice.login().await;
            let someone = Identity::generate().unwrap().id();
            let id = a
                .handle()
                .send_message(Target::Client(someone), "anyone there?")
                .await
                .unwrap();
            // Nobody by that id: the hub has no keys for it.
            assert_eq!(
                receipt(&mut a, id).await,
                Delivery::Rejected(RejectReason::NoKeys)
            );
        })
        .await;
    }
);

both!(a_group_is_read_by_its_members_of_the_moment, || async {
    let (hub, serve) = start_hub(|_| {});
    with_hub(serve, async move {
        let addr = hub.addr();
        let (alice, bob, carol) = (
            Device::new(&addr, "alice"),
            Device::new(&addr, "bob"),
            Device::new(&addr, "carol"),
        );
        let mut a = alice.login().await;
        let mut b = bob.login().await;
        let mut c = carol.login().await;
        let create = GroupRequest::Create {
            name: "ops".into(),
            members: vec![bob.id()],
        };
        let GroupOutcome::Done(g) = group_change(&mut a, create).await else {
            panic!("not created")
        };
        let to = Target::Group(g);
        a.handle().send_message(to, "first").await.unwrap();
        assert_eq!(text_from(&mut b, alice.id()).await, "first");
        // Carol joins: she reads what comes after, not what came before.
        let add = GroupRequest::Add {
            group: g,
            members: vec![carol.id()],
        };
        assert_eq!(group_change(&mut a, add).await, GroupOutcome::Done(g));
        a.handle().send_message(to, "second").await.unwrap();
        assert_eq!(text_from(&mut c, alice.id()).await, "second");
        assert_eq!(text_from(&mut b, alice.id()).await, "second");
        // Bob is removed: carol reads on.
        let remove = GroupRequest::Remove {
            group: g,
            member: bob.id(),
        };
        assert_eq!(group_change(&mut a, remove).await, GroupOutcome::Done(g));
        b.event(|e| matches!(e, Event::GroupGone(x) if *x == g))
            .await;
        a.handle().send_message(to, "third").await.unwrap();
        assert_eq!(text_from(&mut c, alice.id()).await, "third");
    })
    .await;
});

both!(a_message_to_everyone_opens_for_everyone_online, || async {
    let (hub, serve) = start_hub(|_| {});
    with_hub(serve, async move {
        let addr = hub.addr();
        let (alice, bob, carol) = (
            Device::new(&addr, "alice"),
            Device::new(&addr, "bob"),
            Device::new(&addr, "carol"),
        );
        let mut b = bob.login().await;
        let mut c = carol.login().await;
        let mut a = alice.login().await;
        sees_online(&mut a, bob.id()).await;
        sees_online(&mut a, carol.id()).await;
        a.handle()
            .send_message(Target::Everyone, "hello all")
            .await
            .unwrap();
        assert_eq!(text_from(&mut b, alice.id()).await, "hello all");
        assert_eq!(text_from(&mut c, alice.id()).await, "hello all");
    })
    .await;
});

// The first message to a group of 60 (more than the chat allowance's burst) hands every
// member the room key in one frame of shares: each member opens it, and the sender
// hears `delivered`, not a refusal for its shares (issue 24, finding FX4).
both!(
    a_first_message_to_a_group_of_sixty_opens_for_all,
    || async {
        const MEMBERS: usize = 60;
        let (hub, serve) = start_hub(|_| {});
        with_hub(serve, async move {
            let addr = hub.addr();
            let mut members = Vec::new();
            for i in 0..MEMBERS {
                members.push(Client::login(&addr, &format!("member{i}")).await);
            }
            let mut a = Client::login(&addr, "alice").await;
            let create = GroupRequest::Create {
                name: "crowd".into(),
                members: members.iter().map(|m| m.id).collect(),
            };
            let GroupOutcome::Done(g) = group_change(&mut a, create).await else {
                panic!("not created")
            };
            let id = a
                .handle()
                .send_message(Target::Group(g), "hello crowd")
                .await
                .unwrap();
            assert_eq!(receipt(&mut a, id).await, Delivery::Delivered);
            for m in &mut members {
                assert_eq!(text_from(m, a.id).await, "hello crowd");
            }
        })
        .await;
    }
);
