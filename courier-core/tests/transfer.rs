//! Direct transfer end to end on loopback: a real hub, two real sessions, real TLS links,
//! real files. Most run under smol and async-std (`both!`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use courier_core::proto::{FileEntry, IncomingOffer, Manifest};
use courier_core::session::Event;
use courier_core::transfer::{self, Options, Route, Summary, Transfer, Update, source::Source};
use futures::StreamExt;

fn tmp(label: &str) -> PathBuf {
    scratch_dir(label)
}

/// Deterministic pseudo-random bytes.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every file under `dir`, relative path → bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().display().to_string();
            let kind = e.file_type().unwrap();
            if kind.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(base, &e.path(), out);
            } else if kind.is_symlink() {
                out.insert(format!("{rel}@"), Vec::new());
            } else {
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

fn quick() -> Options {
    Options {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        direct_wait: Duration::from_millis(300),
        connect_deadline: Duration::from_secs(10),
        ..Options::default()
    }
}

/// Options whose direct ways all fail: the address announced has no listener.
fn unreachable() -> Options {
    Options {
        advertise: Some(vec!["127.0.0.1:1".parse::<SocketAddr>().unwrap()]),
        ..quick()
    }
}

async fn offer_for(bob: &mut Client) -> IncomingOffer {
    match bob.event(|e| matches!(e, Event::Offer(_))).await {
        Event::Offer(o) => o,
        _ => unreachable!(),
    }
}

/// Drives a transfer to its end; returns every update and the result.
async fn finish(mut t: Transfer) -> (Vec<Update>, Result<Summary, String>) {
    let mut seen = Vec::new();
    while let Some(u) = t.next().await {
        if let Update::Finished(r) = u {
            return (seen, r.map_err(|e| e.to_string()));
        }
        seen.push(u);
    }
    panic!("transfer stream ended without Finished");
}

/// `from` offers `paths` to `to` with [`quick`] options, in a task of its own.
fn send_to(
    from: &Client,
    to: courier_core::proto::ClientId,
    paths: Vec<PathBuf>,
) -> async_channel::Receiver<(Vec<Update>, Result<Summary, String>)> {
    spawn_finish(transfer::send(from.handle().clone(), to, paths, quick()))
}

/// `to` takes the next offer it gets into `dest`, with [`quick`] options.
async fn receive_into(to: &mut Client, dest: &Path) -> Transfer {
    let offer = offer_for(to).await;
    transfer::receive(to.handle().clone(), offer, None, dest.to_owned(), quick())
}

async fn pair(hub: &TestHub) -> (Client, Client) {
    let alice = Client::login(&hub.addr(), "alice").await;
    let bob = Client::login(&hub.addr(), "bob").await;
    (alice, bob)
}

both!(files_and_folders_arrive_verified_and_direct, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let src = tmp("src");
        std::fs::create_dir_all(src.join("album/sub/deeper")).unwrap();
        std::fs::create_dir_all(src.join("album/empty")).unwrap();
        std::fs::write(src.join("album/a.bin"), data(1_000_003, 1)).unwrap();
        std::fs::write(src.join("album/sub/deeper/b.txt"), b"hello").unwrap();
        std::fs::write(src.join("album/zero"), b"").unwrap();
        std::fs::write(src.join("single.bin"), data(300_000, 2)).unwrap();
        let dest = tmp("dest");
        let send = transfer::send(
            alice.handle().clone(),
            bob.id,
            vec![src.join("album"), src.join("single.bin")],
            quick(),
        );
        let sending = spawn_finish(send);
        let offer = offer_for(&mut bob).await;
        assert_eq!(offer.from, alice.id);
        assert_eq!(offer.manifest.files.len(), 4);
        assert_eq!(offer.manifest.folders, ["album/empty"]);
        let recv = transfer::receive(bob.handle().clone(), offer, None, dest.clone(), quick());
        let (updates, got) = finish(recv).await;
        let got = got.unwrap();
        let (sent_updates, sent) = sending.recv().await.unwrap();
        let sent = sent.unwrap();
        assert_eq!(got.route, Route::Direct);
        assert_eq!(sent.route, Route::Direct);
        assert_eq!((got.files, sent.files), (4, 4));
        assert_eq!(got.bytes, 1_300_008);
        assert_eq!(got.moved, 1_300_008);
        assert_eq!(got.resumed, 0);
        assert!(updates.iter().any(|u| matches!(
            u,
            Update::Connected {
                route: Route::Direct
            }
        )));
        assert!(
            sent_updates
                .iter()
                .any(|u| matches!(u, Update::Offered { .. }))
        );
        assert_eq!(
            snapshot(&dest),
            snapshot(&src),
            "the received tree equals the sent one"
        );
        // Nothing left behind.
        assert!(!snapshot(&dest).keys().any(|k| k.ends_with(".part")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dest.join("album/a.bin"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0, "never executable");
        }
    })
    .await;
});

