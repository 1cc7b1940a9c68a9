//! Loopback integration tests: real sockets, TLS 1.3, WebSocket and OPAQUE login.
//! Each test runs under smol and under async-std (see `both!`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use async_tungstenite::tungstenite::Message as WsMessage;
use common::*;
use courier_core::identity::{Identity, PinStore};
use courier_core::proto::{ClientFrame, Delivery, MsgId, Profile, ServerFrame, Target};
use courier_core::session::Event;

both!(login_message_receipt_and_read_mark, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let mut alice = Client::login(&hub.addr(), "alice").await;
        let mut bob = Client::login(&hub.addr(), "bob").await;
        assert_eq!(alice.welcome.as_ref().unwrap().hub, hub.fingerprint);
        assert!(alice.welcome.as_ref().unwrap().first_contact);
        // Alice hears Bob join; Bob's welcome lists Alice.
        let bob_id = bob.id;
        alice
            .event(|e| matches!(e, Event::Contact(c) if c.id == bob_id && c.online))
            .await;
        assert!(
            bob.welcome
                .as_ref()
                .unwrap()
                .contacts
                .iter()
                .any(|c| c.id == alice.id)
        );

        let id = alice
            .handle()
            .send_message(Target::Client(bob.id), "hi bob")
            .await
            .unwrap();
        let Event::Message(m) = bob.event(|e| matches!(e, Event::Message(_))).await else {
            unreachable!()
        };
        assert_eq!((m.from, m.id, m.text.as_str()), (alice.id, id, "hi bob"));
        let receipt = alice.event(|e| matches!(e, Event::Receipt { .. })).await;
        assert_eq!(
            receipt,
            Event::Receipt {
                id,
                status: Delivery::Delivered
            }
        );

        bob.handle().mark_read(alice.id, id).await.unwrap();
        let read = alice.event(|e| matches!(e, Event::Read { .. })).await;
        assert_eq!(read, Event::Read { by: bob.id, id });

        bob.handle().typing(Target::Client(alice.id)).unwrap();
        let typing = alice.event(|e| matches!(e, Event::Typing { .. })).await;
        assert_eq!(
            typing,
            Event::Typing {
                from: bob.id,
                to: Target::Client(alice.id)
            }
        );
    })
    .await;
});

both!(wrong_password_is_fatal_and_says_so, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let mut c = Client::start(client_config(&hub.addr(), "mallory", "not it"));
        let (reason, retry) = c.disconnected().await;
        assert_eq!(reason, "wrong password");
        assert_eq!(retry, None);
        assert!(c.ended().await, "a fatal error ends the stream");
    })
    .await;
});

both!(pin_mismatch_is_a_hard_failure_naming_both_codes, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let dir = scratch_dir("pin");
        let pins = PinStore::new(&dir);
        let impostor = courier_core::proto::ClientId([7; 32]);
        pins.set(&hub.addr(), impostor).unwrap();
        let mut config = client_config(&hub.addr(), "alice", PW);
        config.pins = Some(pins.clone());
        let mut c = Client::start(config);
        let (reason, retry) = c.disconnected().await;
        assert_eq!(retry, None);
        assert!(reason.contains(&impostor.safety_code()), "{reason}");
        assert!(reason.contains(&hub.fingerprint.safety_code()), "{reason}");
        // The pin is unchanged: no "continue anyway".
        assert_eq!(pins.get(&hub.addr()).unwrap(), Some(impostor));

        // With the right pin (recorded at first contact) login works silently.
        pins.remove(&hub.addr()).unwrap();
        let mut config = client_config(&hub.addr(), "alice", PW);
        config.pins = Some(pins.clone());
        let mut c = Client::start(config);
        assert!(c.connected().await.first_contact);
        assert_eq!(pins.get(&hub.addr()).unwrap(), Some(hub.fingerprint));
        let mut config = client_config(&hub.addr(), "alice", PW);
        config.pins = Some(pins);
        let mut c = Client::start(config);
        assert!(!c.connected().await.first_contact);
        std::fs::remove_dir_all(dir).unwrap();
    })
    .await;
});

