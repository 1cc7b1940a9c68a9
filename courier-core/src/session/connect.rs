//! The session driver: connect, check the pin, log in, pump frames, reconnect.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use async_tungstenite::tungstenite::Message as WsMessage;
use futures::{FutureExt, SinkExt, Stream, StreamExt};
use futures_rustls::TlsConnector;

use super::handle::{Command, Shared, lock};
use super::{Error, Event, Handle, Recent, Session, SharedError, Timing};
use crate::auth::Password;
use crate::identity::{Identity, PinStore};
use crate::proto::{self, ClientId, Contact, Declined, IncomingOffer, Profile, Timestamp};
use super::{Answer, Brokered};
use crate::transfer;
use crate::{limits, net, tls};

/// What a session needs to connect.
#[derive(Debug, Clone)]
pub struct Config {
    /// The hub's address, `host:port`. Also the key its pin is stored under.
    pub hub: String,
    /// Our certificate and key.
    pub identity: Identity,
    /// The hub password. May be empty for a device the hub remembers: the session then
    /// logs in by certificate alone, and ends with [`Error::NotRemembered`] if the hub
    /// does not remember it (any more).
    ///
    /// [`Error::NotRemembered`]: super::Error::NotRemembered
    pub password: Password,
    /// Ask the hub to remember this device at a password login, so that later logins
    /// need no password (default: yes).
    pub remember: bool,
    /// What others see of us.
    pub profile: Profile,
    /// Where pinned hub fingerprints live; `None` pins in memory only.
    pub pins: Option<PinStore>,
    /// Heartbeat and login timing.
    pub timing: Timing,
    /// Answer link tests (`courier doctor --peer` from another member) by ourselves, with
    /// these options (default: yes); `None` declines them, and the prober hears that we
    /// do not answer them ([`proto::Declined::NoLinkTests`]). A test is answered one at a
    /// time, at most [`limits::LINK_TESTS_PER_MINUTE`] and
    /// [`limits::LINK_TEST_BYTES_PER_MINUTE`] a minute (a prober's share of those is
    /// smaller), and never shows as an offer. For the direct way it dials the prober only
    /// where the hub sees it and listens as a receiver would; the hub tells the prober
    /// only its addresses at the one the hub sees it at.
    pub answer_link_tests: Option<transfer::Options>,
}

impl Config {
    /// Defaults for everything but the essentials.
    pub fn new(
        hub: impl Into<String>,
        identity: Identity,
        password: Password,
        profile: Profile,
    ) -> Self {
        Self {
            hub: hub.into(),
            identity,
            password,
            remember: true,
            profile,
            pins: None,
            timing: Timing::default(),
            answer_link_tests: Some(transfer::Options::default()),
        }
    }
}

/// What we learned at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// Our id.
    pub you: ClientId,
    /// The hub's fingerprint (its safety code is `hub.safety_code()`).
    pub hub: ClientId,
    /// True when this hub was pinned just now: show the safety code to the user.
    pub first_contact: bool,
    /// Whether the hub remembers this device: the next login needs no password.
    pub remembered: bool,
    /// Every other contact the hub knows.
    pub contacts: Vec<Contact>,
    /// The hub's clock at login.
    pub time: Timestamp,
}

/// What the [`connect`] stream yields.
#[derive(Debug, Clone)]
pub enum Update {
    /// Logged in (again). The handle stays valid across reconnects.
    Connected {
        /// For sending.
        handle: Handle,
        /// Login details and the contact list.
        welcome: Welcome,
    },
    /// Something happened.
    Event(Event),
    /// The connection ended. With `retry_in: None` the error is fatal and the stream ends.
    Disconnected {
        /// Why.
        reason: SharedError,
        /// When the next attempt starts.
        retry_in: Option<Duration>,
    },
}

