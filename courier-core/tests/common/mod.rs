//! Shared helpers for the loopback integration tests: a hub on port 0, session clients,
//! raw clients for hostile input, and proxies. Every test body is a future that the
//! `both!` macro runs once under smol and once under async-std.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use async_net::{TcpListener, TcpStream};
use async_tungstenite::tungstenite::Message as WsMessage;
use courier_core::auth::{HubSecret, Password};
use courier_core::identity::Identity;
use courier_core::net::{self, ClientStream};
use courier_core::proto::{self, ClientId, Profile};
use courier_core::session::{self, Event, Session, Timing, Update};
use courier_core::{hub, tls, transfer};
use futures::{FutureExt, StreamExt};

pub const PW: &str = "correct horse battery";

/// Runs a test body under smol and async-std, each in its own `#[test]`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn smol() {
                common::run_smol($body);
            }
            #[test]
            fn async_std() {
                common::run_async_std($body);
            }
        }
    };
    // A test that routes and opens many sealed messages (each client verifies and opens
    // every one, in a debug build) gets more time than the usual 30 s.
    ($name:ident, within = $secs:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn smol() {
                common::run_smol_within(std::time::Duration::from_secs($secs), $body);
            }
            #[test]
            fn async_std() {
                common::run_async_std_within(std::time::Duration::from_secs($secs), $body);
            }
        }
    };
}

const TEST_TIMEOUT: Duration = Duration::from_secs(30);

type Task = Pin<Box<dyn Future<Output = ()>>>;

thread_local! {
    static SPAWNER: std::cell::RefCell<Option<async_channel::Sender<Task>>> =
        const { std::cell::RefCell::new(None) };
    static SCRATCH: std::cell::RefCell<Vec<courier_testkit::TempDir>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A fresh folder under the system temp dir, removed when the test ends (transfer tests
/// write gigabytes).
#[allow(dead_code)]
pub fn scratch_dir(label: &str) -> std::path::PathBuf {
    let dir = courier_testkit::TempDir::new(&format!("t-{label}"));
    let p = dir.to_path_buf();
    SCRATCH.with(|s| s.borrow_mut().push(dir));
    p
}

/// Runs `fut` beside the test body for the rest of the test. This is a tiny executor-free
/// "spawn": the test's one top-level future polls every spawned future, whatever executor
/// drives it.
pub fn spawn(fut: impl Future<Output = ()> + 'static) {
    SPAWNER.with(|s| {
        let tx = s.borrow().clone().expect("spawn outside a test");
        tx.try_send(Box::pin(fut)).expect("background runner gone");
    });
}

async fn run_test<F: Future<Output = ()>>(body: F, limit: Duration) {
    let (tx, rx) = async_channel::unbounded::<Task>();
    SPAWNER.with(|s| *s.borrow_mut() = Some(tx));
    let background = async move {
        let mut tasks = futures::stream::FuturesUnordered::<Task>::new();
        loop {
            futures::select! {
                t = rx.recv().fuse() => match t {
                    Ok(t) => tasks.push(t),
                    Err(_) => std::future::pending::<()>().await,
                },
                () = tasks.select_next_some() => {}
            }
        }
    };
    let timed_out = futures_lite::future::or(body.map(|()| false), async {
        futures_lite::future::or(background, async {
            async_io::Timer::after(limit).await;
        })
        .await;
        true
    })
    .await;
    SPAWNER.with(|s| *s.borrow_mut() = None);
    // Each folder is removed as it drops.
    drop(SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut())));
    assert!(!timed_out, "test timed out after {limit:?}");
}

pub fn run_smol<F: Future<Output = ()>>(make: impl FnOnce() -> F) {
    run_smol_within(TEST_TIMEOUT, make);
}

pub fn run_async_std<F: Future<Output = ()>>(make: impl FnOnce() -> F) {
    run_async_std_within(TEST_TIMEOUT, make);
}

pub fn run_smol_within<F: Future<Output = ()>>(limit: Duration, make: impl FnOnce() -> F) {
    smol::block_on(Box::pin(run_test(make(), limit)));
}

pub fn run_async_std_within<F: Future<Output = ()>>(limit: Duration, make: impl FnOnce() -> F) {
    async_std::task::block_on(Box::pin(run_test(make(), limit)));
}

