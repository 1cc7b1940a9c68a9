//! An in-memory simulator: one [`Hub`] and any number of [`Session`]s wired together
//! with synthetic time. Every frame goes through the real CBOR codec. Used by unit
//! tests, property tests and the fuzz targets; not compiled into normal builds.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::auth::{HubSecret, Password};
use crate::hub::{self, ConnId, Hub, Transmit};
use crate::identity::Identity;
use crate::proto::CloseReason;
use crate::proto::{self, ClientFrame, ClientId, Profile, ServerFrame, Timestamp};
use crate::session::{self, Event, Session, Timing};

mod hostile;
pub use hostile::Tamper;

/// One simulated client connection.
#[derive(Debug)]
pub struct Client {
    /// Its hub connection.
    pub conn: ConnId,
    /// Its identity (what the TLS handshake would have shown).
    pub id: ClientId,
    /// Its state machine.
    pub session: Session,
    /// Events the session reported, oldest first.
    pub events: Vec<Event>,
    /// Raw frames the hub sent it, oldest first.
    pub frames: Vec<ServerFrame>,
    /// Why the hub closed it, if it did.
    pub closed: Option<CloseReason>,
    /// The error the session ended with, if any.
    pub error: Option<String>,
    /// A pulled cable: nothing reaches or leaves this client, and nothing closes.
    pub muted: bool,
    /// A hostile hub's hand on what this client is sent ([`Sim::tamper`]).
    pub tamper: Option<Tamper>,
    channel: [u8; 32],
}

impl Client {
    /// Hands `f` to the session as if the hub sent it (recorded in `frames`).
    fn receive(&mut self, f: ServerFrame, now: Instant) {
        self.frames.push(f.clone());
        if self.error.is_none()
            && let Err(e) = self.session.handle_frame(f, now)
        {
            self.error = Some(e.to_string());
        }
    }
}

/// A hub and its clients in memory.
#[derive(Debug)]
pub struct Sim {
    /// The hub under test.
    pub hub: Hub,
    /// Synthetic "now".
    pub now: Instant,
    /// Clients by index.
    pub clients: Vec<Client>,
    /// Password the hub was set up with.
    pub password: Password,
    /// Relay pairs the hub asked for, in order.
    pub relays: Vec<(ConnId, ConnId)>,
    /// Reach-back checks the hub asked for, in order: who asked, where to connect.
    pub reachbacks: Vec<(ConnId, std::net::SocketAddr)>,
}

/// A hub configuration with a fresh identity, the given password and a fixed seed.
///
/// # Panics
/// If key generation fails (test-only code).
#[allow(clippy::expect_used)]
pub fn hub_config(password: &Password) -> hub::Config {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
    let secret = HubSecret::register(&mut rng, password).expect("register");
    let mut config = hub::Config::new(Identity::generate().expect("identity"), secret);
    config.rng_seed = Some([7; 32]);
    config
}

impl Sim {
    /// A hub with password `password` and no clients.
    pub fn new(password: &str) -> Self {
        Self::with_config(hub_config(&Password::new(password)), password)
    }

    /// A hub with a custom configuration (its secret must match `password`).
    pub fn with_config(config: hub::Config, password: &str) -> Self {
        let now = Instant::now();
        Self {
            // The real clock: sessions stamp their key bundles with it, and the hub
            // refuses bundles made more than a day ahead of its own clock.
            hub: Hub::new(config, now, Timestamp::now()),
            now,
            clients: Vec::new(),
            password: Password::new(password),
            relays: Vec::new(),
            reachbacks: Vec::new(),
        }
    }

    /// Connects a client from `ip` with identity byte `who` (its id is `[who; 32]`) but
    /// does not log in. Returns its index, or `None` if the hub refused the connection.
    pub fn connect_from(
        &mut self,
        ip: IpAddr,
        who: u8,
        password: &str,
        name: &str,
    ) -> Option<usize> {
        self.connect_as(ip, ClientId([who; 32]), password, name)
    }

    /// Like [`Sim::connect_from`] with any identity.
    pub fn connect_as(
        &mut self,
        ip: IpAddr,
        id: ClientId,
        password: &str,
        name: &str,
    ) -> Option<usize> {
        let conn = self
            .hub
            .handle_accept(SocketAddr::new(ip, 40000), self.now)
            .ok()?;
        let mut channel = id.0;
        channel.iter_mut().for_each(|b| *b ^= 0x55);
        self.hub.handle_connect(conn, id, channel, self.now);
        let timing = Timing::default();
        // The simulator's ids are made up (no certificate signs them): its clients use
        // plain envelopes, which the hub cannot tell from sealed ones; `login_sealed`
        // gives one real keys.
        let session = Session::new(
            Password::new(password),
            Profile::with_name(name),
            timing,
            // Each client logs in the same way every run.
            id.0,
            self.now,
        )
        .unsealed();
        self.clients.push(Client {
            conn,
            id,
            session,
            events: Vec::new(),
            frames: Vec::new(),
            closed: None,
            error: None,
            muted: false,
            tamper: None,
            channel,
        });
        Some(self.clients.len() - 1)
    }

