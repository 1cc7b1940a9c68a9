//! Real parts for the app's integration tests: a hub on loopback (courier-core's, in a
//! thread), a second client (a plain courier-core session), and a driver that runs the
//! app's own `update`, its tasks and its session subscription the way the iced runtime
//! does, without a window.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use courier_core::auth::Password;
use courier_core::hub;
use courier_core::identity::Identity;
use courier_core::proto::{ClientId, Profile};
use courier_core::session::{self, Event, Handle, Update};
use courier_iced::app::{Courier, Message, Screen};
use courier_iced::screen::chat::Chat;
use futures::StreamExt;
use iced_test::runtime::Action;

/// How long any one expectation may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A hub on 127.0.0.1, keeping its identity in a folder (so a restart is the same hub).
pub struct TestHub {
    pub addr: SocketAddr,
    pub fingerprint: ClientId,
    /// Its database (members, remembered devices), as `courier hub` keeps it.
    pub db: hub::db::Db,
    stop: async_channel::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl TestHub {
    /// The hub's configuration from its folder (identity, password), its fingerprint
    /// and its database.
    fn prepare(home: &Path, password: &str) -> (hub::Config, ClientId, hub::db::Db) {
        let home = hub::Home::open(home).unwrap();
        let identity = home.identity().unwrap();
        let secret = home.set_password(&Password::new(password)).unwrap();
        let fingerprint = identity.id();
        let db = home.database().unwrap();
        (hub::Config::new(identity, secret), fingerprint, db)
    }

    pub fn start(home: &Path, password: &str, port: u16) -> Self {
        let (mut config, fingerprint, db) = Self::prepare(home, password);
        config.db = Some(db.clone());
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = async_net::TcpListener::try_from(listener).unwrap();
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let thread = std::thread::spawn(move || {
            let shutdown = async move {
                let _ = stopped.recv().await;
            };
            smol::block_on(hub::serve(listener, config, shutdown)).unwrap();
        });
        Self {
            addr,
            fingerprint,
            db,
            stop,
            thread: Some(thread),
        }
    }

    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// A hub in network namespace `ns` (its thread enters it), listening on every
    /// address there and advertising itself by mDNS as `name`, as `courier hub` does.
    #[cfg(target_os = "linux")]
    pub fn start_advertised(ns: &str, home: &Path, password: &str, name: &str) -> Self {
        // No database in the running hub: it would read it on the shared blocking pool,
        // whose threads, made from this thread, would be in the hub's namespace, and
        // the app's own blocking work (its mDNS browser) could land there.
        let (config, fingerprint, db) = Self::prepare(home, password);
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let (bound_tx, bound) = std::sync::mpsc::channel();
        let (ns, name) = (ns.to_owned(), name.to_owned());
        let thread = std::thread::spawn(move || {
            // Sockets and the mDNS thread made from here on belong to the namespace.
            courier_testkit::netns::enter(&ns);
            let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).unwrap();
            let addr = listener.local_addr().unwrap();
            let _advert = courier_core::discovery::Advert::start(&name, addr, fingerprint).unwrap();
            bound_tx.send(addr).unwrap();
            let listener = async_net::TcpListener::try_from(listener).unwrap();
            let shutdown = async move {
                let _ = stopped.recv().await;
            };
            smol::block_on(hub::serve(listener, config, shutdown)).unwrap();
        });
        let addr = bound.recv().unwrap();
        Self {
            addr,
            fingerprint,
            db,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the hub and waits until it is gone.
    pub fn stop(mut self) {
        let _ = self.stop.try_send(());
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        let _ = self.stop.try_send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The folder a peer device keeps its keys in: the same each time that device joins
/// (as a profile folder is), for the whole test process.
fn keys_dir(id: ClientId) -> PathBuf {
    static DIRS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<ClientId, courier_testkit::TempDir>>,
    > = std::sync::OnceLock::new();
    let mut dirs = DIRS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    dirs.entry(id)
        .or_insert_with(|| courier_testkit::TempDir::new("iced-peer-keys"))
        .path()
        .to_path_buf()
}

/// Another person on the hub: a plain courier-core session.
pub struct Peer {
    pub id: ClientId,
    pub handle: Handle,
    /// The contact list the hub gave at login.
    pub contacts: Vec<courier_core::proto::Contact>,
    updates: async_channel::Receiver<Update>,
    _pump: smol::Task<()>,
}

impl Peer {
    pub fn join(hub: &str, password: &str, name: &str) -> Self {
        Self::join_as(hub, password, name, Identity::generate().unwrap())
    }

    /// Joins as the device `identity` (the same person coming back).
    pub fn join_as(hub: &str, password: &str, name: &str, identity: Identity) -> Self {
        let id = identity.id();
        let mut config = session::Config::new(
            hub,
            identity,
            Password::new(password),
            Profile::with_name(name),
        );
        config.keys = session::KeyStore::Folder(keys_dir(id));
        let (tx, updates) = async_channel::unbounded();
        let pump = smol::spawn(async move {
            let mut stream = Box::pin(session::connect(config));
            while let Some(u) = stream.next().await {
                if tx.send(u).await.is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + PATIENCE;
        loop {
            match recv_until(&updates, deadline) {
                Some(Update::Connected { handle, welcome }) => {
                    return Self {
                        id,
                        handle,
                        contacts: welcome.contacts,
                        updates,
                        _pump: pump,
                    };
                }
                Some(_) => {}
                None => panic!("{name} could not log in"),
            }
        }
    }

    /// Tries to log in once with a fresh identity: `Err` with the reason the hub gave.
    pub fn try_join(hub: &str, password: &str) -> Result<(), String> {
        let config = session::Config::new(
            hub,
            Identity::generate().unwrap(),
            Password::new(password),
            Profile::with_name("Probe"),
        );
        smol::block_on(async {
            let mut stream = Box::pin(session::connect(config));
            while let Some(update) = stream.next().await {
                match update {
                    Update::Connected { .. } => return Ok(()),
                    Update::Disconnected { reason, .. } => return Err(reason.to_string()),
                    Update::Event(_) => {}
                }
            }
            Err("the session ended".to_owned())
        })
    }

    /// How many of the updates already here are events `pred` accepts (takes them all).
    pub fn count(&self, mut pred: impl FnMut(&Event) -> bool) -> usize {
        let mut n = 0;
        while let Ok(update) = self.updates.try_recv() {
            if let Update::Event(e) = update
                && pred(&e)
            {
                n += 1;
            }
        }
        n
    }

    /// Waits for an event `pick` accepts (other updates are skipped; reconnects are
    /// followed: the handle stays valid).
    pub fn expect<T>(&self, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match recv_until(&self.updates, deadline) {
                Some(Update::Event(e)) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Some(_) => {}
                None => panic!("timed out waiting for: {what}"),
            }
        }
    }
}

impl Peer {
    /// The contact cards this session hears for the next `d`.
    #[allow(dead_code)]
    pub fn contacts_within(&self, d: Duration) -> Vec<courier_core::proto::Contact> {
        let deadline = Instant::now() + d;
        let mut got = Vec::new();
        while let Some(u) = recv_until(&self.updates, deadline) {
            if let Update::Event(Event::Contact(c)) = u {
                got.push(c);
            }
        }
        got
    }

    /// Waits until the session has lost the hub (the updates before it are skipped).
    pub fn expect_disconnected(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match recv_until(&self.updates, deadline) {
                Some(Update::Disconnected { .. }) => return,
                Some(_) => {}
                None => panic!("timed out waiting for the hub to go"),
            }
        }
    }

    /// Waits for a contact `pick` accepts, in a contact list a (re)login brings or in a
    /// contact's change: whoever logs in first, the other is seen.
    pub fn expect_contact(
        &self,
        what: &str,
        mut pick: impl FnMut(&courier_core::proto::Contact) -> bool,
    ) -> courier_core::proto::Contact {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match recv_until(&self.updates, deadline) {
                Some(Update::Connected { welcome, .. }) => {
                    if let Some(c) = welcome.contacts.into_iter().find(|c| pick(c)) {
                        return c;
                    }
                }
                Some(Update::Event(Event::Contact(c))) if pick(&c) => return c,
                Some(_) => {}
                None => panic!("timed out waiting for: {what}"),
            }
        }
    }
}

fn recv_until<T>(rx: &async_channel::Receiver<T>, deadline: Instant) -> Option<T> {
    let wait = deadline.saturating_duration_since(Instant::now());
    smol::block_on(futures_lite::future::or(
        async { rx.recv().await.ok() },
        async {
            smol::Timer::after(wait).await;
            None
        },
    ))
}

/// Runs the app like the iced runtime does: `update`, then the returned task on an
/// executor feeding its messages back, and the session subscription started, kept and
/// stopped as `subscription()` asks (keyed by the same `ServerKey` hash).
pub struct Driver {
    pub app: Courier,
    tx: async_channel::Sender<Message>,
    rx: async_channel::Receiver<Message>,
    session: Option<(u64, smol::Task<()>)>,
    /// Every message handled, for failure reports.
    pub log: Vec<String>,
    /// Whether `send` is waiting for the history's answers already.
    settling: bool,
}

impl Driver {
    pub fn new(dir: PathBuf) -> Self {
        let (tx, rx) = async_channel::unbounded();
        let mut app = Courier::new(dir);
        // Tests touch no network but their own: a hub hosted here is not advertised.
        app.settings.advertise = false;
        app.discovery = false;
        Self {
            app,
            tx,
            rx,
            session: None,
            log: Vec::new(),
            settling: false,
        }
    }

    /// What the runtime does at launch ([`Courier::boot`] without the focus).
    pub fn launch(dir: PathBuf) -> Self {
        let mut driver = Self::new(dir);
        let task = driver.app.resume();
        driver.dispatch(task);
        driver.sync_session();
        driver
    }

    /// Handles one message as the runtime would.
    pub fn send(&mut self, message: Message) {
        self.log
            .push(format!("{message:?}").chars().take(160).collect());
        let task = self.app.update(message);
        // The runtime draws after every update: so do we (a panic in view fails here).
        drop(self.app.view());
        self.dispatch(task);
        self.sync_session();
        self.settle();
    }

    /// Handles messages until the history has answered what the chat asked of it (it
    /// runs off the window's thread; a user sees its answer a moment later).
    pub fn settle(&mut self) {
        if self.settling {
            return;
        }
        self.settling = true;
        self.until("the history's answers", |a| {
            chat(a).is_none_or(|c| !c.history_busy())
        });
        self.settling = false;
    }

    /// The next message the app's tasks or session sent (not handled yet).
    pub async fn recv(&self) -> Option<Message> {
        self.rx.recv().await.ok()
    }

    /// Feeds the messages a simulated interaction produced.
    pub fn feed(&mut self, messages: Vec<Message>) {
        for m in messages {
            self.send(m);
        }
    }

    fn dispatch(&self, task: iced::Task<Message>) {
        let Some(mut stream) = iced_test::runtime::task::into_stream(task) else {
            return;
        };
        let tx = self.tx.clone();
        smol::spawn(async move {
            while let Some(action) = stream.next().await {
                if let Action::Output(m) = action {
                    let _ = tx.send(m).await;
                }
            }
        })
        .detach();
    }

    fn sync_session(&mut self) {
        let key = self.app.server.clone();
        let hash = key.as_ref().map(|k| {
            let mut h = DefaultHasher::new();
            k.hash(&mut h);
            h.finish()
        });
        match (hash, &self.session) {
            (Some(h), Some((running, _))) if h == *running => {}
            (Some(h), _) => {
                let key = key.unwrap();
                let tx = self.tx.clone();
                let task = smol::spawn(async move {
                    let mut stream = courier_iced::session::connect(&key);
                    while let Some(link) = stream.next().await {
                        if tx.send(Message::Session(link)).await.is_err() {
                            break;
                        }
                    }
                });
                self.session = Some((h, task));
            }
            (None, _) => self.session = None,
        }
    }

    /// Handles messages as they come until `done` holds.
    pub fn until(&mut self, what: &str, done: impl Fn(&Courier) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done(&self.app) {
            match recv_until(&self.rx, deadline) {
                Some(m) => self.send(m),
                None => panic!(
                    "timed out waiting for: {what}\nlast messages:\n{}",
                    self.log
                        .iter()
                        .rev()
                        .take(15)
                        .rev()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            }
        }
    }

    /// The chat screen (panics elsewhere).
    pub fn chat(&self) -> &Chat {
        match &self.app.screen {
            Screen::Chat(c) => c,
            Screen::Login(l) => panic!("not logged in: {:?} / {:?}", l.error, l.status),
        }
    }

    /// Simulates an interaction with the current view and feeds what it produced.
    pub fn interact(&mut self, f: impl FnOnce(&mut iced_test::Simulator<'_, Message>)) {
        let messages: Vec<Message> = {
            let mut ui = iced_test::simulator(self.app.view());
            f(&mut ui);
            ui.into_messages().collect()
        };
        self.feed(messages);
    }

    /// Whether the current view shows `text`.
    pub fn shows(&self, text: &str) -> bool {
        let mut ui = iced_test::simulator(self.app.view());
        ui.find(text).is_ok()
    }
}

/// Whether the app is on the chat screen.
pub fn in_chat(app: &Courier) -> bool {
    matches!(app.screen, Screen::Chat(_))
}

/// The chat screen of `app`, if up.
pub fn chat(app: &Courier) -> Option<&Chat> {
    match &app.screen {
        Screen::Chat(c) => Some(c),
        Screen::Login(_) => None,
    }
}
