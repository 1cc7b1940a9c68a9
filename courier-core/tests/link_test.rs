//! Link tests (`courier doctor --peer`) end to end on loopback: a real hub, two real
//! sessions, the real race and end-to-end TLS; the contact's session answers by itself.
//! Each runs under smol and async-std (`both!`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use courier_core::identity::Identity;
use courier_core::proto::{ClientFrame, LinkTest, OfferRefusal, ServerFrame};
use courier_core::session::{Event, Update};
use courier_core::transfer::wire::{self, Control, Incoming};
use courier_core::transfer::{self, Error, Options, Route};
use courier_core::{limits, tls};
use futures::io::{AsyncReadExt, AsyncWriteExt};

const RUN: Duration = Duration::from_millis(300);

fn listen_on_loopback() -> Options {
    Options {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Options::default()
    }
}

/// Every offer `client` was shown so far (link tests must never be among them).
fn offers_shown(client: &Client) -> usize {
    let mut n = 0;
    while let Ok(u) = client.updates.try_recv() {
        if matches!(u, Update::Event(Event::Offer(_))) {
            n += 1;
        }
    }
    n
}

/// Runs a link test, retrying while the hub says offers come too fast.
async fn test_link(
    from: &Client,
    to: &Client,
    way: LinkTest,
    base: &Options,
    run: Duration,
) -> Result<transfer::LinkReport, Error> {
    loop {
        match transfer::link_test(from.handle().clone(), to.id, way, base, run).await {
            Err(Error::Refused(OfferRefusal::RateLimited)) => {
                sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

both!(
    each_way_is_measured_and_the_contact_is_shown_no_offer,
    || async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let alice = Client::login(&hub.addr(), "alice").await;
            let bob = Client::login(&hub.addr(), "bob").await;
            for (way, route) in [
                (LinkTest::Direct, Route::Direct),
                (LinkTest::Relayed, Route::Relayed),
            ] {
                let report = test_link(&alice, &bob, way, &listen_on_loopback(), RUN)
                    .await
                    .unwrap_or_else(|e| panic!("{way:?}: {e}"));
                assert_eq!(report.way, way);
                assert_eq!(report.route, route, "{way:?} took the other way");
                // Data went for the whole run (or up to a test's byte cap, which a fast
                // machine reaches first), in whole chunks, and the contact counted it all.
                assert!(report.bytes >= limits::CHUNK as u64, "{report:?}");
                assert_eq!(report.bytes % limits::CHUNK as u64, 0, "{report:?}");
                let capped = report.bytes + limits::CHUNK as u64 > limits::LINK_TEST_MAX_BYTES;
                assert!(report.elapsed >= RUN || capped, "{report:?}");
                assert!(report.rate() > 0.0);
                assert!(report.rtt > Duration::ZERO && report.rtt < Duration::from_secs(2));
            }
            assert_eq!(offers_shown(&bob), 0, "a link test showed as an offer");
        })
        .await;
    }
);

both!(
    a_blocked_direct_way_fails_on_its_own_and_the_relay_still_works,
    || async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            // Alice does not listen; Bob announces a port nobody listens on: no direct way.
            let alice = Client::login(&hub.addr(), "alice").await;
            let config = client_config(&hub.addr(), "bob", PW);
            let answering = Options {
                listen: Some("127.0.0.1:0".parse().unwrap()),
                advertise: Some(vec!["127.0.0.1:1".parse::<SocketAddr>().unwrap()]),
                ..Options::default()
            };
            let bob = Client::login_answering(config, Some(answering)).await;
            let closed = Options {
                listen: None,
                ..Options::default()
            };
            let direct = test_link(&alice, &bob, LinkTest::Direct, &closed, RUN).await;
            assert!(
                matches!(direct, Err(Error::NoRoute(_))),
                "direct should find no route: {direct:?}"
            );
            // The failed test was withdrawn at the hub, so Bob is free for the next one, which
            // goes through the hub even though direct cannot.
            let relayed = test_link(&alice, &bob, LinkTest::Relayed, &closed, RUN)
                .await
                .unwrap();
            assert_eq!(relayed.route, Route::Relayed);
            assert!(relayed.bytes > 0);
            assert_eq!(offers_shown(&bob), 0);
        })
        .await;
    }
);