/// Connects to the hub and keeps the session alive, reconnecting with jittered
/// exponential backoff. Ends only after a fatal error ([`Error::is_fatal`]); dropping
/// the stream disconnects.
///
/// # Examples
/// ```no_run
/// # use courier_core::{auth::Password, identity::Identity, proto::{Profile, Target}, session};
/// use futures::StreamExt;
/// smol::block_on(async {
///     let config = session::Config::new("127.0.0.1:8977", Identity::generate()?,
///         Password::new("pw"), Profile::with_name("bot"));
///     let mut updates = Box::pin(session::connect(config));
///     while let Some(update) = updates.next().await {
///         if let session::Update::Connected { handle, .. } = update {
///             handle.send_message(Target::Everyone, "hello").await?;
///         }
///     }
///     # Ok::<(), Box<dyn std::error::Error>>(())
/// });
/// ```
pub fn connect(config: Config) -> impl Stream<Item = Update> + Send + 'static {
    let (updates_tx, updates_rx) = async_channel::bounded(256);
    let (commands_tx, commands_rx) = async_channel::bounded(256);
    let handle = Handle {
        commands: commands_tx,
        me: config.identity.id(),
        shared: Arc::new(Shared {
            hub: config.hub.clone(),
            identity: config.identity.clone(),
            hub_id: std::sync::Mutex::new(None),
            hub_on_loopback: std::sync::Mutex::new(false),
        }),
    };
    // Link tests are answered beside the driver, one at a time, as long as it runs.
    let (tests_tx, tests_rx) = async_channel::bounded(1);
    let answering = answer_link_tests(
        handle.clone(),
        tests_rx,
        config.answer_link_tests.clone().unwrap_or_default(),
    );
    let tests = config.answer_link_tests.is_some().then_some(tests_tx);
    // The driver yields nothing itself; it feeds `updates_rx`. Selecting the two keeps the
    // driver running exactly as long as someone holds the stream.
    let driver = futures_lite::future::or(
        run(config, updates_tx, commands_rx, handle, tests),
        answering,
    )
    .into_stream()
    .filter_map(|()| std::future::ready(None));
    futures::stream::select(driver, updates_rx)
}

/// The link tests answered in the last minute: who probed, when, and the data it took
/// in. Every prober has a share of the minute's tests and bytes, so that one contact
/// running checks in a loop does not leave the others none.
#[derive(Debug, Default)]
struct Answered {
    recent: VecDeque<(Instant, ClientId, u64)>,
}

impl Answered {
    /// Whether a test from `prober` may be answered now.
    fn admit(&mut self, prober: ClientId, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|(t, _, _)| now.duration_since(*t) >= Duration::from_secs(60))
        {
            self.recent.pop_front();
        }
        let taken: u64 = self.recent.iter().map(|(_, _, b)| b).sum();
        let (tests, bytes) = self
            .recent
            .iter()
            .filter(|(_, p, _)| *p == prober)
            .fold((0, 0), |(n, sum), (_, _, b)| (n + 1, sum + b));
        self.recent.len() < limits::LINK_TESTS_PER_MINUTE
            && taken + limits::LINK_TEST_MAX_BYTES <= limits::LINK_TEST_BYTES_PER_MINUTE
            && tests < limits::LINK_TESTS_PER_PROBER
            && bytes + limits::LINK_TEST_MAX_BYTES <= limits::LINK_TEST_BYTES_PER_PROBER
    }

    /// A test from `prober`, started at `at`, took in `bytes`.
    fn record(&mut self, at: Instant, prober: ClientId, bytes: u64) {
        self.recent.push_back((at, prober, bytes));
    }
}

/// Answers the link tests the driver hands over, in turn; declines those past a
/// prober's share ([`limits::LINK_TESTS_PER_PROBER`], [`limits::LINK_TEST_BYTES_PER_PROBER`])
/// or past [`limits::LINK_TESTS_PER_MINUTE`], or when the last minute's tests and a
/// whole new one would take in more than [`limits::LINK_TEST_BYTES_PER_MINUTE`]. Never
/// ends by itself (it runs as long as the driver it is raced with).
async fn answer_link_tests(
    handle: Handle,
    tests: Receiver<IncomingOffer>,
    options: transfer::Options,
) {
    let mut answered = Answered::default();
    while let Ok(offer) = tests.recv().await {
        let now = Instant::now();
        let from = offer.from;
        if !answered.admit(from, now) {
            let _ = handle.decline(offer.id, Declined::ByUser).await;
            continue;
        }
        let mut bytes = 0;
        let result = transfer::answer_link_test(handle.clone(), offer, &options, &mut bytes).await;
        answered.record(now, from, bytes);
        match result {
            Ok(route) => {
                tracing::info!(
                    "answered a link test of {}: {route}, {bytes} bytes",
                    from.short()
                );
            }
            Err(e) => tracing::info!("a link test of {} failed: {e}", from.short()),
        }
    }
    std::future::pending::<()>().await;
}

