//! What members can make a hub hold: each growth path run to its cap against a real
//! `courier hub` process, reading that process's resident memory (issue 10, finding 4).
//!
//! The hub runs with `MALLOC_MMAP_THRESHOLD_=131072`: glibc then returns freed large
//! blocks to the system at once, so the figure is what the hub holds, not what the
//! allocator kept after a burst of short-lived buffers. Linux only: memory is read
//! from `/proc`.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message as WsMessage;
use courier_core::auth::Password;
use courier_core::identity::Identity;
use courier_core::net::{self, ClientStream};
use courier_core::proto::{self, ClientFrame, ClientId, Profile, Target};
use courier_core::session::{self, Session, Timing, Update};
use courier_core::tls;
use courier_testkit::{HubProcess, TempDir};
use futures::StreamExt;
use serde_bytes::ByteBuf;

const BIN: &str = env!("CARGO_BIN_EXE_courier");
const PW: &str = "memory test password";

/// A hub process with its data in a folder of its own.
struct Hub {
    process: HubProcess,
    addr: String,
    /// Dropped after the process: its folder goes once it is gone.
    _dir: TempDir,
}

fn start_hub(tag: &str) -> Hub {
    let dir = TempDir::new(&format!("mem-{tag}"));
    let mut cmd = Command::new(BIN);
    cmd.env("COURIER_PASSWORD", PW)
        .env("MALLOC_MMAP_THRESHOLD_", "131072");
    let process = HubProcess::spawn(cmd, "127.0.0.1:0", dir.join("hub"), &[]);
    Hub {
        addr: process.addr().to_owned(),
        process,
        _dir: dir,
    }
}