both!(tls_terminating_proxy_fails_login_on_both_ends, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (proxy, relay) = mitm_proxy(hub.addr).await;
        let test = async {
            let mut c = Client::start(client_config(&proxy.to_string(), "alice", PW));
            let (reason, retry) = c.disconnected().await;
            assert!(reason.contains("intercepted"), "{reason}");
            assert_eq!(retry, None);
            // The hub logged nobody in: a fresh client sees no contacts at all.
            let probe = Client::login(&hub.addr(), "probe").await;
            assert!(probe.welcome.as_ref().unwrap().contacts.is_empty());
        };
        spawn(relay);
        test.await;
    })
    .await;
});

both!(a_client_cannot_claim_another_sender, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let mut bob = Client::login(&hub.addr(), "bob").await;
        // Mallory uses Alice's display name; the hub still stamps Mallory's own id.
        let _alice = Client::login(&hub.addr(), "alice").await;
        let mallory = Client::login(&hub.addr(), "alice").await;
        mallory
            .handle()
            .send_message(Target::Client(bob.id), "it's me, alice")
            .await
            .unwrap();
        let Event::Message(m) = bob.event(|e| matches!(e, Event::Message(_))).await else {
            unreachable!()
        };
        assert_eq!(m.from, mallory.id);
    })
    .await;
});

both!(contacts_see_profile_updates_and_clean_leave, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let mut alice = Client::login(&hub.addr(), "alice").await;
        let bob = Client::login(&hub.addr(), "bob").await;
        let bob_id = bob.id;
        let mut p = Profile::with_name("Bob B.");
        p.status = "in a meeting".into();
        p.presence = courier_core::proto::Presence::Busy;
        p.avatar = vec![1u8; 200 * 1024].into();
        bob.handle().set_profile(p.clone()).await.unwrap();
        let got = alice
            .event(
                |e| matches!(e, Event::Contact(c) if c.id == bob_id && c.profile.name == "Bob B."),
            )
            .await;
        let card = courier_core::proto::ContactCard::from(&p);
        assert!(card.avatar.is_some());
        // The card also names Bob's keys (published at his login).
        assert!(matches!(got, Event::Contact(c)
            if c.profile.keys.is_some()
                && c.profile == courier_core::proto::ContactCard { keys: c.profile.keys, ..card.clone() }));
        // The 200 KiB avatar travels by id; the bytes come on request.
        alice.handle().request_avatar(bob_id).await.unwrap();
        let avatar = alice.event(|e| matches!(e, Event::Avatar { .. })).await;
        assert_eq!(
            avatar,
            Event::Avatar {
                id: bob_id,
                bytes: p.avatar.to_vec()
            }
        );
        drop(bob);
        alice
            .event(|e| matches!(e, Event::Contact(c) if !c.online && c.id == bob_id))
            .await;
        // A later login still lists Bob, offline.
        let carol = Client::login(&hub.addr(), "carol").await;
        let seen = carol
            .welcome
            .as_ref()
            .unwrap()
            .contacts
            .iter()
            .find(|c| c.id == bob_id)
            .cloned();
        assert!(matches!(seen, Some(c) if !c.online
            && c.profile == courier_core::proto::ContactCard { keys: c.profile.keys, ..card }));
    })
    .await;
});

both!(
    vanished_client_is_shown_as_left_after_heartbeat_timeout,
    || async {
        let (hub, run) = start_hub(|c| {
            c.heartbeat_interval = Duration::from_millis(100);
            c.heartbeat_timeout = Duration::from_millis(400);
        });
        let (proxy, cut, relay) = blackhole_proxy(hub.addr).await;
        spawn(relay);
        with_hub(run, async {
            // Alice keeps the default (15 s) client heartbeat: answering the hub's pings is
            // what keeps her online.
            let mut alice = Client::login(&hub.addr(), "alice").await;
            let bob = Client::login(&proxy.to_string(), "bob").await;
            let bob_id = bob.id;
            alice
                .event(|e| matches!(e, Event::Contact(c) if c.id == bob_id))
                .await;
            cut.send(()).await.unwrap(); // pull the cable: nothing closes, nothing flows
            let started = std::time::Instant::now();
            alice
                .event(|e| matches!(e, Event::Contact(c) if !c.online && c.id == bob_id))
                .await;
            assert!(started.elapsed() < Duration::from_secs(5));
            // Alice stayed through many heartbeat periods.
            sleep(Duration::from_millis(600)).await;
            let id = alice
                .handle()
                .send_message(courier_core::proto::Target::Everyone, "still on")
                .await
                .unwrap();
            alice
                .event(|e| matches!(e, Event::Receipt { id: r, .. } if *r == id))
                .await;
            drop(bob);
        })
        .await;
    }
);