/// Forwards a transfer's updates from the background (a transfer only moves while its
/// stream is polled).
fn spawn_updates(t: Transfer) -> async_channel::Receiver<Update> {
    let (_keep, never) = async_channel::bounded::<()>(1);
    std::mem::forget(_keep);
    spawn_updates_until(t, never)
}

/// Like [`spawn_updates`]; the transfer is dropped when `stop` closes.
fn spawn_updates_until(
    mut t: Transfer,
    stop: async_channel::Receiver<()>,
) -> async_channel::Receiver<Update> {
    let (tx, rx) = async_channel::unbounded();
    spawn(async move {
        let forward = async {
            while let Some(u) = t.next().await {
                if tx.send(u).await.is_err() {
                    return;
                }
            }
        };
        futures_lite::future::or(forward, async {
            let _ = stop.recv().await;
        })
        .await;
    });
    rx
}

/// Runs a transfer in the background; its outcome arrives on the returned channel.
fn spawn_finish(t: Transfer) -> async_channel::Receiver<(Vec<Update>, Result<Summary, String>)> {
    let (tx, rx) = async_channel::bounded(1);
    spawn(async move {
        let _ = tx.send(finish(t).await).await;
    });
    rx
}

both!(declined_offer_reaches_the_sender, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let src = tmp("decl");
        std::fs::write(src.join("x"), b"x").unwrap();
        let sending = send_to(&alice, bob.id, vec![src.join("x")]);
        let offer = offer_for(&mut bob).await;
        bob.handle()
            .decline(offer.id, courier_core::proto::Declined::ByUser)
            .await
            .unwrap();
        let (_, result) = sending.recv().await.unwrap();
        assert_eq!(result.unwrap_err(), "declined by the receiver");
    })
    .await;
});

both!(offer_to_offline_or_unknown_is_refused, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let alice = Client::login(&hub.addr(), "alice").await;
        let src = tmp("nobody");
        std::fs::write(src.join("x"), b"x").unwrap();
        let stranger = courier_core::proto::ClientId([9; 32]);
        let (_, result) = finish(transfer::send(
            alice.handle().clone(),
            stranger,
            vec![src.join("x")],
            quick(),
        ))
        .await;
        // A stranger has published no keys: the names cannot be sealed to it, so the
        // offer never leaves this computer.
        assert_eq!(
            result.unwrap_err(),
            "the offer was not sent: their device has not published its encryption keys yet"
        );
    })
    .await;
});

/// A big sparse file, so cancels and kills land mid-stream.
fn big_file(dir: &Path, len: u64) -> PathBuf {
    let p = dir.join("big.bin");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(len).unwrap();
    p
}

