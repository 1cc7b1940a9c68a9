//! A hub in a process of its own for the benchmarks (the bench binary runs itself with
//! `COURIER_BENCH_ROLE=hub`), and a client driven frame by frame.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use async_net::TcpListener;
use async_tungstenite::tungstenite::Message as WsMessage;
use courier_core::auth::{HubSecret, Password};
use courier_core::identity::Identity;
use courier_core::proto::{self, Profile, ServerFrame};
use courier_core::session::{Session, Timing};
use courier_core::{hub, net, tls};
use futures::StreamExt;

/// The hub's password.
pub(crate) const PW: &str = "bench password";

pub(crate) struct ChildHub {
    pub(crate) child: Child,
    pub(crate) addr: String,
}

impl Drop for ChildHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn spawn_hub(dir: &std::path::Path) -> ChildHub {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("COURIER_BENCH_ROLE", "hub")
        .env("COURIER_BENCH_HUB_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    ChildHub {
        child,
        addr: line.trim().to_owned(),
    }
}

pub(crate) fn child_hub() {
    smol::block_on(async {
        let dir = std::path::PathBuf::from(std::env::var_os("COURIER_BENCH_HUB_DIR").unwrap());
        let home = hub::Home::open(&dir).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        let secret = HubSecret::register(&mut rand::thread_rng(), &Password::new(PW)).unwrap();
        let mut config = hub::Config::new(Identity::generate().unwrap(), secret);
        config.db = Some(home.database().unwrap());
        // Capacity, not policy: no chat rate limit, room for the whole backlog.
        config.message_rate = u32::MAX / 2;
        config.message_burst = u32::MAX / 2;
        config.mailbox = usize::MAX / 2;
        config.mailbox_bytes = usize::MAX / 2;
        config.offline_total_bytes = usize::MAX / 2;
        config.max_preauth_per_ip = 512;
        config.max_preauth_total = 512;
        config.connects_per_sec = u32::MAX / 2;
        config.connect_burst = u32::MAX / 2;
        hub::serve(listener, config, std::future::pending())
            .await
            .unwrap();
    });
}

/// A logged-in connection, driven frame by frame, how many kept messages arrived (and
/// were acknowledged) during the login itself, and when the hub's welcome came (the
/// login is done when the whole contact list has followed).
/// With `again`, as a remembered device (no password: many may log in at once without
/// looking like guessing).
pub(crate) async fn login(
    addr: &str,
    identity: &Identity,
    again: bool,
) -> (net::ClientStream, usize, Instant) {
    let connector = futures_rustls::TlsConnector::from(tls::client_config(identity).unwrap());
    let (stream, info) = net::connect_tls(addr, connector).await.unwrap();
    let mut ws = net::upgrade(stream).await.unwrap();
    let mut session = Session::new(
        Password::new(PW),
        Profile::with_name("bench"),
        Timing::default(),
        [0; 32],
        Instant::now(),
    )
    .remembering(again, true);
    session
        .handle_connected(info.channel, Instant::now())
        .unwrap();
    let mut welcomed = Instant::now();
    while !session.is_ready() {
        while let Some(f) = session.poll_transmit() {
            ws.send(WsMessage::Binary(proto::encode(&f).into()))
                .await
                .unwrap();
        }
        let frame = next_frame(&mut ws).await;
        if matches!(frame, ServerFrame::Welcome { .. }) {
            welcomed = Instant::now();
        }
        session.handle_frame(frame, Instant::now()).unwrap();
    }
    while let Some(f) = session.poll_transmit() {
        ws.send(WsMessage::Binary(proto::encode(&f).into()))
            .await
            .unwrap();
    }
    let mut early = 0;
    while let Some(e) = session.poll_event() {
        if matches!(e, courier_core::session::Event::Message(_)) {
            early += 1;
        }
    }
    (ws, early, welcomed)
}

pub(crate) async fn next_frame(ws: &mut net::ClientStream) -> ServerFrame {
    loop {
        match ws.next().await.unwrap().unwrap() {
            WsMessage::Binary(b) => return proto::decode_server(&b).unwrap(),
            _ => continue,
        }
    }
}