both!(everyone_broadcast_and_offline_delivery, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let mut alice = Client::login(&hub.addr(), "alice").await;
        let mut bob = Client::login(&hub.addr(), "bob").await;
        // Carol's identity is kept so she can come back as herself.
        let carol_cfg = client_config(&hub.addr(), "carol", PW);
        let carol = Client::login_with(carol_cfg.clone()).await;
        let carol_id = carol.id;
        drop(carol);
        alice
            .event(|e| matches!(e, Event::Contact(c) if !c.online && c.id == carol_id))
            .await;

        alice
            .handle()
            .send_message(Target::Everyone, "hello all")
            .await
            .unwrap();
        let Event::Message(m) = bob.event(|e| matches!(e, Event::Message(_))).await else {
            unreachable!()
        };
        assert_eq!((m.to, m.text.as_str()), (Target::Everyone, "hello all"));

        let id = alice
            .handle()
            .send_message(Target::Client(carol_id), "later")
            .await
            .unwrap();
        let receipt = alice
            .event(|e| matches!(e, Event::Receipt { id: r, .. } if *r == id))
            .await;
        assert_eq!(
            receipt,
            Event::Receipt {
                id,
                status: Delivery::Stored
            }
        );
        let mut carol = Client::login_with(carol_cfg).await;
        let Event::Message(m) = carol.event(|e| matches!(e, Event::Message(_))).await else {
            unreachable!()
        };
        assert_eq!((m.from, m.text.as_str()), (alice.id, "later"));
    })
    .await;
});

// Hostile input after login, one case per connection, while a canary pair chats.
both!(hostile_frames_close_only_the_offender, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let canary_a = Client::login(&hub.addr(), "canary-a").await;
        let mut canary_b = Client::login(&hub.addr(), "canary-b").await;
        let b_id = canary_b.id;

        let mut trailing = courier_core::proto::encode(&ClientFrame::Ping);
        trailing.push(0);
        let truncated = {
            let b = courier_core::proto::encode(&ClientFrame::SetProfile(Profile::with_name("x")));
            b[..b.len() - 2].to_vec()
        };
        #[derive(serde::Serialize)]
        enum Unknown {
            Teleport { to: u8 },
        }
        let cases: Vec<(&str, Vec<u8>, u16)> = vec![
            (
                "random bytes",
                (0..300).map(|i| (i * 37 % 251) as u8).collect(),
                1008,
            ),
            ("trailing bytes", trailing, 1008),
            ("truncated", truncated, 1008),
            ("deep nesting", vec![0x9f; 100_000], 1008),
            (
                "unknown type",
                courier_core::proto::encode(&Unknown::Teleport { to: 1 }),
                1008,
            ),
            (
                "oversized",
                vec![0u8; courier_core::limits::MAX_MESSAGE + 1],
                1009,
            ),
        ];
        for (what, bytes, code) in cases {
            let mut evil = raw_login(&hub.addr(), "evil").await;
            evil.send_bytes(bytes).await;
            assert_eq!(evil.close_code().await, Some(code), "{what}");
            // The canaries keep chatting.
            let id = canary_a
                .handle()
                .send_message(Target::Client(b_id), what)
                .await
                .unwrap();
            let Event::Message(m) = canary_b.event(|e| matches!(e, Event::Message(_))).await else {
                unreachable!()
            };
            assert_eq!((m.id, m.text.as_str()), (id, what));
        }
        let mut evil = raw_login(&hub.addr(), "evil").await;
        let _ = evil.ws.send(WsMessage::Text("hello".into())).await;
        assert_eq!(evil.close_code().await, Some(1003));
    })
    .await;
});