    /// Connects and logs in client `who` from 10.0.0.1 with the right password.
    pub fn login(&mut self, who: u8, name: &str) -> usize {
        let password = self.password.clone();
        self.login_with(who, name, password.expose())
    }

    /// Connects and logs in with a given password; check `closed` / `error` for failure.
    #[allow(clippy::expect_used)]
    pub fn login_with(&mut self, who: u8, name: &str, password: &str) -> usize {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let i = self
            .connect_from(ip, who, password, name)
            .expect("hub refused the connection");
        self.start_login(i);
        self.run();
        // Let the presence batch with this login go out.
        self.advance(crate::limits::PRESENCE_BATCH);
        i
    }

    /// Connects and logs in a client with a real identity and a fresh in-memory keyring:
    /// it publishes its keys, seals what it sends and opens what it receives, as a real
    /// client does.
    ///
    /// # Panics
    /// If the keyring cannot be made (test-only code).
    #[allow(clippy::expect_used)]
    pub fn login_sealed(&mut self, identity: &Identity, name: &str) -> usize {
        let keyring = crate::seal::Keyring::in_memory(
            identity,
            crate::seal::KeyPolicy::default(),
            Timestamp::now(),
        )
        .expect("keyring");
        self.login_with_keyring(identity.id(), keyring, name)
    }

    /// Logs client `old`'s device in again on a new connection, with the keyring its
    /// session had.
    ///
    /// # Panics
    /// If `old` has no keyring (test-only code).
    #[allow(clippy::expect_used)]
    pub fn relogin_sealed(&mut self, old: usize, name: &str) -> usize {
        let c = self.clients.get_mut(old).expect("no such client");
        let keyring = c.session.take_keyring().expect("no keyring");
        let id = c.id;
        self.login_with_keyring(id, keyring, name)
    }

    fn login_with_keyring(
        &mut self,
        id: ClientId,
        keyring: crate::seal::Keyring,
        name: &str,
    ) -> usize {
        let password = self.password.clone();
        self.login_shaped(id, password.expose(), name, |s| {
            s.with_keyring(keyring, Timestamp::now())
        })
    }

    /// Connects `id` from 10.0.0.1, shapes its session with `f`, logs it in and lets the
    /// presence batch with the login go out.
    #[allow(clippy::expect_used)]
    fn login_shaped(
        &mut self,
        id: ClientId,
        password: &str,
        name: &str,
        f: impl FnOnce(Session) -> Session,
    ) -> usize {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let i = self
            .connect_as(ip, id, password, name)
            .expect("hub refused the connection");
        self.reshape(i, f);
        self.start_login(i);
        self.run();
        self.advance(crate::limits::PRESENCE_BATCH);
        i
    }

    /// Takes client `i`'s contact list (as the driver keeps it between connections).
    ///
    /// # Panics
    /// If there is no client `i` (test-only code).
    #[allow(clippy::expect_used)]
    pub fn take_roster(&mut self, i: usize) -> crate::session::Roster {
        let c = self.clients.get_mut(i).expect("no such client");
        c.session.take_roster()
    }

    /// Connects and logs in client `who` from 10.0.0.1 holding `roster` (the contact
    /// list a connection before left), as the driver's next connection does.
    ///
    /// # Panics
    /// If the hub refuses the connection (test-only code).
    pub fn login_holding(&mut self, who: u8, name: &str, roster: crate::session::Roster) -> usize {
        let password = self.password.clone();
        self.login_shaped(ClientId([who; 32]), password.expose(), name, |s| {
            s.with_roster(roster)
        })
    }

    /// Sets how client `i` (connected, not logged in) uses the hub's memory of it
    /// ([`Session::remembering`]).
    pub fn remembering(&mut self, i: usize, try_first: bool, remember: bool) {
        self.reshape(i, |s| s.remembering(try_first, remember));
    }

    /// Rebuilds client `i`'s session (connected, not logged in) with `f`.
    fn reshape(&mut self, i: usize, f: impl FnOnce(Session) -> Session) {
        let now = self.now;
        if let Some(c) = self.clients.get_mut(i) {
            let placeholder = Session::new(
                Password::new(""),
                Profile::default(),
                Timing::default(),
                [0; 32],
                now,
            );
            let session = std::mem::replace(&mut c.session, placeholder);
            c.session = f(session);
        }
    }

    /// Connects and logs in client `who` as a one-shot command does: keeping the profile
    /// the hub knows and leaving the mailbox ([`Session::asking`]).
    pub fn login_one_shot(&mut self, who: u8, name: &str) -> usize {
        let password = self.password.clone();
        self.login_shaped(ClientId([who; 32]), password.expose(), name, |s| {
            s.asking(true, false)
        })
    }

    /// Connects client `who` from 10.0.0.1 with `password` (may be empty) and logs in,
    /// trying first as a remembered device and asking to be remembered.
    pub fn login_remembered(&mut self, who: u8, name: &str, password: &str) -> usize {
        self.login_shaped(ClientId([who; 32]), password, name, |s| {
            s.remembering(true, true)
        })
    }