/// Runs the hub in the background, then `body`.
pub async fn with_hub<T>(
    hub: impl Future<Output = ()> + 'static,
    body: impl Future<Output = T>,
) -> T {
    spawn(hub);
    body.await
}

pub struct TestHub {
    pub addr: SocketAddr,
    pub fingerprint: ClientId,
    stop: async_channel::Sender<()>,
}

impl TestHub {
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    pub fn stop(&self) {
        self.stop.close();
    }
}

pub fn secret() -> HubSecret {
    // Registration runs Argon2; do it once per process.
    static SECRET: std::sync::OnceLock<HubSecret> = std::sync::OnceLock::new();
    SECRET
        .get_or_init(|| HubSecret::register(&mut rand::thread_rng(), &Password::new(PW)).unwrap())
        .clone()
}

/// A hub on 127.0.0.1:0. Returns its handle and the future that runs it.
pub fn start_hub(
    tweak: impl FnOnce(&mut hub::Config),
) -> (TestHub, Pin<Box<dyn Future<Output = ()>>>) {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    start_hub_on(std_listener, Identity::generate().unwrap(), tweak)
}

/// A hub with `identity` on `std_listener`: with the identity and the address of a hub
/// that stopped, the same hub restarted.
pub fn start_hub_on(
    std_listener: std::net::TcpListener,
    identity: Identity,
    tweak: impl FnOnce(&mut hub::Config),
) -> (TestHub, Pin<Box<dyn Future<Output = ()>>>) {
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = TcpListener::try_from(std_listener).unwrap();
    let fingerprint = identity.id();
    let mut config = hub::Config::new(identity, secret());
    tweak(&mut config);
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let fut = async move {
        let shutdown = async move {
            let _ = stopped.recv().await;
        };
        hub::serve(listener, config, shutdown).await.unwrap();
    };
    (
        TestHub {
            addr,
            fingerprint,
            stop,
        },
        Box::pin(fut),
    )
}

/// A session client with a fresh identity, its stream pumped in the background.
pub struct Client {
    pub updates: async_channel::Receiver<Update>,
    pub id: ClientId,
    pub handle: Option<session::Handle>,
    pub welcome: Option<session::Welcome>,
    _stop: async_channel::Sender<()>,
}

/// A client with a fresh identity whose keys live in a profile folder of its own (as
/// the CLI's and the app's do): a clone logging in again opens what was sealed to it.
pub fn client_config(hub: &str, name: &str, password: &str) -> session::Config {
    let mut config = session::Config::new(
        hub,
        Identity::generate().unwrap(),
        Password::new(password),
        Profile::with_name(name),
    );
    config.keys = session::KeyStore::Folder(scratch_dir("keys"));
    config
}

impl Client {
    /// Starts a session that answers link tests with the default options, as the CLI and
    /// the app do by default.
    pub fn start(config: session::Config) -> Self {
        Self::start_answering(config, Some(transfer::Options::default()))
    }

    /// Starts a session that answers link tests with `link_tests` (`None`: declines them).
    pub fn start_answering(config: session::Config, link_tests: Option<transfer::Options>) -> Self {
        let id = config.identity.id();
        let (tx, rx) = async_channel::unbounded();
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let updates = session::connect(config);
        let mut stream = match link_tests {
            Some(options) => transfer::answer_link_tests(updates, options),
            None => updates,
        };
        // Dropping the Client closes `stop`, which drops the stream: a clean disconnect.
        spawn(async move {
            let forward = async {
                while let Some(u) = stream.next().await {
                    if tx.send(u).await.is_err() {
                        return;
                    }
                }
            };
            futures_lite::future::or(forward, async {
                let _ = stopped.recv().await;
            })
            .await;
        });
        Self {
            updates: rx,
            id,
            handle: None,
            welcome: None,
            _stop: stop,
        }
    }

    /// Connects and waits for login.
    pub async fn login(hub: &str, name: &str) -> Self {
        Self::login_with(client_config(hub, name, PW)).await
    }

    /// Connects with a given configuration and waits for login.
    pub async fn login_with(config: session::Config) -> Self {
        let mut c = Self::start(config);
        c.connected().await;
        c
    }

    /// Like [`Client::login_with`], answering link tests with `link_tests` (`None`:
    /// declining them).
    #[allow(dead_code)]
    pub async fn login_answering(
        config: session::Config,
        link_tests: Option<transfer::Options>,
    ) -> Self {
        let mut c = Self::start_answering(config, link_tests);
        c.connected().await;
        c
    }