both!(frames_before_login_close_with_policy_violation, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (mut raw, _) = raw_connect(&hub.addr()).await;
        raw.send_frame(&ClientFrame::Send {
            id: MsgId(1),
            to: Target::Everyone,
            sealed: courier_core::proto::Sealed::from(b"x".to_vec()),
        })
        .await;
        assert_eq!(raw.close_code().await, Some(1008));
    })
    .await;
});

both!(
    silent_tcp_connection_is_closed_at_the_login_deadline,
    || async {
        let (hub, run) = start_hub(|c| c.login_deadline = Duration::from_millis(300));
        with_hub(run, async {
            let mut tcp = async_net::TcpStream::connect(hub.addr).await.unwrap();
            let mut buf = [0u8; 16];
            let started = std::time::Instant::now();
            let n = futures::AsyncReadExt::read(&mut tcp, &mut buf)
                .await
                .unwrap_or(0);
            assert_eq!(n, 0, "the hub closes without a word");
            assert!(started.elapsed() < Duration::from_secs(5));
        })
        .await;
    }
);

both!(preauth_connections_per_address_are_capped, || async {
    let (hub, run) = start_hub(|c| c.max_preauth_per_ip = 3);
    with_hub(run, async {
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(async_net::TcpStream::connect(hub.addr).await.unwrap());
        }
        sleep(Duration::from_millis(100)).await;
        let mut extra = async_net::TcpStream::connect(hub.addr).await.unwrap();
        let mut buf = [0u8; 1];
        let n = futures::AsyncReadExt::read(&mut extra, &mut buf)
            .await
            .unwrap_or(0);
        assert_eq!(n, 0, "the fourth connection is closed at accept");
        drop(held);
        sleep(Duration::from_millis(100)).await;
        // Slots free up again; a real client logs in.
        let _ok = Client::login(&hub.addr(), "later").await;
    })
    .await;
});

both!(browser_origin_and_wrong_path_are_refused, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        use async_tungstenite::tungstenite::client::IntoClientRequest;
        for (path, origin, status) in [
            ("/courier/v1", Some("http://evil.example"), 403),
            ("/other", None, 404),
        ] {
            let identity = courier_core::identity::Identity::generate().unwrap();
            let connector = futures_rustls::TlsConnector::from(
                courier_core::tls::client_config(&identity).unwrap(),
            );
            let (stream, _) = courier_core::net::connect_tls(&hub.addr(), connector)
                .await
                .unwrap();
            let mut req = format!("wss://courier{path}")
                .into_client_request()
                .unwrap();
            if let Some(o) = origin {
                req.headers_mut().insert("origin", o.parse().unwrap());
            }
            let err = async_tungstenite::client_async(req, stream)
                .await
                .unwrap_err();
            match err {
                async_tungstenite::tungstenite::Error::Http(resp) => {
                    assert_eq!(resp.status().as_u16(), status);
                }
                other => panic!("expected an HTTP refusal, got {other}"),
            }
        }
    })
    .await;
});

