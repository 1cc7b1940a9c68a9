//! A client that logs in and then never reads must not pin hub resources: once the hub
//! drops it, its connection is gone within about a second, whatever the peer does.
//! Counts this process's open file descriptors (in `/proc`: Linux only), so it lives
//! alone in its own test binary.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use courier_core::proto::Target;
use courier_core::session::Event;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn a_dropped_slow_consumer_releases_its_connection() {
    run_smol(|| async {
        let (hub, run) = start_hub(|c| {
            // The outbox overflows only once the socket buffers are full and the hub's
            // writer is blocked: the case where a pump used to hang forever.
            c.outbox_frames = 64;
            c.message_burst = 1000;
        });
        with_hub(run, async {
            let sender = Client::login(&hub.addr(), "sender").await;
            let mut canary = Client::login(&hub.addr(), "canary").await;
            sleep(Duration::from_millis(300)).await;
            let before = open_fds();
            // The sloth publishes keys (so that messages are sealed to it), then never
            // reads.
            let identity = courier_core::identity::Identity::generate().unwrap();
            let mut sloth = raw_login_as(&hub.addr(), &identity, "sloth").await;
            let now = courier_core::proto::Timestamp::now();
            let mut keys = courier_core::seal::Keyring::in_memory(
                &identity,
                courier_core::seal::KeyPolicy::default(),
                now,
            )
            .unwrap();
            sloth
                .send_frame(&courier_core::proto::ClientFrame::PublishKeys(
                    keys.bundle(now).unwrap(),
                ))
                .await;
            sleep(Duration::from_millis(300)).await;
            assert_eq!(
                open_fds(),
                before + 2,
                "the sloth's socket and the hub's end of it"
            );
            // ~18 MB: more than the kernel's socket buffers.
            let big = "x".repeat(60 * 1024);
            for _ in 0..300 {
                sender
                    .handle()
                    .send_message(Target::Client(sloth.id), big.clone())
                    .await
                    .unwrap();
            }
            let id = sender
                .handle()
                .send_message(Target::Client(canary.id), "ok?")
                .await
                .unwrap();
            canary
                .event(|e| matches!(e, Event::Message(m) if m.id == id))
                .await;
            // The hub has dropped the sloth; within its goodbye deadline it lets go.
            sleep(Duration::from_millis(2000)).await;
            assert_eq!(
                open_fds(),
                before + 1,
                "only the sloth's own socket is left"
            );
            drop(sloth);
        })
        .await;
    });
}