both!(cancel_by_sender_mid_stream, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let src = tmp("cs");
        let big = big_file(&src, 4 << 30);
        let send = transfer::send(alice.handle().clone(), bob.id, vec![big], quick());
        let cancel = send.canceller();
        let send = spawn_updates(send);
        let offer = offer_for(&mut bob).await;
        let dest = tmp("cs-dest");
        let receiving = spawn_finish(transfer::receive(
            bob.handle().clone(),
            offer,
            None,
            dest.clone(),
            quick(),
        ));
        // Cancel once bytes flow.
        let result = loop {
            match send.recv().await.unwrap() {
                Update::Progress(p) if p.bytes > 0 => cancel.cancel(),
                Update::Finished(r) => break r,
                _ => {}
            }
        };
        let me = alice.id.short();
        assert_eq!(
            result.unwrap_err().to_string(),
            format!("cancelled by {me}")
        );
        let (_, got) = receiving.recv().await.unwrap();
        assert_eq!(got.unwrap_err(), format!("cancelled by {me}"));
        assert!(
            snapshot(&dest).is_empty(),
            "a cancelled part is removed: {:?}",
            snapshot(&dest).keys()
        );
    })
    .await;
});

both!(cancel_by_receiver_mid_stream, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let src = tmp("cr");
        let big = big_file(&src, 4 << 30);
        let sending = send_to(&alice, bob.id, vec![big]);
        let offer = offer_for(&mut bob).await;
        let dest = tmp("cr-dest");
        let mut recv = transfer::receive(bob.handle().clone(), offer, None, dest.clone(), quick());
        let cancel = recv.canceller();
        let result = loop {
            match recv.next().await.unwrap() {
                Update::Progress(p) if p.bytes > 0 => cancel.cancel(),
                Update::Finished(r) => break r,
                _ => {}
            }
        };
        let bob_short = bob.id.short();
        assert_eq!(
            result.unwrap_err().to_string(),
            format!("cancelled by {bob_short}")
        );
        let (_, sent) = sending.recv().await.unwrap();
        assert_eq!(sent.unwrap_err(), format!("cancelled by {bob_short}"));
        assert!(snapshot(&dest).is_empty());
    })
    .await;
});

both!(relay_carries_only_tls_when_direct_fails, || async {
    let (tap_tx, tap) = async_channel::unbounded::<(courier_core::hub::ConnId, Vec<u8>)>();
    let (hub, run) = start_hub(move |c| c.relay_tap = Some(tap_tx));
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let src = tmp("relay");
        let marker = b"PLAINTEXT-MARKER-".repeat(20_000);
        std::fs::write(src.join("secret.txt"), &marker).unwrap();
        let sending = spawn_finish(transfer::send(
            alice.handle().clone(),
            bob.id,
            vec![src.join("secret.txt")],
            unreachable(),
        ));
        let offer = offer_for(&mut bob).await;
        let dest = tmp("relay-dest");
        let (_, got) = finish(transfer::receive(
            bob.handle().clone(),
            offer,
            None,
            dest.clone(),
            unreachable(),
        ))
        .await;
        let got = got.unwrap();
        let (_, sent) = sending.recv().await.unwrap();
        assert_eq!(got.route, Route::Relayed);
        assert_eq!(sent.unwrap().route, Route::Relayed);
        assert_eq!(std::fs::read(dest.join("secret.txt")).unwrap(), marker);
        // What the hub piped, per connection, must parse as a sequence of TLS records
        // (content type, legacy version, length at most 2^14 + 256) with nothing left
        // over, and hold no plaintext.
        let mut streams: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        while let Ok((conn, bytes)) = tap.try_recv() {
            streams.entry(conn.0).or_default().extend(bytes);
        }
        assert_eq!(streams.len(), 2, "both directions were relayed");
        let total: usize = streams.values().map(Vec::len).sum();
        assert!(total > marker.len());
        for (conn, bytes) in &streams {
            assert!(
                !bytes.windows(17).any(|w| w == b"PLAINTEXT-MARKER-"),
                "the hub saw plaintext"
            );
            let mut at = 0;
            let mut records = 0;
            while at < bytes.len() {
                let header = &bytes[at..at + 5];
                assert!(
                    matches!(header[0], 20..=23),
                    "conn {conn}: record type {}",
                    header[0]
                );
                assert!(
                    matches!(header[1..3], [3, 1] | [3, 3]),
                    "conn {conn}: version"
                );
                let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
                assert!(len <= (1 << 14) + 256, "conn {conn}: record length {len}");
                at += 5 + len;
                records += 1;
            }
            assert_eq!(at, bytes.len(), "conn {conn}: a partial record at the end");
            assert!(records > 2);
        }
    })
    .await;
});