both!(slow_reader_is_dropped_and_others_keep_flowing, || async {
    let (hub, run) = start_hub(|c| c.outbox_frames = 8);
    with_hub(run, async {
        // The sloth publishes keys (so that messages are sealed to it), then never reads.
        let sloth = Identity::generate().unwrap();
        let mut slow = raw_login_as(&hub.addr(), &sloth, "sloth").await;
        let now = courier_core::proto::Timestamp::now();
        let mut keys = courier_core::seal::Keyring::in_memory(
            &sloth,
            courier_core::seal::KeyPolicy::default(),
            now,
        )
        .unwrap();
        slow.send_frame(&courier_core::proto::ClientFrame::PublishKeys(
            keys.bundle(now).unwrap(),
        ))
        .await;
        let senders = [
            Client::login(&hub.addr(), "s1").await,
            Client::login(&hub.addr(), "s2").await,
            Client::login(&hub.addr(), "s3").await,
        ];
        let mut canary = Client::login(&hub.addr(), "canary").await;
        let canary_id = canary.id;
        // The sloth never reads while 120 large messages (7 MiB) pile up for it; each
        // sender stays inside its burst allowance.
        let big = "x".repeat(60 * 1024);
        for s in &senders {
            for _ in 0..40 {
                s.handle()
                    .send_message(Target::Client(slow.id), big.clone())
                    .await
                    .unwrap();
            }
        }
        let id = senders[0]
            .handle()
            .send_message(Target::Client(canary_id), "still here?")
            .await
            .unwrap();
        canary
            .event(|e| matches!(e, Event::Message(m) if m.id == id))
            .await;
        // Now read the sloth's socket: it ends (close frame or reset) well before 150 messages.
        let mut received = 0;
        while let Some(f) = slow.recv_frame().await {
            if matches!(f, ServerFrame::Message(_)) {
                received += 1;
            }
        }
        assert!(
            received < 120,
            "the slow reader got all {received} messages"
        );
    })
    .await;
});

both!(ping_flood_and_endless_fragments_are_closed, || async {
    use async_tungstenite::tungstenite::protocol::frame::Frame;
    use async_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let canary_a = Client::login(&hub.addr(), "canary-a").await;
        let mut canary_b = Client::login(&hub.addr(), "canary-b").await;
        let b_id = canary_b.id;

        // A few pings a second are fine; a flood is closed with 1008.
        let mut polite = raw_login(&hub.addr(), "polite").await;
        for _ in 0..5 {
            polite
                .ws
                .send(WsMessage::Ping(vec![1].into()))
                .await
                .unwrap();
        }
        let mut flood = raw_login(&hub.addr(), "flood").await;
        for _ in 0..50 {
            if flood
                .ws
                .send(WsMessage::Ping(vec![1].into()))
                .await
                .is_err()
            {
                break;
            }
        }
        assert_eq!(flood.close_code().await, Some(1008));

        // A fragmented message that never ends: reassembly stops at the limit, 1009.
        let mut endless = raw_login(&hub.addr(), "endless").await;
        let chunk = vec![0u8; 64 * 1024];
        let first = Frame::message(chunk.clone(), OpCode::Data(Data::Binary), false);
        let _ = endless.ws.send(WsMessage::Frame(first)).await;
        for _ in 0..20 {
            let more = Frame::message(chunk.clone(), OpCode::Data(Data::Continue), false);
            if endless.ws.send(WsMessage::Frame(more)).await.is_err() {
                break;
            }
        }
        assert_eq!(endless.close_code().await, Some(1009));

        // The polite one and the canaries are unaffected.
        polite.send_frame(&ClientFrame::Ping).await;
        let id = canary_a
            .handle()
            .send_message(Target::Client(b_id), "fine")
            .await
            .unwrap();
        canary_b
            .event(|e| matches!(e, Event::Message(m) if m.id == id))
            .await;
        assert!(
            polite
                .ws
                .send(WsMessage::Ping(vec![2].into()))
                .await
                .is_ok()
        );
    })
    .await;
});

both!(killed_client_is_shown_as_left, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let mut alice = Client::login(&hub.addr(), "alice").await;
        let victim = raw_login(&hub.addr(), "victim").await;
        let victim_id = victim.id;
        alice
            .event(|e| matches!(e, Event::Contact(c) if c.id == victim_id && c.online))
            .await;
        // Like a killed process: the socket goes away without a WebSocket close.
        drop(victim);
        alice
            .event(|e| matches!(e, Event::Contact(c) if c.id == victim_id && !c.online))
            .await;
    })
    .await;
});