async fn run(
    config: Config,
    updates: Sender<Update>,
    commands: Receiver<Command>,
    handle: Handle,
    tests: Option<Sender<IncomingOffer>>,
) {
    let tls = match tls::client_config(&config.identity) {
        Ok(c) => TlsConnector::from(c),
        Err(e) => {
            let _ = updates
                .send(Update::Disconnected {
                    reason: Arc::new(e.into()),
                    retry_in: None,
                })
                .await;
            return;
        }
    };
    let mut memory_pin: Option<ClientId> = None;
    let mut backoff = limits::RECONNECT_MIN;
    let mut brokered = Brokered::default();
    let mut recent = Recent::default();
    loop {
        let mut logged_in = false;
        let mut link = Link {
            memory_pin: &mut memory_pin,
            logged_in: &mut logged_in,
            brokered: &mut brokered,
            recent: &mut recent,
            tests: tests.as_ref(),
        };
        let error = once(&config, &tls, &updates, &commands, &handle, &mut link).await;
        for (mailbox, answer) in brokered.hub_lost() {
            let _ = mailbox.try_send(answer);
        }
        if updates.is_closed() {
            return;
        }
        if logged_in {
            backoff = limits::RECONNECT_MIN;
        }
        let retry_in = (!error.is_fatal()).then(|| {
            let wait = match &error {
                Error::TooManyAttempts { retry_in } => (*retry_in).max(backoff),
                _ => backoff,
            };
            jitter(wait)
        });
        let fatal = retry_in.is_none();
        if updates
            .send(Update::Disconnected {
                reason: Arc::new(error),
                retry_in,
            })
            .await
            .is_err()
            || fatal
        {
            return;
        }
        if let Some(wait) = retry_in {
            async_io::Timer::after(wait).await;
        }
        backoff = next_backoff(backoff);
    }
}

/// The delay after `current`: doubling up to [`limits::RECONNECT_MAX`].
fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(limits::RECONNECT_MAX)
}

/// ±25 % so that many clients do not reconnect in lockstep after a hub restart.
fn jitter(d: Duration) -> Duration {
    let factor = 0.75 + rand::random::<f64>() * 0.5;
    d.mul_f64(factor)
}

/// What one connection attempt updates for the next.
struct Link<'a> {
    /// The hub's fingerprint, pinned in memory when there is no pin store.
    memory_pin: &'a mut Option<ClientId>,
    /// Whether this attempt logged in (the backoff starts over).
    logged_in: &'a mut bool,
    /// Which transfers wait for which hub answers.
    brokered: &'a mut Brokered<Sender<Answer>>,
    /// Messages seen lately, across reconnects: a repeated one is dropped.
    recent: &'a mut Recent,
    /// Where link tests go to be answered; `None`: they are declined.
    tests: Option<&'a Sender<IncomingOffer>>,
}