both!(no_relay_and_no_direct_path_fails_clearly, || async {
    let (hub, run) = start_hub(|c| c.relay = false);
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let src = tmp("norelay");
        std::fs::write(src.join("x"), b"x").unwrap();
        let sending = spawn_finish(transfer::send(
            alice.handle().clone(),
            bob.id,
            vec![src.join("x")],
            unreachable(),
        ));
        let offer = offer_for(&mut bob).await;
        let dest = tmp("norelay-dest");
        let (_, got) = finish(transfer::receive(
            bob.handle().clone(),
            offer,
            None,
            dest.clone(),
            unreachable(),
        ))
        .await;
        let err = got.unwrap_err();
        assert!(
            err.starts_with("could not connect to the other side"),
            "{err}"
        );
        assert!(err.contains("does not relay"), "{err}");
        let (_, sent) = sending.recv().await.unwrap();
        assert!(sent.unwrap_err().starts_with("could not connect"));
        assert!(
            snapshot(&dest).values().all(Vec::is_empty),
            "nothing written"
        );
    })
    .await;
});

both!(
    resume_after_a_lost_connection_sends_only_the_rest,
    || async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let (alice, mut bob) = pair(&hub).await;
            let src = tmp("resume");
            // Large enough that killing the sender at the first progress report leaves
            // most of it unsent (loopback buffers hold a few MiB).
            let content = data(256 << 20, 7);
            std::fs::write(src.join("movie.bin"), &content).unwrap();
            let dest = tmp("resume-dest");
            // First attempt: the sender vanishes (its stream is dropped) mid-stream.
            let (stop, stopped) = async_channel::bounded::<()>(1);
            let send = spawn_updates_until(
                transfer::send(
                    alice.handle().clone(),
                    bob.id,
                    vec![src.join("movie.bin")],
                    quick(),
                ),
                stopped,
            );
            let offer = offer_for(&mut bob).await;
            let receiving = spawn_updates(transfer::receive(
                bob.handle().clone(),
                offer,
                None,
                dest.clone(),
                quick(),
            ));
            // Once the receiver has data, the sender goes away.
            loop {
                match receiving.recv().await.unwrap() {
                    Update::Progress(p) if p.bytes > 0 => break,
                    Update::Finished(r) => panic!("finished too early: {r:?}"),
                    _ => {}
                }
            }
            drop(stop); // the sender's transfer stream is dropped: its process "dies"
            drop(send);
            let first = loop {
                if let Update::Finished(r) = receiving.recv().await.unwrap() {
                    break r.map_err(|e| e.to_string());
                }
            };
            assert_eq!(first.unwrap_err(), "connection lost");
            let parts: Vec<_> = snapshot(&dest)
                .into_iter()
                .filter(|(k, _)| k.ends_with(".part"))
                .collect();
            assert_eq!(
                parts.len(),
                1,
                "the part is kept: {:?}",
                snapshot(&dest).keys().collect::<Vec<_>>()
            );
            let kept = parts[0].1.len() as u64;
            assert!(kept > 0 && kept < content.len() as u64);
            assert_eq!(
                parts[0].1[..],
                content[..kept as usize],
                "the part holds a prefix"
            );
            // Second attempt: the same file again resumes.
            let sending = send_to(&alice, bob.id, vec![src.join("movie.bin")]);
            let (_, got) = finish(receive_into(&mut bob, &dest).await).await;
            let got = got.unwrap();
            let sent = sending.recv().await.unwrap().1.unwrap();
            assert_eq!(got.resumed, kept);
            assert_eq!(
                got.moved,
                content.len() as u64 - kept,
                "received bytes are not sent again"
            );
            assert_eq!(sent.moved, content.len() as u64 - kept);
            assert!(std::fs::read(dest.join("movie.bin")).unwrap() == content);
            assert_eq!(snapshot(&dest).len(), 1);
        })
        .await;
    }
);