both!(
    a_contact_that_answers_no_link_tests_declines_them,
    || async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let alice = Client::login(&hub.addr(), "alice").await;
            let config = client_config(&hub.addr(), "bob", PW);
            let bob = Client::login_answering(config, None).await;
            let r = test_link(&alice, &bob, LinkTest::Relayed, &listen_on_loopback(), RUN).await;
            // The prober hears why (its doctor says so), not a plain "declined".
            assert!(matches!(r, Err(Error::NoLinkTests)), "{r:?}");
            assert_eq!(offers_shown(&bob), 0);
        })
        .await;
    }
);

both!(link_tests_past_the_rate_are_declined, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let alice = Client::login(&hub.addr(), "alice").await;
        let bob = Client::login(&hub.addr(), "bob").await;
        let base = listen_on_loopback();
        // One prober gets its share of the minute, no more.
        for i in 0..limits::LINK_TESTS_PER_PROBER {
            test_link(&alice, &bob, LinkTest::Direct, &base, Duration::ZERO)
                .await
                .unwrap_or_else(|e| panic!("test {i}: {e}"));
        }
        let over = test_link(&alice, &bob, LinkTest::Direct, &base, Duration::ZERO).await;
        assert!(matches!(over, Err(Error::Declined)), "{over:?}");
        // Others get theirs, up to the minute's whole.
        let mut others = Vec::new();
        for i in limits::LINK_TESTS_PER_PROBER..limits::LINK_TESTS_PER_MINUTE {
            if i % limits::LINK_TESTS_PER_PROBER == 0 {
                others.push(Client::login(&hub.addr(), &format!("prober{i}")).await);
            }
            let prober = others.last().unwrap();
            test_link(prober, &bob, LinkTest::Direct, &base, Duration::ZERO)
                .await
                .unwrap_or_else(|e| panic!("test {i}: {e}"));
        }
        let fresh = Client::login(&hub.addr(), "fresh").await;
        let over = test_link(&fresh, &bob, LinkTest::Direct, &base, Duration::ZERO).await;
        assert!(matches!(over, Err(Error::Declined)), "{over:?}");
        // Bob's session is unharmed: a message still arrives.
        let mut bob = bob;
        alice
            .handle()
            .send_message(courier_core::proto::Target::Client(bob.id), "still here")
            .await
            .unwrap();
        let got = bob.event(|e| matches!(e, Event::Message(_))).await;
        assert!(matches!(got, Event::Message(m) if m.text == "still here"));
    })
    .await;
});

// Finding N6: a link test used to need no consent. A hostile member (Mallory, a raw client
// on the public API) makes Bob's session dial what she lists, and pushes data into it for
// as long as it reads.

/// Mallory's offer of a direct link test to `to`, listing `addrs`; returns her ticket.
async fn hostile_offer(
    mallory: &mut RawClient,
    to: courier_core::proto::ClientId,
    addrs: Vec<SocketAddr>,
) -> courier_core::proto::TicketInfo {
    mallory
        .send_frame(&ClientFrame::Offer {
            tag: 1,
            to,
            sealed: courier_core::proto::Sealed::default(),
            test: Some(LinkTest::Direct),
            addrs,
            wait: false,
        })
        .await;
    loop {
        match mallory.recv_frame().await {
            Some(ServerFrame::Ticket(t)) => return t,
            Some(ServerFrame::TransferEnded { end, .. }) => panic!("the test ended: {end:?}"),
            None => panic!("the hub closed Mallory's connection"),
            Some(_) => {}
        }
    }
}