both!(oversized_upgrade_headers_are_cut_off, || async {
    use futures::{AsyncReadExt, AsyncWriteExt};
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let identity = courier_core::identity::Identity::generate().unwrap();
        let connector = futures_rustls::TlsConnector::from(
            courier_core::tls::client_config(&identity).unwrap(),
        );
        let (mut stream, _) = courier_core::net::connect_tls(&hub.addr(), connector)
            .await
            .unwrap();
        let mut request = b"GET /courier/v1 HTTP/1.1\r\nHost: courier\r\nX-Big: ".to_vec();
        request.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
        let _ = stream.write_all(&request).await; // the hub may hang up mid-way
        let mut buf = vec![0u8; 4096];
        let started = std::time::Instant::now();
        let mut answer = Vec::new();
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        assert!(
            !String::from_utf8_lossy(&answer).contains("101"),
            "no upgrade"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        // Others are unaffected.
        let _ok = Client::login(&hub.addr(), "after").await;
    })
    .await;
});

both!(
    the_hub_connects_back_to_a_listening_port_and_says_a_closed_one_is_refused,
    || async {
        use courier_core::proto::Reach;
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let mut ada = Client::login(&hub.addr(), "ada").await;
            let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let open = listener.local_addr().unwrap().port();
            // A port nothing listens on: bound, then let go.
            let closed = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            for (port, expected) in [(open, Reach::Connected), (closed, Reach::Refused)] {
                ada.handle().reachback(port).await.unwrap();
                let Event::Reachback {
                    seen,
                    port: tried,
                    outcome,
                } = ada.event(|e| matches!(e, Event::Reachback { .. })).await
                else {
                    unreachable!()
                };
                assert_eq!(
                    seen.ip(),
                    std::net::Ipv4Addr::LOCALHOST,
                    "where the hub sees us"
                );
                assert_eq!((tried, outcome), (port, expected));
            }
            // The hub's connection really arrived at the open port.
            let accepted = futures_lite::future::or(
                async { Some(listener.accept().await.unwrap().1) },
                async {
                    sleep(Duration::from_secs(2)).await;
                    None
                },
            )
            .await;
            assert_eq!(
                accepted.map(|a| a.ip()),
                Some(std::net::Ipv4Addr::LOCALHOST.into())
            );
        })
        .await;
    }
);

// Issue 22: a profile set during the session is the one the session logs in with when
// it reconnects by itself (here after the hub restarted), not the one it started with.
both!(a_profile_set_survives_the_hub_restarting, || async {
    use courier_core::identity::Identity;
    use courier_core::session::Update;
    let identity = Identity::generate().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (hub, run) = start_hub_on(listener, identity.clone(), |_| {});
    let (running, gone) = async_channel::bounded::<()>(1);
    spawn(async move {
        run.await;
        drop(running);
    });
    let mut alice = Client::login(&hub.addr(), "alice").await;
    let cy = Client::login(&hub.addr(), "cy").await;
    let cy_id = cy.id;
    let mut p = Profile::with_name("Cy Two");
    p.status = "moved desks".into();
    cy.handle().set_profile(p).await.unwrap();
    alice
        .event(|e| matches!(e, Event::Contact(c) if c.id == cy_id && c.profile.name == "Cy Two"))
        .await;

    hub.stop();
    let _ = gone.recv().await;
    while !matches!(alice.updates.recv().await, Ok(Update::Disconnected { .. })) {}
    let (_hub, run) = start_hub_on(std::net::TcpListener::bind(addr).unwrap(), identity, |_| {});
    spawn(run);
    // Both come back by themselves; what Alice hears of Cy online is the new profile.
    let seen = loop {
        match alice.updates.recv().await.unwrap() {
            Update::Connected { welcome, .. } => {
                if let Some(c) = welcome.contacts.iter().find(|c| c.id == cy_id && c.online) {
                    break c.profile.clone();
                }
            }
            Update::Event(Event::Contact(c)) if c.id == cy_id && c.online => break c.profile,
            _ => {}
        }
    };
    assert_eq!(
        (seen.name.as_str(), seen.status.as_str()),
        ("Cy Two", "moved desks")
    );
    drop(cy);
});

