//! Looking at a running hub through its `Observer`: a real hub on loopback, real
//! sessions, a transfer through the relay. Runs under smol and async-std (`both!`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use courier_core::proto::IncomingOffer;
use courier_core::session::Event;
use courier_core::transfer::{self, Options, Route, Summary, Transfer, Update};
use futures::StreamExt;

/// Options whose direct ways all fail (the address announced has no listener): the
/// transfer goes through the relay.
fn relayed() -> Options {
    Options {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        advertise: Some(vec!["127.0.0.1:1".parse::<SocketAddr>().unwrap()]),
        direct_wait: Duration::from_millis(300),
        connect_deadline: Duration::from_secs(10),
        ..Options::default()
    }
}

async fn finish(mut t: Transfer) -> Result<Summary, String> {
    while let Some(u) = t.next().await {
        if let Update::Finished(r) = u {
            return r.map_err(|e| e.to_string());
        }
    }
    panic!("transfer stream ended without Finished");
}

// Proves: the observer sees the members online by name and counts a relayed transfer
// (brokered once, relayed once, its bytes both ways: more than the file); the metrics
// text carries those numbers and never a name; once the hub has stopped the observer
// gets no answer (rather than waiting forever).
both!(
    an_observer_sees_who_is_online_and_a_relayed_transfer,
    || async {
        let mut observer = None;
        let (hub, run) = start_hub(|c| observer = Some(c.observe()));
        let observer = observer.unwrap();
        let (ran_tx, ran) = async_channel::bounded::<()>(1);
        spawn(async move {
            run.await;
            drop(ran_tx);
        });
        let alice = Client::login(&hub.addr(), "alice").await;
        let mut bob = Client::login(&hub.addr(), "bob").await;
        let online: Vec<String> = observer
            .online()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(online, ["alice", "bob"]);
        let before = observer.metrics().await.unwrap();
        assert_eq!(before.members_online, 2);
        assert_eq!(before.totals.transfers_relayed, 0);
        assert_eq!(before.relayed_bytes, 0);

        let src = scratch_dir("observe-src");
        let body = vec![7u8; 300_000];
        std::fs::write(src.join("file.bin"), &body).unwrap();
        let (sent_tx, sent) = async_channel::bounded(1);
        let sending = transfer::send(
            alice.handle().clone(),
            bob.id,
            vec![src.join("file.bin")],
            relayed(),
        );
        spawn(async move {
            let _ = sent_tx.send(finish(sending).await).await;
        });
        let offer: IncomingOffer = match bob.event(|e| matches!(e, Event::Offer(_))).await {
            Event::Offer(o) => o,
            _ => unreachable!(),
        };
        let dest = scratch_dir("observe-dest");
        let received = transfer::receive(bob.handle().clone(), offer, None, dest, relayed());
        let got = finish(received).await.unwrap();
        assert_eq!(got.route, Route::Relayed);
        assert_eq!(sent.recv().await.unwrap().unwrap().route, Route::Relayed);

        // The machine's part of an answer is reused for up to a second.
        sleep(Duration::from_millis(1_100)).await;
        let after = observer.metrics().await.unwrap();
        assert_eq!(after.totals.transfers_brokered, 1);
        assert_eq!(after.totals.transfers_relayed, 1);
        assert!(
            after.relayed_bytes > body.len() as u64,
            "{}",
            after.relayed_bytes
        );
        let text = after.to_prometheus();
        assert!(
            text.contains("\ncourier_transfers_relayed_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "\ncourier_relayed_bytes_total {}\n",
                after.relayed_bytes
            )),
            "{text}"
        );
        assert!(!text.contains("alice") && !text.contains("bob"));

        hub.stop();
        let _ = ran.recv().await;
        assert_eq!(observer.metrics().await, None);
        assert_eq!(observer.online().await, None);
    }
);