both!(hostile_names_land_inside_with_safe_names, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let root = tmp("hostile");
        let dest = root.join("downloads");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(root.join("bashrc"), b"victim").unwrap();
        std::fs::write(dest.join("existing.txt"), b"keep me").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("bashrc"), dest.join("planted")).unwrap();
        let payload = root.join("payload");
        std::fs::write(&payload, b"evil").unwrap();
        let names = [
            "../../.bashrc",
            "a/../../b",
            "..",
            "..\\..\\Windows\\x",
            "C:\\Windows\\x",
            "C:evil",
            "\\\\server\\share\\x",
            "\\??\\C:\\x",
            "/etc/passwd",
            "/home/victim/.ssh/authorized_keys",
            "CON",
            "con.txt",
            "NUL",
            "COM1.log",
            "LPT9",
            "COM\u{b9}",
            "CONIN$",
            "AUX.tar.gz",
            "file.",
            "file ",
            "file:stream",
            "a*?b<>|\"",
            "nul\0byte",
            "line\nname",
            "esc\x1b[1Aname",
            "invoice\u{202E}fdp.exe",
            "a\u{200b}b",
            "full\u{FF0F}width\u{FF3C}",
            "e\u{301}.txt",
            "\u{e9}.txt",
            "README",
            "readme",
            "",
            ".",
            "   ",
            &"x".repeat(10_000),
            &"é".repeat(200),
            ".ssh",
            "existing.txt",
            "planted",
            "planted/inside",
            "evil.sh",
            "archive.zip",
        ];
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let manifest = Manifest {
            files: names
                .iter()
                .map(|n| FileEntry {
                    path: n.clone(),
                    size: 4,
                })
                .collect(),
            folders: vec!["../../escape-folder".into()],
            test: None,
        };
        // Empty and over-long paths break the manifest limits; keep only what the hub
        // forwards (the others are refused before anyone sees them).
        let (ok, refused): (Vec<_>, Vec<_>) = manifest
            .files
            .into_iter()
            .partition(|f| !f.path.is_empty() && f.path.len() <= 1024);
        assert_eq!(refused.len(), 2);
        let manifest = Manifest {
            files: ok,
            folders: manifest.folders,
            test: None,
        };
        let source = Source {
            paths: vec![payload.clone(); manifest.files.len()],
            manifest,
        };
        let before_root: Vec<_> = snapshot(&root)
            .into_iter()
            .filter(|(k, _)| !k.starts_with("downloads"))
            .collect();
        let count = source.manifest.files.len();
        let sending = spawn_finish(transfer::send_source(
            alice.handle().clone(),
            bob.id,
            source,
            quick(),
        ));
        let (_, got) = finish(receive_into(&mut bob, &dest).await).await;
        let got = got.unwrap();
        sending.recv().await.unwrap().1.unwrap();
        assert_eq!(got.files, count);
        let after_root: Vec<_> = snapshot(&root)
            .into_iter()
            .filter(|(k, _)| !k.starts_with("downloads"))
            .collect();
        assert_eq!(
            before_root, after_root,
            "nothing outside the download folder changed"
        );
        assert_eq!(std::fs::read(root.join("bashrc")).unwrap(), b"victim");
        assert_eq!(
            std::fs::read(dest.join("existing.txt")).unwrap(),
            b"keep me"
        );
        for path in &got.saved {
            let canon = std::fs::canonicalize(path).unwrap();
            assert!(
                canon.starts_with(std::fs::canonicalize(&dest).unwrap()),
                "{path:?}"
            );
            assert_eq!(std::fs::read(path).unwrap(), b"evil");
            for part in path.strip_prefix(&dest).unwrap().components() {
                let s = part.as_os_str().to_str().unwrap();
                assert!(!s.starts_with('.'), "{s:?}");
                assert!(s.len() <= 255);
                assert!(
                    !s.chars().any(|c| c.is_control()
                        || courier_core::proto::is_invisible(c)
                        || "\\:*?\"<>|".contains(c)),
                    "{s:?}"
                );
            }
        }
        // Distinct files for every name (collisions numbered, never overwritten).
        let unique: std::collections::BTreeSet<_> = got.saved.iter().collect();
        assert_eq!(unique.len(), count);
    })
    .await;
});

