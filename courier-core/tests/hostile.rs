//! A hostile member of the hub, on loopback against a real hub: what one logged-in
//! client can do to the others, and what must hold whatever it does (issue 10). Each
//! test runs under smol and async-std and stays well under 30 s on two cores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use courier_core::identity::Identity;
use courier_core::proto::{MsgId, Target};
use courier_core::session::{Event, Update};

/// Counts the messages a client receives until it has `want`, or it is disconnected, or
/// one arrives twice.
async fn count_messages(client: Client, want: usize) -> Result<usize, String> {
    let mut got = std::collections::HashSet::new();
    while got.len() < want {
        match client.updates.recv().await {
            Ok(Update::Event(Event::Message(m))) => {
                if !got.insert(m.id) {
                    return Err(format!("{:?} arrived twice", m.id));
                }
            }
            Ok(Update::Disconnected { reason, .. }) => {
                return Err(format!("disconnected after {}: {reason}", got.len()));
            }
            Ok(_) => {}
            Err(_) => return Err("stream ended".into()),
        }
    }
    Ok(got.len())
}

// Finding 1: bursts to everyone, each sender within its allowance, used to fill every
// reader's outbox before any writer ran, and the hub dropped them all as slow consumers.
both!(bursts_to_everyone_reach_every_reader, || async {
    const READERS: usize = 100;
    const SENDERS: usize = 20;
    let burst = courier_core::limits::MESSAGE_BURST as usize;
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let mut readers = Vec::new();
        for i in 0..READERS {
            readers.push(Client::login(&hub.addr(), &format!("reader{i}")).await);
        }
        let mut senders = Vec::new();
        for i in 0..SENDERS {
            senders.push(Client::login(&hub.addr(), &format!("sender{i}")).await);
        }
        sleep(Duration::from_millis(300)).await;
        // Readers must also see what the other senders send: start counting first.
        let (done_tx, done) = async_channel::unbounded();
        for r in readers {
            let done_tx = done_tx.clone();
            spawn(async move {
                let _ = done_tx.send(count_messages(r, SENDERS * burst).await).await;
            });
        }
        for s in &senders {
            for n in 0..burst {
                s.handle()
                    .send_message(Target::Everyone, format!("burst {n}"))
                    .await
                    .unwrap();
            }
        }
        for _ in 0..READERS {
            let got = done.recv().await.unwrap();
            assert_eq!(got, Ok(SENDERS * burst));
        }
    })
    .await;
});

// Finding 2: a mailbox of stored messages used to be handed over all at once, which
// overflowed the recipient's outbox at login: the recipient was dropped and every
// stored message was lost.
both!(
    a_full_mailbox_survives_login_and_a_dropped_handover,
    || async {
        let (hub, run) = start_hub(|c| c.message_burst = 1000);
        with_hub(run, async {
            let bob = Identity::generate().unwrap();
            // Bob logs in once so that the hub knows him, then leaves.
            drop(raw_login_as(&hub.addr(), &bob, "bob").await);
            let alice = Client::login(&hub.addr(), "alice").await;
            sleep(Duration::from_millis(300)).await;
            let queue = courier_core::limits::OFFLINE_QUEUE;
            let mut sent = Vec::new();
            for n in 0..queue {
                let id = alice
                    .handle()
                    .send_message(Target::Client(bob.id()), format!("stored {n}"))
                    .await
                    .unwrap();
                sent.push(id);
            }
            sleep(Duration::from_millis(500)).await;
            // Bob comes back and drops the connection as soon as the handover starts.
            let mut raw = raw_login_as(&hub.addr(), &bob, "bob").await;
            let _ = raw.recv_frame().await;
            drop(raw);
            sleep(Duration::from_millis(300)).await;
            // Then he comes back properly: every stored message arrives, none twice.
            let mut config = client_config(&hub.addr(), "bob", PW);
            config.identity = bob;
            let client = Client::login_with(config).await;
            let got = count_messages(client, queue).await;
            assert_eq!(got, Ok(queue));
            let _: Vec<MsgId> = sent;
        })
        .await;
    }
);
