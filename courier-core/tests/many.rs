//! Files to many through the core API on loopback: a real hub, real sessions, real links,
//! real files (`transfer::many`). Run under smol and async-std (`both!`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use courier_core::proto::ClientId;
use courier_core::session::Event;
use courier_core::transfer::many::{self, Status};
use courier_core::transfer::{self, Options, Update};
use futures::StreamExt;

fn quick() -> Options {
    Options {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        direct_wait: Duration::from_millis(300),
        connect_deadline: Duration::from_secs(10),
        ..Options::default()
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Takes the next offer into `dir` (or declines it) in the background.
fn answer(mut client: Client, dir: PathBuf, accept: bool) {
    spawn(async move {
        let Event::Offer(offer) = client.event(|e| matches!(e, Event::Offer(_))).await else {
            unreachable!()
        };
        if !accept {
            client
                .handle()
                .decline(offer.id, courier_core::proto::Declined::ByUser)
                .await
                .unwrap();
            std::future::pending::<()>().await;
        }
        let mut t = transfer::receive(client.handle().clone(), offer, None, dir, quick());
        while let Some(u) = t.next().await {
            if let Update::Finished(r) = u {
                r.unwrap();
            }
        }
        // Stay logged in.
        std::future::pending::<()>().await;
        drop(client);
    });
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

// One send to four online contacts (one declines) and one offline who logs in later:
// proves each copy arrives whole, the decline settles only that recipient, the offline
// one gets the offer at login and is reported so, and that the copies running together
// read the source from disk once (a file smaller than the shared reader's cache).
both!(
    one_send_reaches_each_recipient_and_reads_the_disk_once,
    || async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let addr = hub.addr();
            let alice = Client::login(&addr, "alice").await;
            // Fay is known to the hub, then offline.
            let fay_config = client_config(&addr, "fay", PW);
            let fay_id = fay_config.identity.id();
            drop(Client::login_with(fay_config.clone()).await);
            let src = scratch_dir("many-src");
            let file = data(3 * many::BLOCK + 12_345);
            std::fs::write(src.join("handout.pdf"), &file).unwrap();
            let mut ids: Vec<ClientId> = Vec::new();
            let mut dirs = Vec::new();
            for (name, accept) in [("bob", true), ("cy", true), ("dan", true), ("eve", false)] {
                let c = Client::login(&addr, name).await;
                ids.push(c.id);
                let dir = scratch_dir(&format!("many-{name}"));
                dirs.push((c.id, dir.clone(), accept));
                answer(c, dir, accept);
            }
            ids.push(fay_id);
            let config = many::Config {
                running: 5,
                ..many::Config::default()
            };
            let mut sending = many::send(
                alice.handle().clone(),
                ids.clone(),
                vec![src.join("handout.pdf")],
                quick(),
                config,
            );
            let fay_dir = scratch_dir("many-fay");
            let mut settled = Vec::new();
            let report = loop {
                match sending.next().await.unwrap() {
                    many::Update::Transfer {
                        to,
                        update: Update::Stored { .. },
                    } if to == fay_id => {
                        // Fay comes back: the offer waits for her at login.
                        answer(
                            Client::login_with(fay_config.clone()).await,
                            fay_dir.clone(),
                            true,
                        );
                    }
                    many::Update::Settled(o) => settled.push(o.to),
                    many::Update::Finished(r) => break r.unwrap(),
                    _ => {}
                }
            };
            assert_eq!(settled.len(), 5, "each recipient settled once");
            assert!(report.all_verified(), "{report:?}");
            let status: Vec<(ClientId, Status, bool)> = report
                .outcomes
                .iter()
                .map(|o| (o.to, o.status, o.offline))
                .collect();
            for (id, dir, accept) in &dirs {
                let want = if *accept {
                    Status::Verified
                } else {
                    Status::Declined
                };
                assert!(status.contains(&(*id, want, false)), "{status:?}");
                if *accept {
                    assert!(read(dir, "handout.pdf") == file);
                } else {
                    assert!(!dir.join("handout.pdf").exists());
                }
            }
            assert!(
                status.contains(&(fay_id, Status::Verified, true)),
                "{status:?}"
            );
            assert!(read(&fay_dir, "handout.pdf") == file);
            // Four copies, and the disk was read once: the file fits in the cache.
            assert_eq!(report.read_from_disk, file.len() as u64);
        })
        .await;
    }
);

/// The next update of a send to many, or `None` once its stream ended; panics when
/// nothing comes for two minutes (a bound on a broken run, not what is tested).
async fn next_of(sending: &mut many::Many) -> Option<many::Update> {
    let bound = async {
        sleep(Duration::from_secs(120)).await;
        panic!("the send to many said nothing for two minutes");
    };
    let next = std::pin::pin!(sending.next());
    match futures::future::select(next, std::pin::pin!(bound)).await {
        futures::future::Either::Left((u, _)) => u,
        futures::future::Either::Right(((), _)) => unreachable!(),
    }
}