both!(source_changing_size_aborts_the_transfer, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let src = tmp("shrink");
        std::fs::write(src.join("x"), data(1000, 3)).unwrap();
        let source = Source::from_paths(&[src.join("x")]).unwrap();
        // The file shrinks after the offer was made.
        std::fs::write(src.join("x"), data(10, 3)).unwrap();
        let sending = spawn_finish(transfer::send_source(
            alice.handle().clone(),
            bob.id,
            source,
            quick(),
        ));
        let offer = offer_for(&mut bob).await;
        let dest = tmp("shrink-dest");
        let (_, got) = finish(transfer::receive(
            bob.handle().clone(),
            offer,
            None,
            dest.clone(),
            quick(),
        ))
        .await;
        assert_eq!(got.unwrap_err(), "a file changed while it was being sent");
        let (_, sent) = sending.recv().await.unwrap();
        assert_eq!(sent.unwrap_err(), "a file changed while it was being sent");
        assert!(snapshot(&dest).is_empty(), "{:?}", snapshot(&dest).keys());
    })
    .await;
});

both!(
    too_little_space_is_refused_before_anything_is_written,
    || async {
        let (hub, run) = start_hub(|_| {});
        with_hub(run, async {
            let (alice, mut bob) = pair(&hub).await;
            let src = tmp("huge");
            // 10 TB declared (sparse): no disk here has that much free.
            let big = big_file(&src, 10u64 << 40);
            let sending = send_to(&alice, bob.id, vec![big]);
            let offer = offer_for(&mut bob).await;
            let dest = tmp("huge-dest");
            let (_, got) = finish(transfer::receive(
                bob.handle().clone(),
                offer,
                None,
                dest.clone(),
                quick(),
            ))
            .await;
            assert!(got.unwrap_err().starts_with("not enough disk space"));
            let (_, sent) = sending.recv().await.unwrap();
            assert_eq!(
                sent.unwrap_err(),
                "declined: the receiver does not have enough disk space"
            );
            assert!(snapshot(&dest).is_empty());
        })
        .await;
    }
);

both!(a_direct_transfer_outlives_its_hub, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let src = tmp("hubgone");
        let content = data(1 << 20, 11);
        let file = big_file(&src, 1 << 30);
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
            f.write_all(&content).unwrap();
        }
        let sending = send_to(&alice, bob.id, vec![file]);
        let offer = offer_for(&mut bob).await;
        let dest = tmp("hubgone-dest");
        let receiving = spawn_updates(transfer::receive(
            bob.handle().clone(),
            offer,
            None,
            dest.clone(),
            quick(),
        ));
        loop {
            match receiving.recv().await.unwrap() {
                Update::Progress(p) if p.bytes > 0 => break,
                Update::Finished(r) => panic!("finished too early: {r:?}"),
                _ => {}
            }
        }
        // The hub goes away (SECURITY X10); the peers do not need it any more.
        hub.stop();
        let got = loop {
            if let Update::Finished(r) = receiving.recv().await.unwrap() {
                break r;
            }
        };
        assert_eq!(got.unwrap().route, Route::Direct);
        sending.recv().await.unwrap().1.unwrap();
        let got = std::fs::read(dest.join("big.bin")).unwrap();
        assert_eq!(got.len(), 1 << 30);
        assert!(got[..content.len()] == content[..]);
    })
    .await;
});

