//! Link tests (`courier doctor --peer`) end to end on loopback: a real hub, two real
//! sessions, the real race and end-to-end TLS; the contact's session answers by itself.
//! Each runs under smol and async-std (`both!`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use courier_core::limits;
use courier_core::proto::{LinkTest, OfferRefusal};
use courier_core::session::{Event, Update};
use courier_core::transfer::{self, Error, Options, Route};

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
                // Data went for the whole run, in whole chunks, and the contact counted it all.
                assert!(report.bytes >= limits::CHUNK as u64, "{report:?}");
                assert_eq!(report.bytes % limits::CHUNK as u64, 0, "{report:?}");
                assert!(report.elapsed >= RUN, "{report:?}");
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
            let mut config = client_config(&hub.addr(), "bob", PW);
            config.answer_link_tests = Some(Options {
                listen: Some("127.0.0.1:0".parse().unwrap()),
                advertise: Some(vec!["127.0.0.1:1".parse::<SocketAddr>().unwrap()]),
                ..Options::default()
            });
            let bob = Client::login_with(config).await;
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
            let mut config = client_config(&hub.addr(), "bob", PW);
            config.answer_link_tests = None;
            let bob = Client::login_with(config).await;
            let r = test_link(&alice, &bob, LinkTest::Relayed, &listen_on_loopback(), RUN).await;
            assert!(matches!(r, Err(Error::Declined)), "{r:?}");
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
        for i in 0..limits::LINK_TESTS_PER_MINUTE {
            test_link(&alice, &bob, LinkTest::Direct, &base, Duration::ZERO)
                .await
                .unwrap_or_else(|e| panic!("test {i}: {e}"));
        }
        let over = test_link(&alice, &bob, LinkTest::Direct, &base, Duration::ZERO).await;
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