// Issue 22 (review): `Handle::keep_profile` changes what the next logins send, not the
// profile now.
both!(
    a_profile_kept_without_sending_is_the_one_logged_in_with_after_a_restart,
    || async {
        use courier_core::identity::Identity;
        use courier_core::session::Update;
        let identity = Identity::generate().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (hub, run) = start_hub_on(listener, identity.clone(), |_| {});
        let (running, gone) = async_channel::bounded::<()>(1);
        spawn(async move {
            run.await;
            drop(running);
        });
        let mut alice = Client::login(&hub.addr(), "alice").await;
        let cy = Client::login(&hub.addr(), "cy").await;
        let cy_id = cy.id;
        let mut p = Profile::with_name("Cy Two");
        p.status = "moved desks".into();
        cy.handle().set_profile(p).await.unwrap();
        alice
            .event(
                |e| matches!(e, Event::Contact(c) if c.id == cy_id && c.profile.name == "Cy Two"),
            )
            .await;
        // A front end puts back what it knows the hub has, for the next logins only.
        let mut back = Profile::with_name("Cy Three");
        back.status = "put back".into();
        cy.handle().keep_profile(back).await.unwrap();

        hub.stop();
        let _ = gone.recv().await;
        while !matches!(alice.updates.recv().await, Ok(Update::Disconnected { .. })) {}
        let (_hub, run) =
            start_hub_on(std::net::TcpListener::bind(addr).unwrap(), identity, |_| {});
        spawn(run);
        // Both come back by themselves; Cy logs in with the profile it was told to keep.
        let seen = loop {
            match alice.updates.recv().await.unwrap() {
                Update::Connected { welcome, .. } => {
                    if let Some(c) = welcome.contacts.iter().find(|c| c.id == cy_id && c.online) {
                        break c.profile.clone();
                    }
                }
                Update::Event(Event::Contact(c)) if c.id == cy_id && c.online => break c.profile,
                _ => {}
            }
        };
        assert_eq!(
            (seen.name.as_str(), seen.status.as_str()),
            ("Cy Three", "put back")
        );
        drop(cy);
    }
);

// Issue 22: a login that asks to keep its profile renames nobody, and one that does not
// take its mailbox leaves the stored messages for the next login that does.
both!(
    a_login_can_keep_the_profile_and_leave_the_mailbox,
    || async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let mut alice = Client::login(&hub.addr(), "alice").await;
            let bob_cfg = client_config(&hub.addr(), "bob", PW);
            let bob_id = bob_cfg.identity.id();
            drop(Client::login_with(bob_cfg.clone()).await);
            alice
                .event(|e| matches!(e, Event::Contact(c) if !c.online && c.id == bob_id))
                .await;
            let id = alice
                .handle()
                .send_message(Target::Client(bob_id), "while you were out")
                .await
                .unwrap();
            alice
                .event(
                    |e| matches!(e, Event::Receipt { id: r, status: Delivery::Stored } if *r == id),
                )
                .await;

            let mut one_shot = bob_cfg.clone();
            one_shot.profile = Profile::with_name("courier-user");
            one_shot.keep_profile = true;
            one_shot.take_mailbox = false;
            let quick = Client::login_with(one_shot).await;
            let Event::Contact(seen) = alice
                .event(|e| matches!(e, Event::Contact(c) if c.online && c.id == bob_id))
                .await
            else {
                unreachable!()
            };
            assert_eq!(seen.profile.name, "bob", "the hub kept the name it knew");
            sleep(Duration::from_millis(300)).await;
            while let Ok(u) = quick.updates.try_recv() {
                assert!(
                    !matches!(u, courier_core::session::Update::Event(Event::Message(_))),
                    "a login that leaves the mailbox is handed nothing: {u:?}"
                );
            }
            drop(quick);

            let mut bob = Client::login_with(bob_cfg).await;
            let Event::Message(m) = bob.event(|e| matches!(e, Event::Message(_))).await else {
                unreachable!()
            };
            assert_eq!((m.id, m.text.as_str()), (id, "while you were out"));
        })
        .await;
    }
);