both!(a_peer_that_goes_silent_is_given_up_on, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        // Alice listens on a port we choose, behind a proxy that can go silent (a pulled
        // cable: both sockets stay open, nothing moves). No other way is allowed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (proxy, cut, run_proxy) = blackhole_proxy(([127, 0, 0, 1], port).into()).await;
        spawn(run_proxy);
        let silent = |listen: Option<SocketAddr>, advertise: Vec<SocketAddr>| Options {
            listen,
            advertise: Some(advertise),
            relay: false,
            progress_deadline: Duration::from_millis(800),
            ..quick()
        };
        let src = tmp("silent");
        let big = big_file(&src, 4 << 30);
        let sending = spawn_finish(transfer::send(
            alice.handle().clone(),
            bob.id,
            vec![big],
            silent(Some(([127, 0, 0, 1], port).into()), vec![proxy]),
        ));
        let offer = offer_for(&mut bob).await;
        let dest = tmp("silent-dest");
        let receiving = spawn_updates(transfer::receive(
            bob.handle().clone(),
            offer,
            None,
            dest.clone(),
            silent(None, vec![]),
        ));
        loop {
            match receiving.recv().await.unwrap() {
                Update::Progress(p) if p.bytes > 0 => break,
                Update::Finished(r) => panic!("finished too early: {r:?}"),
                _ => {}
            }
        }
        cut.send(()).await.unwrap();
        let got = loop {
            if let Update::Finished(r) = receiving.recv().await.unwrap() {
                break r;
            }
        };
        assert_eq!(got.unwrap_err().to_string(), "the transfer stalled");
        let (_, sent) = sending.recv().await.unwrap();
        assert_eq!(sent.unwrap_err(), "the transfer stalled");
        // What arrived is kept for resuming.
        assert!(snapshot(&dest).keys().any(|k| k.ends_with(".part")));
    })
    .await;
});

both!(an_empty_folder_alone_arrives_as_an_empty_folder, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let src = tmp("emptyonly");
        std::fs::create_dir_all(src.join("nothing/inside")).unwrap();
        let sending = send_to(&alice, bob.id, vec![src.join("nothing")]);
        let offer = offer_for(&mut bob).await;
        assert!(offer.manifest.files.is_empty());
        let dest = tmp("emptyonly-dest");
        let (_, got) = finish(transfer::receive(
            bob.handle().clone(),
            offer,
            None,
            dest.clone(),
            quick(),
        ))
        .await;
        assert_eq!(got.unwrap().files, 0);
        assert_eq!(sending.recv().await.unwrap().1.unwrap().bytes, 0);
        assert!(dest.join("nothing/inside").is_dir());
    })
    .await;
});