    pub async fn connected(&mut self) -> &session::Welcome {
        loop {
            match self
                .updates
                .recv()
                .await
                .expect("stream ended before login")
            {
                Update::Connected { handle, welcome } => {
                    self.handle = Some(handle);
                    self.welcome = Some(welcome);
                    return self.welcome.as_ref().unwrap();
                }
                Update::Disconnected { reason, .. } => panic!("login failed: {reason}"),
                _ => {}
            }
        }
    }

    pub fn handle(&self) -> &session::Handle {
        self.handle.as_ref().expect("not logged in")
    }

    /// The next event matching `pred` (others are skipped).
    pub async fn event(&mut self, mut pred: impl FnMut(&Event) -> bool) -> Event {
        loop {
            match self.updates.recv().await.expect("stream ended") {
                Update::Event(e) if pred(&e) => return e,
                Update::Disconnected { reason, .. } => panic!("disconnected: {reason}"),
                _ => {}
            }
        }
    }

    /// The next disconnect: its reason text and retry delay.
    pub async fn disconnected(&mut self) -> (String, Option<Duration>) {
        loop {
            if let Update::Disconnected { reason, retry_in } =
                self.updates.recv().await.expect("stream ended")
            {
                return (reason.to_string(), retry_in);
            }
        }
    }

    /// Whether the update stream has ended.
    pub async fn ended(&mut self) -> bool {
        self.updates.recv().await.is_err()
    }
}

/// A client driven by hand: real TLS and WebSocket, the real `Session` for login, then
/// raw frames of our choosing.
pub struct RawClient {
    pub ws: ClientStream,
    pub id: ClientId,
}

pub async fn raw_connect(addr: &str) -> (RawClient, [u8; 32]) {
    raw_connect_as(addr, &Identity::generate().unwrap()).await
}

pub async fn raw_connect_as(addr: &str, identity: &Identity) -> (RawClient, [u8; 32]) {
    let connector = futures_rustls::TlsConnector::from(tls::client_config(identity).unwrap());
    let (stream, info) = net::connect_tls(addr, connector).await.unwrap();
    let ws = net::upgrade(stream).await.unwrap();
    (
        RawClient {
            ws,
            id: identity.id(),
        },
        info.channel,
    )
}

/// Like [`raw_connect_as`], from the local address `source` (any of 127/8 is this
/// machine): the hub sees a client at another address.
#[cfg(target_os = "linux")]
pub async fn raw_connect_from(
    hub: SocketAddr,
    source: std::net::Ipv4Addr,
    identity: &Identity,
) -> std::io::Result<(RawClient, [u8; 32])> {
    use rustix::net::{AddressFamily, SocketType};
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None)?;
    rustix::net::bind(&fd, &std::net::SocketAddrV4::new(source, 0))?;
    // On loopback the connect completes at once (or is refused at once).
    rustix::net::connect(&fd, &hub)?;
    let std_stream = std::net::TcpStream::from(fd);
    std_stream.set_nonblocking(true)?;
    let _ = std_stream.set_nodelay(true);
    let tcp = TcpStream::try_from(std_stream)?;
    let connector = futures_rustls::TlsConnector::from(tls::client_config(identity).unwrap());
    let stream = connector.connect(tls::server_name(), tcp).await?;
    let channel = tls::channel_binding(stream.get_ref().1).unwrap();
    let ws = net::upgrade(stream).await.map_err(std::io::Error::other)?;
    Ok((
        RawClient {
            ws,
            id: identity.id(),
        },
        channel,
    ))
}

pub async fn raw_login(addr: &str, name: &str) -> RawClient {
    raw_login_as(addr, &Identity::generate().unwrap(), name).await
}

/// Logs in by hand as `identity` and returns once the hub has welcomed us (contact pages
/// are not asked for).
pub async fn raw_login_as(addr: &str, identity: &Identity, name: &str) -> RawClient {
    let (mut raw, channel) = raw_connect_as(addr, identity).await;
    let mut session = Session::new(
        Password::new(PW),
        Profile::with_name(name),
        Timing::default(),
        [0; 32],
        Instant::now(),
    );
    session.handle_connected(channel, Instant::now()).unwrap();
    while !session.is_ready() {
        while let Some(f) = session.poll_transmit() {
            raw.send_frame(&f).await;
        }
        let frame = raw.recv_frame().await.expect("hub closed during login");
        session.handle_frame(frame, Instant::now()).unwrap();
    }
    raw
}