// Every way a recipient settles but "waits": one verifies, one declines, one is unknown
// to the hub (the copy fails), one is offline and declines when she comes back. Proves
// the stream ends as documented once all are settled: `Finished` comes after the last
// `Settled`, it is the last item, and the stream then ends (it would hang, and the bound
// fire, if the coordinator waited for anything more).
both!(
    the_stream_finishes_and_ends_once_everyone_is_settled,
    || async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let addr = hub.addr();
            let alice = Client::login(&addr, "alice").await;
            let fay_config = client_config(&addr, "fay", PW);
            let fay_id = fay_config.identity.id();
            drop(Client::login_with(fay_config.clone()).await);
            let src = scratch_dir("many-end-src");
            std::fs::write(src.join("a.txt"), b"for all").unwrap();
            let bob = Client::login(&addr, "bob").await;
            let eve = Client::login(&addr, "eve").await;
            let (bob_id, eve_id) = (bob.id, eve.id);
            let bob_dir = scratch_dir("many-end-bob");
            answer(bob, bob_dir.clone(), true);
            answer(eve, scratch_dir("many-end-eve"), false);
            let stranger = ClientId([9; 32]);
            let mut sending = many::send(
                alice.handle().clone(),
                vec![bob_id, eve_id, stranger, fay_id],
                vec![src.join("a.txt")],
                quick(),
                many::Config::default(),
            );
            let mut settled = Vec::new();
            let report = loop {
                match next_of(&mut sending)
                    .await
                    .expect("Finished before the end")
                {
                    many::Update::Transfer {
                        to,
                        update: Update::Stored { .. },
                    } if to == fay_id => {
                        answer(
                            Client::login_with(fay_config.clone()).await,
                            scratch_dir("many-end-fay"),
                            false,
                        );
                    }
                    many::Update::Settled(o) => settled.push((o.to, o.status)),
                    many::Update::Finished(r) => break r.unwrap(),
                    _ => {}
                }
            };
            assert!(
                next_of(&mut sending).await.is_none(),
                "Finished is the last"
            );
            settled.sort_by_key(|(to, _)| to.0);
            let mut want = vec![
                (bob_id, Status::Verified),
                (eve_id, Status::Declined),
                (stranger, Status::Failed),
                (fay_id, Status::Declined),
            ];
            want.sort_by_key(|(to, _)| to.0);
            assert_eq!(settled, want, "each settled once");
            assert!(!report.all_verified(), "the unknown one failed");
            assert_eq!(read(&bob_dir, "a.txt"), b"for all");
        })
        .await;
    }
);

// Four recipients offline when offered (every offer stored, each giving its place back),
// who all log in and accept together, with two places: proves the running cap holds for
// offers accepted late (never more than two copies between their first bytes out and
// their end; the others wait on their link, kept alive) and that all four verify.
both!(offers_accepted_late_still_run_at_most_the_cap, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let addr = hub.addr();
        let alice = Client::login(&addr, "alice").await;
        let mut configs = Vec::new();
        for name in ["bob", "cy", "dan", "eve"] {
            let config = client_config(&addr, name, PW);
            // Known to the hub, then offline.
            drop(Client::login_with(config.clone()).await);
            configs.push(config);
        }
        let ids: Vec<ClientId> = configs.iter().map(|c| c.identity.id()).collect();
        let src = scratch_dir("many-late-src");
        let file = data(4 * many::BLOCK + 777);
        std::fs::write(src.join("late.bin"), &file).unwrap();
        let config = many::Config {
            running: 2,
            ..many::Config::default()
        };
        let mut sending = many::send(
            alice.handle().clone(),
            ids.clone(),
            vec![src.join("late.bin")],
            quick(),
            config,
        );
        let mut stored = 0;
        let mut dirs = Vec::new();
        // Copies between their first Progress and their end, and the most at once.
        let mut active: Vec<ClientId> = Vec::new();
        let mut most = 0;
        let report = loop {
            match sending.next().await.unwrap() {
                many::Update::Transfer {
                    update: Update::Stored { .. },
                    ..
                } => {
                    stored += 1;
                    if stored == ids.len() {
                        // Everyone comes back at about the same time and accepts.
                        for (n, config) in configs.iter().enumerate() {
                            let dir = scratch_dir(&format!("many-late-{n}"));
                            dirs.push(dir.clone());
                            answer(Client::login_with(config.clone()).await, dir, true);
                        }
                    }
                }
                many::Update::Transfer {
                    to,
                    update: Update::Progress(_),
                } if !active.contains(&to) => {
                    active.push(to);
                    most = most.max(active.len());
                }
                many::Update::Settled(o) => active.retain(|a| *a != o.to),
                many::Update::Retrying { to, .. } => active.retain(|a| *a != to),
                many::Update::Finished(r) => break r.unwrap(),
                _ => {}
            }
        };
        assert!(report.all_verified(), "{report:?}");
        assert!(report.outcomes.iter().all(|o| o.offline), "{report:?}");
        assert!((1..=2).contains(&most), "{most} copies sent at once");
        for dir in &dirs {
            assert!(read(dir, "late.bin") == file);
        }
    })
    .await;
});