// A message stored for an offline contact becomes `delivered` to its sender once the
// contact comes back and takes it: at once while the sender is online, else at the
// sender's next login (a receipt for a message sent on an earlier connection).
both!(stored_messages_become_delivered_when_taken, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let alice_cfg = client_config(&hub.addr(), "alice", PW);
        let mut alice = Client::login_with(alice_cfg.clone()).await;
        let alice_id = alice.id;
        // Bob sees who is online.
        let mut bob = Client::login(&hub.addr(), "bob").await;
        let carol_cfg = client_config(&hub.addr(), "carol", PW);
        let carol = Client::login_with(carol_cfg.clone()).await;
        let carol_id = carol.id;
        drop(carol);
        alice
            .event(|e| matches!(e, Event::Contact(c) if !c.online && c.id == carol_id))
            .await;
        let mut ids = Vec::new();
        for text in ["first", "second"] {
            let id = alice
                .handle()
                .send_message(Target::Client(carol_id), text)
                .await
                .unwrap();
            let stored = Event::Receipt {
                id,
                status: Delivery::Stored,
            };
            assert_eq!(alice.event(|e| *e == stored).await, stored);
            ids.push(id);
        }
        // Carol takes them while Alice is online.
        let mut carol = Client::login_with(carol_cfg.clone()).await;
        carol.event(|e| matches!(e, Event::Message(_))).await;
        let delivered = |id| Event::Receipt {
            id,
            status: Delivery::Delivered,
        };
        for &id in &ids {
            alice.event(|e| *e == delivered(id)).await;
        }
        drop(carol);
        alice
            .event(|e| matches!(e, Event::Contact(c) if !c.online && c.id == carol_id))
            .await;
        // Alice leaves; the next one is taken while she is away.
        let id = alice
            .handle()
            .send_message(Target::Client(carol_id), "third")
            .await
            .unwrap();
        alice
            .event(|e| matches!(e, Event::Receipt { id: r, status: Delivery::Stored } if *r == id))
            .await;
        drop(alice);
        bob.event(|e| matches!(e, Event::Contact(c) if !c.online && c.id == alice_id))
            .await;
        let mut carol = Client::login_with(carol_cfg).await;
        carol
            .event(|e| matches!(e, Event::Message(m) if m.text == "third"))
            .await;
        let mut alice = Client::login_with(alice_cfg).await;
        alice.event(|e| *e == delivered(id)).await;
    })
    .await;
});

// Issue 26 (upgrade restart): members online when the hub stopped are shown online by
// the hub started again while they come back; their returns are no news to anyone.
both!(
    an_upgrade_restart_shows_members_online_while_they_come_back,
    || async {
        use courier_core::hub::db::Db;
        use courier_core::identity::Identity;
        use courier_core::session::Update;
        let identity = Identity::generate().unwrap();
        let file = scratch_dir("returns").join("hub.db");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let db = Db::open(&file).unwrap();
        let (hub, run) = start_hub_on(listener, identity.clone(), |c| c.db = Some(db));
        let (running, gone) = async_channel::bounded::<()>(1);
        spawn(async move {
            run.await;
            drop(running);
        });
        let mut alice = Client::login(&hub.addr(), "alice").await;
        let bob = Client::login(&hub.addr(), "bob").await;
        let bob_id = bob.id;
        alice
            .event(|e| matches!(e, Event::Contact(c) if c.id == bob_id && c.online))
            .await;
        // Bob's machine goes down with the hub: only alice comes back.
        hub.stop();
        let _ = gone.recv().await;
        drop(bob);
        while !matches!(alice.updates.recv().await, Ok(Update::Disconnected { .. })) {}
        let db = Db::open(&file).unwrap();
        let listener = std::net::TcpListener::bind(addr).unwrap();
        let (_hub, run) = start_hub_on(listener, identity, |c| c.db = Some(db));
        spawn(run);
        let welcome = loop {
            if let Update::Connected { welcome, .. } = alice.updates.recv().await.unwrap() {
                break welcome;
            }
        };
        let shown = welcome.contacts.iter().find(|c| c.id == bob_id).unwrap();
        assert!(shown.online, "bob was online at the stop: {shown:?}");
    }
);