/// Publishes keys for a raw client's identity, as a real session does after Welcome, so
/// that others can seal offers and messages to it.
#[allow(dead_code)] // not every test binary has a raw receiver
pub async fn publish_keys(raw: &mut RawClient, identity: &Identity) {
    let now = proto::Timestamp::now();
    let mut keyring =
        courier_core::seal::Keyring::in_memory(identity, Default::default(), now).unwrap();
    let bundle = keyring.bundle(now).unwrap();
    raw.send_frame(&proto::ClientFrame::PublishKeys(bundle))
        .await;
}

impl RawClient {
    pub async fn send_frame(&mut self, f: &proto::ClientFrame) {
        self.send_bytes(proto::encode(f)).await;
    }

    pub async fn send_bytes(&mut self, b: Vec<u8>) {
        let _ = self.ws.send(WsMessage::Binary(b.into())).await;
    }

    pub async fn recv_frame(&mut self) -> Option<proto::ServerFrame> {
        loop {
            match self.ws.next().await? {
                Ok(WsMessage::Binary(b)) => return proto::decode_server(&b).ok(),
                Ok(WsMessage::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Reads until the hub closes; returns the close code and reason (None if no close
    /// frame).
    pub async fn close_frame(&mut self) -> Option<(u16, String)> {
        loop {
            match self.ws.next().await {
                Some(Ok(WsMessage::Close(Some(f)))) => {
                    return Some((f.code.into(), f.reason.to_string()));
                }
                Some(Ok(WsMessage::Close(None))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Reads until the hub closes; returns the close code (None if no close frame).
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.ws.next().await {
                Some(Ok(WsMessage::Close(Some(f)))) => return Some(f.code.into()),
                Some(Ok(WsMessage::Close(None))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }
}

/// A TLS-terminating man in the middle with its own certificate on both sides,
/// relaying plaintext between the client and the hub.
pub async fn mitm_proxy(hub: SocketAddr) -> (SocketAddr, impl Future<Output = ()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let me = Identity::generate().unwrap();
    let acceptor = futures_rustls::TlsAcceptor::from(tls::server_config(&me).unwrap());
    let connector = futures_rustls::TlsConnector::from(tls::client_config(&me).unwrap());
    let fut = async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let client_side = acceptor.accept(tcp).await.unwrap();
        let upstream = TcpStream::connect(hub).await.unwrap();
        let hub_side = connector
            .connect(tls::server_name(), upstream)
            .await
            .unwrap();
        let (cr, cw) = futures::AsyncReadExt::split(client_side);
        let (hr, hw) = futures::AsyncReadExt::split(hub_side);
        let (mut hw, mut cw) = (hw, cw);
        let a = futures::io::copy(cr, &mut hw);
        let b = futures::io::copy(hr, &mut cw);
        let _ = futures::future::select(Box::pin(a), Box::pin(b)).await;
    };
    (addr, fut)
}

/// A TCP relay that can be told to go silent without closing (a pulled cable).
pub async fn blackhole_proxy(
    hub: SocketAddr,
) -> (
    SocketAddr,
    async_channel::Sender<()>,
    impl Future<Output = ()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (cut, cut_rx) = async_channel::bounded::<()>(1);
    let fut = async move {
        let (client, _) = listener.accept().await.unwrap();
        let upstream = TcpStream::connect(hub).await.unwrap();
        let (mut up_w, mut client_w) = (upstream.clone(), client.clone());
        let relay = futures::future::select(
            Box::pin(futures::io::copy(client.clone(), &mut up_w)),
            Box::pin(futures::io::copy(upstream.clone(), &mut client_w)),
        );
        futures_lite::future::or(
            async {
                let _ = relay.await;
            },
            async {
                let _ = cut_rx.recv().await;
            },
        )
        .await;
        // Hold both sockets open and silent.
        let _keep = (client, upstream);
        std::future::pending::<()>().await;
    };
    (addr, cut, fut)
}

pub async fn sleep(d: Duration) {
    async_io::Timer::after(d).await;
}