both!(
    a_link_test_dials_only_the_probers_own_address_and_reveals_only_the_seen_one,
    || async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let bob = Client::login(&hub.addr(), "bob").await;
            let mut mallory = raw_login(&hub.addr(), "mallory").await;
            // A service on Bob's machine that only he should reach (127.0.0.2 stands for
            // "not where the hub sees Mallory", which is 127.0.0.1).
            let service = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
            service.set_nonblocking(true).unwrap();
            // Mallory listens on six ports at her own address.
            let mut own = Vec::new();
            for _ in 0..6 {
                own.push(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
            }
            let mut addrs = vec![
                service.local_addr().unwrap(),
                "127.0.0.3:9".parse().unwrap(),
            ];
            addrs.extend(own.iter().map(|l| l.local_addr().unwrap()));
            let ticket = hostile_offer(&mut mallory, bob.id, addrs).await;
            // Bob dials (his connect time is 3 s): let every attempt land.
            sleep(limits::LINK_TEST_CONNECT + Duration::from_millis(500)).await;
            assert!(
                service.accept().is_err(),
                "Bob dialled an address the hub does not see Mallory at"
            );
            let mut dialled = 0;
            for l in &own {
                l.set_nonblocking(true).unwrap();
                while l.accept().is_ok() {
                    dialled += 1;
                }
            }
            assert!(
                (1..=limits::LINK_TEST_DIALS).contains(&dialled),
                "Bob dialled Mallory {dialled} times"
            );
            // Of Bob's addresses, the prober learns only the one the hub sees him at.
            assert!(
                ticket.addrs.len() <= limits::LINK_TEST_DIALS
                    && ticket
                        .addrs
                        .iter()
                        .all(|a| a.ip() == std::net::Ipv4Addr::LOCALHOST),
                "Bob's other addresses were handed to the prober: {:?}",
                ticket.addrs
            );
        })
        .await;
    }
);

both!(
    a_prober_that_streams_past_the_cap_is_cut_off_there,
    || async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let bob = Client::login(&hub.addr(), "bob").await;
            let mallory_id = Identity::generate().unwrap();
            let mut mallory = raw_login_as(&hub.addr(), &mallory_id, "mallory").await;
            let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let ticket =
                hostile_offer(&mut mallory, bob.id, vec![listener.local_addr().unwrap()]).await;
            // Bob dials her; she is the TLS server of the link, with his pinned certificate.
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = futures_rustls::TlsAcceptor::from(
                tls::pinned_server_config(&mallory_id, bob.id).unwrap(),
            );
            let mut tls = acceptor.accept(tcp).await.unwrap();
            // The link's frames straight on TLS: his knock first.
            let mut head = [0u8; wire::HEADER];
            tls.read_exact(&mut head).await.unwrap();
            let mut frame = head.to_vec();
            frame.resize(
                wire::HEADER + wire::header(&head, wire::Phase::Knock).unwrap(),
                0,
            );
            tls.read_exact(&mut frame[wire::HEADER..]).await.unwrap();
            assert!(matches!(
                wire::decode(&frame),
                Ok(Incoming::Control(Control::Knock { .. }))
            ));
            let _ = ticket;
            tls.write_all(&wire::encode(&Control::Welcome))
                .await
                .unwrap();
            tls.write_all(&wire::encode(&Control::Start)).await.unwrap();
            // Then data as fast as she can, well past the cap (she gives up at cap + 64 MiB).
            let chunk = wire::data(&vec![7u8; limits::CHUNK]);
            let give_up = limits::LINK_TEST_MAX_BYTES + (64 << 20);
            let mut sent = 0u64;
            while sent < give_up {
                if tls.write_all(&chunk).await.is_err() {
                    break;
                }
                sent += limits::CHUNK as u64;
            }
            assert!(
                sent < give_up,
                "Bob read {sent} bytes of a link test and was still reading"
            );
            assert!(
                sent >= limits::LINK_TEST_MAX_BYTES - (16 << 20),
                "cut off early at {sent}"
            );
        })
        .await;
    }
);