// SECURITY (issue 10 #11): a third member sends the receiver a file named like another
// sender's `.part` (the name came from public values); that sender's later transfer
// must neither resume from the planted bytes nor delete the planted file.
both!(a_planted_part_is_never_resumed_from, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let mallory = Client::login(&hub.addr(), "mallory").await;
        let content = data(600_000, 3);
        let src = tmp("poison-src");
        std::fs::write(src.join("movie.bin"), &content).unwrap();
        // What an older receiver named Alice's part: BLAKE3(sender ‖ path ‖ size), public.
        let mut h = blake3::Hasher::new();
        h.update(&alice.id.0);
        h.update(b"movie.bin");
        h.update(&(content.len() as u64).to_le_bytes());
        let tag = h.finalize().to_hex()[..16].to_owned();
        let planted = src.join(format!("movie.bin.{tag}.part"));
        let poison = vec![0xAAu8; 100_000];
        std::fs::write(&planted, &poison).unwrap();
        let dest = tmp("poison-dest");
        // Mallory's file is offered and saved first.
        let sending = send_to(&mallory, bob.id, vec![planted]);
        let (_, got) = finish(receive_into(&mut bob, &dest).await).await;
        let saved_poison = got.unwrap().saved[0].clone();
        sending.recv().await.unwrap().1.unwrap();
        // Then Alice's movie: it arrives whole, and Mallory's file is left alone.
        let sending = send_to(&alice, bob.id, vec![src.join("movie.bin")]);
        let (_, got) = finish(receive_into(&mut bob, &dest).await).await;
        let got = got.unwrap();
        assert_eq!(got.resumed, 0, "nothing was taken from the planted file");
        assert_eq!(std::fs::read(&got.saved[0]).unwrap(), content);
        assert_eq!(std::fs::read(&saved_poison).unwrap(), poison);
        sending.recv().await.unwrap().1.unwrap();
    })
    .await;
});

// SECURITY (issue 10 #13): three sends of the same file to the same receiver at once
// each get a part of their own: all three arrive whole.
both!(concurrent_sends_of_one_file_do_not_clash, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let content = data(3_000_000, 5);
        let src = tmp("same-src");
        std::fs::write(src.join("same.bin"), &content).unwrap();
        let dest = tmp("same-dest");
        let mut sending = Vec::new();
        let mut receiving = Vec::new();
        for _ in 0..3 {
            sending.push(send_to(&alice, bob.id, vec![src.join("same.bin")]));
            receiving.push(spawn_finish(receive_into(&mut bob, &dest).await));
        }
        let mut saved = Vec::new();
        for r in receiving {
            let got = r.recv().await.unwrap().1;
            saved.push(got.expect("every copy arrives").saved[0].clone());
        }
        for s in sending {
            s.recv().await.unwrap().1.unwrap();
        }
        saved.sort();
        saved.dedup();
        assert_eq!(saved.len(), 3, "three files: {saved:?}");
        for p in &saved {
            assert_eq!(std::fs::read(p).unwrap(), content, "{p:?}");
        }
    })
    .await;
});

// A listener that refuses the dialer's knock (here the receiver's: its pass expired at
// once) is a failed way, not a won race: the sender, which dialed it, goes on to the
// relay and the file arrives.
both!(a_refused_knock_falls_back_to_the_relay, || async {
    let (hub, run) = start_hub(|_| {});
    with_hub(run, async {
        let (alice, mut bob) = pair(&hub).await;
        let src = tmp("refused-knock");
        let bytes = data(300_000, 7);
        std::fs::write(src.join("f.bin"), &bytes).unwrap();
        let not_listening = Options {
            listen: None,
            ..quick()
        };
        let sending = spawn_finish(transfer::send(
            alice.handle().clone(),
            bob.id,
            vec![src.join("f.bin")],
            not_listening,
        ));
        let offer = offer_for(&mut bob).await;
        let dest = tmp("refused-knock-dest");
        let refusing = Options {
            ticket_ttl: Duration::ZERO,
            ..quick()
        };
        let (_, got) = finish(transfer::receive(
            bob.handle().clone(),
            offer,
            None,
            dest.clone(),
            refusing,
        ))
        .await;
        let (_, sent) = sending.recv().await.unwrap();
        assert_eq!(sent.unwrap().route, Route::Relayed);
        assert_eq!(got.unwrap().route, Route::Relayed);
        assert_eq!(std::fs::read(dest.join("f.bin")).unwrap(), bytes);
    })
    .await;
});