    /// Starts the login of client `i` (binding it to its own channel value).
    pub fn start_login(&mut self, i: usize) {
        let now = self.now;
        if let Some(c) = self.clients.get_mut(i) {
            let channel = c.channel;
            if let Err(e) = c.session.handle_connected(channel, now) {
                c.error = Some(e.to_string());
            }
        }
    }

    /// Pretends client `i` sees a different TLS channel than the hub (a relaying MITM).
    pub fn tamper_channel(&mut self, i: usize) {
        if let Some(c) = self.clients.get_mut(i) {
            c.channel = [0xEE; 32];
        }
    }

    /// Sends a raw frame from client `i` to the hub, bypassing its session.
    pub fn raw(&mut self, i: usize, frame: &ClientFrame) {
        if let Some(conn) = self.clients.get(i).map(|c| c.conn) {
            match proto::decode_client(&proto::encode(frame)) {
                Ok(f) => self.hub.handle_frame(conn, f, self.now),
                Err(e) => self
                    .hub
                    .handle_bad_input(conn, hub::BadInput::Malformed(e), self.now),
            }
        }
        self.run();
    }

    /// Moves frames both ways until nothing is left to move.
    pub fn run(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..self.clients.len() {
                moved |= self.pump_client(i);
            }
            while let Some(t) = self.hub.poll_transmit() {
                moved = true;
                self.deliver(t);
            }
            if !moved {
                return;
            }
        }
    }

    fn pump_client(&mut self, i: usize) -> bool {
        let now = self.now;
        let mut out = Vec::new();
        if let Some(c) = self.clients.get_mut(i) {
            while let Some(f) = c.session.poll_transmit() {
                if c.closed.is_none() && !c.muted {
                    out.push((c.conn, f));
                }
            }
            while let Some(e) = c.session.poll_event() {
                c.events.push(e);
            }
        }
        let moved = !out.is_empty();
        for (conn, frame) in out {
            match proto::decode_client(&proto::encode(&frame)) {
                Ok(f) => self.hub.handle_frame(conn, f, now),
                Err(e) => self
                    .hub
                    .handle_bad_input(conn, hub::BadInput::Malformed(e), now),
            }
        }
        moved
    }

    fn deliver(&mut self, t: Transmit) {
        let now = self.now;
        match t {
            Transmit::Frame { conn, frame } => {
                if let Some(c) = self.clients.iter_mut().find(|c| c.conn == conn && !c.muted) {
                    let decoded = proto::decode_server(&proto::encode(&*frame));
                    if let Ok(f) = decoded {
                        let frames = match c.tamper.as_mut() {
                            Some(tamper) => (tamper.0)(f),
                            None => vec![f],
                        };
                        for f in frames {
                            c.receive(f, now);
                        }
                    }
                }
            }
            Transmit::Close { conn, reason } => {
                if let Some(c) = self.clients.iter_mut().find(|c| c.conn == conn) {
                    c.closed = Some(reason);
                }
            }
            Transmit::Relay { a, b } => self.relays.push((a, b)),
            Transmit::Reachback { conn, addr } => self.reachbacks.push((conn, addr)),
            // The simulated network writes everything at once (a muted client never).
            Transmit::WhenDrained { conn } => {
                if self.clients.iter().any(|c| c.conn == conn && !c.muted) {
                    self.hub.handle_drained(conn, now);
                }
            }
        }
    }

    /// Pulls client `i`'s cable: from now on nothing flows either way and nothing closes.
    pub fn mute(&mut self, i: usize) {
        if let Some(c) = self.clients.get_mut(i) {
            c.muted = true;
        }
    }

    /// Client `i` goes away (the driver saw its socket close).
    pub fn disconnect(&mut self, i: usize) {
        if let Some(c) = self.clients.get_mut(i) {
            c.closed.get_or_insert(CloseReason::Shutdown);
            let conn = c.conn;
            self.hub.handle_disconnect(conn, self.now);
        }
        self.run();
        self.advance(crate::limits::PRESENCE_BATCH);
    }

    /// Advances synthetic time by `d`, firing the hub's timers (clients stay silent).
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(at) = self.hub.poll_timeout() {
            if at > end {
                break;
            }
            self.now = at.max(self.now);
            self.hub.handle_timeout(self.now);
            self.run();
        }
        self.now = end;
        self.hub.handle_timeout(self.now);
        self.run();
    }

    /// The session events of client `i` (empty for an unknown index).
    pub fn events(&self, i: usize) -> &[Event] {
        self.clients.get(i).map_or(&[], |c| c.events.as_slice())
    }

    /// Drops recorded events and frames of every client.
    pub fn clear(&mut self) {
        for c in &mut self.clients {
            c.events.clear();
            c.frames.clear();
        }
    }

    /// Whether client `i` logged in and is still connected.
    pub fn is_online(&self, i: usize) -> bool {
        self.clients
            .get(i)
            .is_some_and(|c| c.session.is_ready() && c.closed.is_none())
    }
}

/// Helper so tests can write `session::Event` paths briefly.
pub use session::Event as SessionEvent;
