//! A hostile receiver against a real sender (issue 10, finding 7): it accepts, connects
//! with the ticket, then never reads a byte while it floods the sender with "alive"
//! messages. The sender must neither hold more memory than its pipeline's few MiB nor
//! wait forever. Reads this process's resident memory (from `/proc`: Linux only), so it
//! lives in its own binary.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use courier_core::identity::Identity;
use courier_core::proto::{ClientFrame, ServerFrame};
use courier_core::tls;
use courier_core::transfer::wire::{self, Control, Incoming};
use courier_core::transfer::{self, Options, Update};
use futures::StreamExt;
use futures::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// The next frame of a link (header and payload).
async fn next_frame(io: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut head = [0u8; wire::HEADER];
    io.read_exact(&mut head).await.unwrap();
    let mut frame = head.to_vec();
    frame.resize(
        wire::HEADER + wire::header(&head, wire::Phase::Open).unwrap(),
        0,
    );
    io.read_exact(&mut frame[wire::HEADER..]).await.unwrap();
    frame
}

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096.0 / (1024.0 * 1024.0)
}

#[test]
fn a_receiver_that_never_reads_costs_the_sender_little_and_is_given_up_on() {
    run_smol(|| async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let alice = Client::login(&hub.addr(), "alice").await;
            let bob = Identity::generate().unwrap();
            let mut raw = raw_login_as(&hub.addr(), &bob, "bob").await;
            // Bob publishes keys as any client does, so that Alice can seal her offer.
            publish_keys(&mut raw, &bob).await;
            let dir = scratch_dir("hostile-receiver");
            let big = dir.join("big.bin");
            std::fs::File::create(&big)
                .unwrap()
                .set_len(4 << 30)
                .unwrap();
            let deadline = Duration::from_secs(3);
            let options = Options {
                listen: Some("127.0.0.1:0".parse().unwrap()),
                relay: false,
                progress_deadline: deadline,
                direct_wait: Duration::from_millis(300),
                ..Options::default()
            };
            sleep(Duration::from_millis(200)).await;
            let before = rss_mib();
            let mut sending = transfer::send(alice.handle().clone(), bob.id(), vec![big], options);
            let (result_tx, result) = async_channel::bounded(1);
            spawn(async move {
                while let Some(u) = sending.next().await {
                    if let Update::Finished(r) = u {
                        let _ = result_tx.send(r.map_err(|e| e.to_string())).await;
                    }
                }
            });
            // Bob accepts by hand and gets the ticket.
            let offer = loop {
                if let Some(ServerFrame::Offer(o)) = raw.recv_frame().await {
                    break o;
                }
            };
            raw.send_frame(&ClientFrame::Accept {
                id: offer.id,
                files: vec![0],
                addrs: Vec::new(),
            })
            .await;
            let ticket = loop {
                if let Some(ServerFrame::Ticket(t)) = raw.recv_frame().await {
                    break t;
                }
            };
            // He connects to Alice with her pinned certificate and the ticket.
            let tcp = async_net::TcpStream::connect(offer.addrs[0]).await.unwrap();
            let connector = futures_rustls::TlsConnector::from(
                tls::pinned_client_config(&bob, alice.id).unwrap(),
            );
            let mut tls = connector.connect(tls::server_name(), tcp).await.unwrap();
            let knock = Control::Knock {
                ticket: ticket.ticket,
                digest: ticket.digest,
            };
            tls.write_all(&wire::encode(&knock)).await.unwrap();
            tls.flush().await.unwrap();
            loop {
                let frame = next_frame(&mut tls).await;
                if wire::decode(&frame) == Ok(Incoming::Control(Control::Start)) {
                    break;
                }
            }
            let hello = wire::encode(&Control::Hello { offsets: vec![0] });
            tls.write_all(&hello).await.unwrap();
            // From now on he reads nothing and says "alive" as fast as he can.
            let (_unread, mut sink) = tls.split();
            let alive = wire::encode(&Control::Got { bytes: 0 });
            let flood = async {
                while sink.write_all(&alive).await.is_ok() {}
                std::future::pending::<Result<(), String>>().await
            };
            let give_up = async {
                sleep(deadline * 3).await;
                Err("still sending".to_owned())
            };
            let outcome = futures_lite::future::or(
                async { result.recv().await.unwrap().map(|_| ()) },
                futures_lite::future::or(flood, give_up),
            )
            .await;
            assert_eq!(outcome, Err("the transfer stalled".to_owned()));
            let grown = rss_mib() - before;
            assert!(grown < 64.0, "the sender grew by {grown:.1} MiB");
        })
        .await;
    });
}