async fn once(
    config: &Config,
    tls: &TlsConnector,
    updates: &Sender<Update>,
    commands: &Receiver<Command>,
    handle: &Handle,
    link: &mut Link<'_>,
) -> Error {
    let start = Instant::now();
    let deadline = start + config.timing.login_deadline;
    let (stream, info) =
        match net::until(deadline, net::connect_tls(&config.hub, tls.clone())).await {
            Ok(ok) => ok,
            Err(e) => return e.into(),
        };
    let on_loopback = stream
        .get_ref()
        .0
        .peer_addr()
        .is_ok_and(|a| a.ip().to_canonical().is_loopback());
    *lock(&handle.shared.hub_on_loopback) = on_loopback;
    // Check the pin before a single login byte is sent.
    let pinned = match &config.pins {
        Some(store) => match store.get(&config.hub) {
            Ok(p) => p,
            Err(e) => return e.into(),
        },
        None => *link.memory_pin,
    };
    if let Some(pinned) = pinned
        && pinned != info.hub
    {
        return Error::HubChanged {
            pinned,
            presented: info.hub,
        };
    }
    let mut ws = match net::until(deadline, net::upgrade(stream)).await {
        Ok(ws) => ws,
        Err(e) => return e.into(),
    };
    // A hub we logged in to before (its pin is known) may remember this device: try
    // that first; the password (if any) follows on the same connection if not.
    let mut session = Session::new(
        config.password.clone(),
        config.profile.clone(),
        config.timing,
        start,
    )
    .remembering(pinned.is_some(), config.remember);
    if let Err(e) = session.handle_connected(info.channel, Instant::now()) {
        return e;
    }
    let mut timer = async_io::Timer::never();
    loop {
        // Send what the session queued, then report its events.
        let mut wrote = false;
        while let Some(frame) = session.poll_transmit() {
            if ws
                .feed(WsMessage::Binary(proto::encode(&frame).into()))
                .await
                .is_err()
            {
                return Error::ConnectionLost;
            }
            wrote = true;
        }
        if wrote && ws.flush().await.is_err() {
            return Error::ConnectionLost;
        }
        while let Some(event) = session.poll_event() {
            let update = match event {
                Event::LoggedIn {
                    you,
                    contacts,
                    time,
                } => {
                    let first_contact = pinned.is_none();
                    if first_contact {
                        *link.memory_pin = Some(info.hub);
                        if let Some(store) = &config.pins
                            && let Err(e) = store.set(&config.hub, info.hub)
                        {
                            return e.into();
                        }
                    }
                    *link.logged_in = true;
                    *lock(&handle.shared.hub_id) = Some(info.hub);
                    let welcome = Welcome {
                        you,
                        hub: info.hub,
                        first_contact,
                        remembered: session.is_remembered(),
                        contacts,
                        time,
                    };
                    Update::Connected {
                        handle: handle.clone(),
                        welcome,
                    }
                }
                Event::Message(m) if !link.recent.first_time(&m) => continue,
                Event::Offer(offer) if offer.manifest.test.is_some() => {
                    // Answered by ourselves (or declined when busy, or when the user
                    // turned answering off), never shown.
                    let id = offer.id;
                    let reason = match link.tests {
                        Some(tests) => tests.try_send(offer).err().map(|_| Declined::ByUser),
                        None => Some(Declined::NoLinkTests),
                    };
                    if let Some(reason) = reason
                        && let Err(e) = session.decline(id, reason, Instant::now())
                    {
                        return e;
                    }
                    continue;
                }
                other => {
                    // A transfer's own answers go to it alone.
                    if let Some((mailbox, answer)) = link.brokered.route(&other) {
                        let _ = mailbox.try_send(answer);
                        link.brokered.settle(&other);
                        link.brokered.retain(|m| !m.is_closed());
                        continue;
                    }
                    Update::Event(other)
                }
            };
            if updates.send(update).await.is_err() {
                return Error::NotConnected;
            }
        }
        if let Some(at) = session.poll_timeout() {
            timer.set_at(at);
        }
        let ready = session.is_ready();
        let mut command = pin!(
            async {
                if ready {
                    commands.recv().await.ok()
                } else {
                    std::future::pending().await
                }
            }
            .fuse()
        );
        let now_result = futures::select_biased! {
            msg = ws.next().fuse() => {
                let now = Instant::now();
                match msg {
                    Some(Ok(WsMessage::Binary(bytes))) => match proto::decode_server(&bytes) {
                        Ok(frame) => session.handle_frame(frame, now),
                        Err(e) => Err(e.into()),
                    },
                    Some(Ok(WsMessage::Close(frame))) => Err(match frame {
                        Some(f) if crate::proto::CloseReason::from_text(&f.reason)
                            == Some(crate::proto::CloseReason::Banned) => Error::Banned,
                        Some(f) => Error::Closed { code: f.code.into(), reason: f.reason.to_string() },
                        None => Error::ConnectionLost,
                    }),
                    Some(Ok(WsMessage::Text(_))) => Err(Error::Unexpected),
                    Some(Ok(_)) => Ok(()),
                    Some(Err(_)) | None => Err(Error::ConnectionLost),
                }
            }
            cmd = command => {
                let now = Instant::now();
                match cmd {
                    Some(Command::Send { id, to, text }) => session.send_message(id, to, text, now),
                    Some(Command::Typing(to)) => session.typing(to, now),
                    Some(Command::Read { from, id }) => session.mark_read(from, id, now),
                    Some(Command::SetProfile(p)) => session.set_profile(p, now),
                    Some(Command::GetAvatar(id)) => session.request_avatar(id, now),
                    Some(Command::Offer { to, manifest, addrs, wait, answers }) => {
                        let tag = link.brokered.offer(answers);
                        session.offer(tag, to, manifest, addrs, wait, now)
                    }
                    Some(Command::Reclaim { id, addrs, answers }) => {
                        link.brokered.accept(id, answers);
                        session.reclaim(id, addrs, now)
                    }
                    Some(Command::Accept { id, files, addrs, answers }) => {
                        link.brokered.accept(id, answers);
                        session.accept(id, files, addrs, now)
                    }
                    Some(Command::Decline { id, reason }) => session.decline(id, reason, now),
                    Some(Command::Cancel(id)) => session.cancel(id, now),
                    Some(Command::Reachback(port)) => session.reachback(port, now),
                    None => Ok(()),
                }
            }
            _ = FutureExt::fuse(&mut timer) => session.handle_timeout(Instant::now()),
        };
        if let Err(error) = now_result {
            // Say goodbye properly (a LoginAbort, for instance) before giving up.
            while let Some(frame) = session.poll_transmit() {
                let _ = ws
                    .feed(WsMessage::Binary(proto::encode(&frame).into()))
                    .await;
            }
            let _ = ws.close(None).await;
            return error;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One contact running connection checks in a loop gets its share of the minute;
    /// another contact's check is still answered.
    #[test]
    fn one_prober_takes_only_its_share_of_link_tests() {
        let (mallory, ada) = (ClientId([1; 32]), ClientId([2; 32]));
        let t0 = Instant::now();
        let mut answered = Answered::default();
        let mut admitted = 0;
        for n in 0..20 {
            let at = t0 + Duration::from_millis(n * 100);
            if answered.admit(mallory, at) {
                admitted += 1;
                answered.record(at, mallory, 1 << 20);
            }
        }
        assert_eq!(admitted, limits::LINK_TESTS_PER_PROBER);
        assert!(answered.admit(ada, t0 + Duration::from_secs(3)));
        // Bytes too: two whole tests' worth, then none until the minute has passed.
        let mut answered = Answered::default();
        answered.record(t0, mallory, limits::LINK_TEST_MAX_BYTES);
        answered.record(t0, mallory, limits::LINK_TEST_MAX_BYTES);
        assert!(!answered.admit(mallory, t0 + Duration::from_secs(1)));
        assert!(answered.admit(ada, t0 + Duration::from_secs(1)));
        assert!(answered.admit(mallory, t0 + Duration::from_secs(61)));
    }

    #[test]
    fn backoff_doubles_from_min_to_max_with_bounded_jitter() {
        let mut d = limits::RECONNECT_MIN;
        let mut steps = vec![d];
        while d < limits::RECONNECT_MAX {
            d = next_backoff(d);
            steps.push(d);
        }
        assert_eq!(steps.first(), Some(&Duration::from_millis(500)));
        assert_eq!(steps.last(), Some(&Duration::from_secs(30)));
        assert_eq!(next_backoff(limits::RECONNECT_MAX), limits::RECONNECT_MAX);
        for _ in 0..1000 {
            let j = jitter(Duration::from_secs(4));
            assert!(
                j >= Duration::from_secs(3) && j <= Duration::from_secs(5),
                "{j:?}"
            );
        }
    }

    fn assert_send<T: Send + 'static>(_: &T) {}

    /// The drivers' futures and streams can move between threads (GUI executors need it).
    #[test]
    fn drivers_are_send() {
        let id = crate::identity::Identity::generate().unwrap();
        let config = Config::new(
            "127.0.0.1:1",
            id,
            Password::new("pw"),
            Profile::with_name("x"),
        );
        assert_send(&connect(config));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let listener = async_net::TcpListener::try_from(std_listener).unwrap();
        let mut rng = rand::thread_rng();
        let secret = crate::auth::HubSecret::register(&mut rng, &Password::new("pw")).unwrap();
        let hub_config =
            crate::hub::Config::new(crate::identity::Identity::generate().unwrap(), secret);
        assert_send(&crate::hub::serve(
            listener,
            hub_config,
            std::future::pending::<()>(),
        ));
    }
}