/// The hub's resident memory, in MiB.
fn rss_mib(hub: &Hub) -> f64 {
    let statm = std::fs::read_to_string(format!("/proc/{}/statm", hub.process.id())).unwrap();
    let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// A 256 KiB picture (the largest allowed), different for each `seed`.
fn picture(seed: u32) -> ByteBuf {
    let bytes: Vec<u8> = (0..courier_core::limits::MAX_AVATAR as u32)
        .map(|i| (i ^ seed).wrapping_mul(2_654_435_761) as u8)
        .collect();
    ByteBuf::from(bytes)
}

/// A session logged in as `profile`; returns its handle and the stream to keep polling.
async fn login(
    hub: &Hub,
    identity: Identity,
    profile: Profile,
) -> (session::Handle, futures::stream::BoxStream<'static, Update>) {
    let config = session::Config::new(hub.addr.clone(), identity, Password::new(PW), profile);
    let mut updates = session::connect(config).boxed();
    loop {
        match updates.next().await.unwrap() {
            Update::Connected { handle, .. } => return (handle, updates),
            Update::Disconnected { reason, .. } => panic!("login failed: {reason}"),
            Update::Event(_) => {}
        }
    }
}

/// A client that logs in with the real session machine, then sends raw frames and
/// reads nothing.
async fn raw_login(hub: &Hub, identity: &Identity, name: &str) -> ClientStream {
    let connector = futures_rustls::TlsConnector::from(tls::client_config(identity).unwrap());
    let (stream, info) = net::connect_tls(&hub.addr, connector).await.unwrap();
    let mut ws = net::upgrade(stream).await.unwrap();
    let mut s = Session::new(
        Password::new(PW),
        Profile::with_name(name),
        Timing::default(),
        [0; 32],
        Instant::now(),
    );
    s.handle_connected(info.channel, Instant::now()).unwrap();
    while !s.is_ready() {
        while let Some(f) = s.poll_transmit() {
            ws.send(WsMessage::Binary(proto::encode(&f).into()))
                .await
                .unwrap();
        }
        if let WsMessage::Binary(b) = ws.next().await.unwrap().unwrap() {
            let frame = proto::decode_server(&b).unwrap();
            s.handle_frame(frame, Instant::now()).unwrap();
        }
    }
    ws
}

async fn sleep(d: Duration) {
    async_io::Timer::after(d).await;
}

/// Throwaway identities with the largest pictures, 200 of them (50 MiB of pictures):
/// the hub used to keep every one forever.
#[test]
fn throwaway_identities_with_pictures_stay_within_the_hubs_budget() {
    let hub = start_hub("avatars");
    smol::block_on(async {
        drop(
            login(
                &hub,
                Identity::generate().unwrap(),
                Profile::with_name("warmup"),
            )
            .await,
        );
        sleep(Duration::from_millis(300)).await;
        let before = rss_mib(&hub);
        for n in 0..200 {
            let profile = Profile {
                avatar: picture(n),
                ..Profile::with_name(format!("t{n}"))
            };
            let (_handle, mut updates) = login(&hub, Identity::generate().unwrap(), profile).await;
            // Give the session a moment to send the picture, then leave.
            let _ = futures_lite::future::or(
                async {
                    updates.next().await;
                },
                sleep(Duration::from_millis(20)),
            )
            .await;
        }
        sleep(Duration::from_millis(500)).await;
        let grown = rss_mib(&hub) - before;
        let cap = courier_core::limits::AVATARS_TOTAL as f64 / (1024.0 * 1024.0);
        assert!(
            grown < cap + 8.0,
            "the hub grew by {grown:.1} MiB (pictures budget {cap} MiB)"
        );
    });
}

/// Members filling the mailboxes of sixteen throwaway recipients with the largest texts:
/// the hub used to keep 256 of them per recipient, with no total.
#[test]
fn flooded_mailboxes_stay_within_the_hubs_budget() {
    let hub = start_hub("mailboxes");
    smol::block_on(async {
        let mut recipients: Vec<ClientId> = Vec::new();
        for n in 0..16 {
            let id = Identity::generate().unwrap();
            drop(raw_login(&hub, &id, &format!("r{n}")).await);
            recipients.push(id.id());
        }
        let mut handles = Vec::new();
        let mut streams = Vec::new();
        for n in 0..10 {
            let profile = Profile::with_name(format!("s{n}"));
            let (h, u) = login(&hub, Identity::generate().unwrap(), profile).await;
            handles.push(h);
            streams.push(u);
        }
        sleep(Duration::from_millis(300)).await;
        let before = rss_mib(&hub);
        let text = "x".repeat(courier_core::limits::MAX_TEXT);
        // 10 senders × 150 messages of 64 KiB: 96 MiB offered within the rate limits.
        let pump = futures::future::join_all(
            streams
                .iter_mut()
                .map(|u| async move { while u.next().await.is_some() {} }),
        );
        let flood = async {
            for round in 0..150 {
                for (k, h) in handles.iter().enumerate() {
                    let to = recipients[(round + k) % recipients.len()];
                    let _ = h.send_message(Target::Client(to), text.clone()).await;
                }
                if round >= 40 {
                    sleep(Duration::from_millis(50)).await;
                }
            }
            sleep(Duration::from_millis(1000)).await;
        };
        futures_lite::future::or(flood, async {
            pump.await;
        })
        .await;
        let grown = rss_mib(&hub) - before;
        eprintln!("mailboxes flood: the hub grew by {grown:.1} MiB");
        let cap = courier_core::limits::OFFLINE_TOTAL_BYTES as f64 / (1024.0 * 1024.0);
        assert!(
            grown < cap + 12.0,
            "the hub grew by {grown:.1} MiB (mailboxes budget {cap} MiB)"
        );
    });
}

/// Six clients that ask for the largest picture over and over, within the request rate,
/// and never read: the hub used to queue up to 256 frames (64 MiB) for each.
#[test]
fn clients_that_never_read_stay_within_their_outbox() {
    let hub = start_hub("outbox");
    smol::block_on(async {
        let pictured = Identity::generate().unwrap();
        let id = pictured.id();
        let profile = Profile {
            avatar: picture(1),
            ..Profile::with_name("pictured")
        };
        let (_h, mut updates) = login(&hub, pictured, profile).await;
        let _ = futures_lite::future::or(
            async { while updates.next().await.is_some() {} },
            sleep(Duration::from_millis(500)),
        )
        .await;
        let before = rss_mib(&hub);
        // Each asks for the picture within the request rate (a burst, then 18 a second
        // for 8 s) and reads nothing.
        let mut sloths = Vec::new();
        for n in 0..6 {
            sloths
                .push(raw_login(&hub, &Identity::generate().unwrap(), &format!("sloth{n}")).await);
        }
        let ask = proto::encode(&ClientFrame::GetAvatar { id });
        futures::future::join_all(sloths.iter_mut().map(|ws| async {
            for n in 0..194 {
                let frame = WsMessage::Binary(ask.clone().into());
                if ws.send(frame).await.is_err() {
                    return;
                }
                if n >= 50 {
                    sleep(Duration::from_millis(55)).await;
                }
            }
        }))
        .await;
        sleep(Duration::from_millis(1500)).await;
        let grown = rss_mib(&hub) - before;
        assert!(grown < 16.0, "the hub grew by {grown:.1} MiB");
        drop(sloths);
    });
}
