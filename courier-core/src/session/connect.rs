//! The session driver: [`connect`] starts it and returns its [`Updates`]; the reconnect
//! loop here runs one connection after another (`connection.rs`: connect, check the pin,
//! log in, pump frames) with jittered exponential backoff between them.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use futures::Stream;
use futures_rustls::TlsConnector;

use super::connection::{self, Lasting};
use super::handle::{Command, Shared};
use super::{Error, Event, Handle, SharedError, Timing};
use crate::auth::Password;
use crate::identity::{Identity, PinStore};
use crate::proto::{ClientId, Contact, Profile, Timestamp};
use crate::seal::{KeyPolicy, Keyring};
use crate::{limits, tls};

/// What a session needs to connect.
///
/// Link tests (`courier doctor --peer` from another member) are declined
/// ([`Declined::NoLinkTests`](crate::proto::Declined::NoLinkTests)) unless the front
/// end answers them by wrapping the [`Updates`] in `transfer::answer_link_tests`.
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
    /// What others see of us. A profile set later through the [`Handle`] replaces it,
    /// also for the logins after a reconnect.
    pub profile: Profile,
    /// Ask the hub to keep the profile it knows us by: `profile` is then only for a hub
    /// that does not know us yet (a command given no name renames nobody). Ends with the
    /// first profile set through the [`Handle`] (default: no).
    pub keep_profile: bool,
    /// Take the messages the hub stored for us while we were away (default: yes). A
    /// session that shows no messages (a one-shot command) leaves them stored, for the
    /// next session that does.
    pub take_mailbox: bool,
    /// Where pinned hub fingerprints live; `None` pins in memory only.
    pub pins: Option<PinStore>,
    /// Heartbeat and login timing.
    pub timing: Timing,
    /// Where this device's end-to-end keys live (default: in memory, for as long as
    /// the [`Updates`] run).
    pub keys: KeyStore,
}

/// Where a session keeps this device's end-to-end keys ([`crate::seal::Keyring`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyStore {
    /// In memory: made at [`connect`], gone when its [`Updates`] are dropped (tests,
    /// bots that live as long as their session).
    #[default]
    Memory,
    /// `keys.db` in this profile folder (the one the identity lives in): kept across
    /// runs, and shared by every process of the profile.
    Folder(std::path::PathBuf),
    /// None: the session publishes no keys, sends no message and opens none (a check
    /// of the connection, which must change nothing: publishing keys of its own would
    /// replace the device's).
    None,
}

impl KeyStore {
    /// Opens the keyring for `identity` (`None` for [`KeyStore::None`]), with the
    /// default policy until the hub's `Welcome` says how long it keeps messages.
    ///
    /// # Errors
    /// If `keys.db` cannot be opened or read, or the keys cannot be made.
    pub fn open(&self, identity: &Identity) -> Result<Option<Keyring>, crate::seal::KeyError> {
        let policy = KeyPolicy::default();
        let now = Timestamp::now();
        match self {
            Self::Memory => Keyring::in_memory(identity, policy, now).map(Some),
            Self::Folder(dir) => Keyring::open(dir, identity, policy, now).map(Some),
            Self::None => Ok(None),
        }
    }
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
            keep_profile: false,
            take_mailbox: true,
            pins: None,
            timing: Timing::default(),
            keys: KeyStore::Memory,
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
/// exponential backoff. The returned [`Updates`] end only after a fatal error
/// ([`Error::is_fatal`]); dropping them disconnects. Link tests are declined unless the
/// updates are wrapped in `transfer::answer_link_tests`.
///
/// # Examples
/// ```no_run
/// # use courier_core::{auth::Password, identity::Identity, proto::{Profile, Target}, session};
/// use futures::StreamExt;
/// smol::block_on(async {
///     let config = session::Config::new("127.0.0.1:8977", Identity::generate()?,
///         Password::new("pw"), Profile::with_name("bot"));
///     let mut updates = session::connect(config);
///     while let Some(update) = updates.next().await {
///         if let session::Update::Connected { handle, .. } = update {
///             handle.send_message(Target::Everyone, "hello").await?;
///         }
///     }
///     # Ok::<(), Box<dyn std::error::Error>>(())
/// });
/// ```
pub fn connect(config: Config) -> Updates {
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
            link_tests: std::sync::Mutex::new(None),
        }),
    };
    // The driver yields nothing itself; it feeds `updates_rx`, and runs while the
    // updates are polled: exactly as long as someone holds them.
    let driver = run(config, updates_tx, commands_rx, handle.clone());
    Updates {
        handle,
        updates: Box::pin(updates_rx),
        beside: vec![Box::pin(driver)],
    }
}

/// Work that runs while [`Updates`] are polled.
type Beside = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The stream of a running session's [`Update`]s, as [`connect`] returns it: the
/// session's driver (and any work put beside it, such as a link-test answerer) runs
/// while it is polled, and stops when it is dropped. Nothing is spawned, so any executor
/// can poll it.
pub struct Updates {
    handle: Handle,
    updates: Pin<Box<Receiver<Update>>>,
    /// The driver, then what was put beside it; each is dropped once done.
    beside: Vec<Beside>,
}

impl std::fmt::Debug for Updates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Updates")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl Updates {
    /// The session's handle, usable at once: commands given before the login wait for
    /// it. [`Update::Connected`] hands out the same handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `work` beside the driver, as long as these updates are polled.
    #[must_use]
    pub(crate) fn beside(mut self, work: impl Future<Output = ()> + Send + 'static) -> Self {
        self.beside.push(Box::pin(work));
        self
    }
}

impl Stream for Updates {
    type Item = Update;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Update>> {
        let this = &mut *self;
        this.beside
            .retain_mut(|work| work.as_mut().poll(cx).is_pending());
        this.updates.as_mut().poll_next(cx)
    }
}

/// The reconnect loop: one connection after another until a fatal error, or until
/// nobody reads the updates.
async fn run(config: Config, updates: Sender<Update>, commands: Receiver<Command>, handle: Handle) {
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
    let keyring = match config.keys.open(&config.identity) {
        Ok(k) => k,
        Err(e) => {
            let _ = updates
                .send(Update::Disconnected {
                    reason: Arc::new(Error::Keys(e)),
                    retry_in: None,
                })
                .await;
            return;
        }
    };
    let mut lasting = Lasting {
        keyring,
        ..Lasting::default()
    };
    let mut backoff = Backoff::default();
    loop {
        let ended =
            connection::once(&config, &tls, &updates, &commands, &handle, &mut lasting).await;
        for (mailbox, answer) in lasting.brokered.hub_lost() {
            let _ = mailbox.try_send(answer);
        }
        if updates.is_closed() {
            return;
        }
        let error = ended.error;
        let wait = backoff.after(&error, ended.logged_in, Instant::now());
        let retry_in = (!error.is_fatal()).then(|| jitter(wait));
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
    }
}

/// How long the reconnect loop waits before its next try (before [`jitter`]): from
/// [`limits::RECONNECT_MIN`], doubling up to [`limits::RECONNECT_MAX`] while the hub
/// cannot be reached, and back to the minimum after a login. A hub that said it is
/// shutting down is most likely restarting (an upgrade, `systemctl restart`): for
/// [`limits::RESTART_GRACE`] after its goodbye the wait stays at the minimum, so that
/// clients refused while it comes up (not yet listening, or its room for unfinished
/// logins full) are back within seconds, not after a backoff of tens.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    /// Until when the hub is taken to be restarting.
    restarting_until: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: limits::RECONNECT_MIN,
            restarting_until: None,
        }
    }
}

impl Backoff {
    /// The wait after a connection that ended with `error` (having logged in or not).
    fn after(&mut self, error: &Error, logged_in: bool, now: Instant) -> Duration {
        if logged_in {
            self.next = limits::RECONNECT_MIN;
        }
        if matches!(error, Error::HubShutdown) {
            self.restarting_until = Some(now + limits::RESTART_GRACE);
            self.next = limits::RECONNECT_MIN;
        }
        let wait = match error {
            Error::TooManyAttempts { retry_in } => (*retry_in).max(self.next),
            _ => self.next,
        };
        let restarting = self.restarting_until.is_some_and(|until| now < until);
        self.next = if restarting {
            limits::RECONNECT_MIN
        } else {
            next_backoff(self.next)
        };
        wait
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// After a hub restart every client draws its first retry from the same backoff:
    /// the draws must spread over the whole ±25 % band (not bunch at one instant), so
    /// that the hub sees the reconnects arrive over a quarter of a second and more.
    #[test]
    fn many_clients_spread_their_retries_over_the_jitter_band() {
        let base = limits::RECONNECT_MIN;
        let draws: Vec<Duration> = (0..2000).map(|_| jitter(base)).collect();
        let (lo, hi) = (base.mul_f64(0.75), base.mul_f64(1.25));
        assert!(draws.iter().all(|d| *d >= lo && *d <= hi), "bounded");
        // Ten slices of the band: each holds some of the 2000 draws (about 200 each);
        // none holds most of them.
        let mut slices = [0usize; 10];
        for d in &draws {
            let at = (d.saturating_sub(lo).as_secs_f64() / (hi - lo).as_secs_f64() * 10.0) as usize;
            slices[at.min(9)] += 1;
        }
        assert!(slices.iter().all(|n| *n >= 100 && *n <= 400), "{slices:?}");
    }

    /// After the hub said goodbye, tries stay at the minimum for the grace period
    /// (however often it is not back yet), then double again as for any lost hub.
    #[test]
    fn after_a_goodbye_retries_stay_brisk_for_the_grace_period() {
        let now = Instant::now();
        let mut b = Backoff::default();
        let lost = || Error::ConnectionLost;
        // A hub that cannot be reached: doubling.
        let waits: Vec<Duration> = (0..4).map(|_| b.after(&lost(), false, now)).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000].map(Duration::from_millis));
        // It says goodbye after a login: every retry within the grace is the minimum.
        assert_eq!(
            b.after(&Error::HubShutdown, true, now),
            limits::RECONNECT_MIN
        );
        for k in 1..20u32 {
            let t = now + limits::RESTART_GRACE * k / 20;
            assert_eq!(b.after(&lost(), false, t), limits::RECONNECT_MIN, "try {k}");
        }
        // Past it, the backoff grows again.
        let past = now + limits::RESTART_GRACE;
        let waits: Vec<Duration> = (0..3).map(|_| b.after(&lost(), false, past)).collect();
        assert_eq!(waits, [500, 1000, 2000].map(Duration::from_millis));
        // A hub's own "too many attempts" still wins over the brisk pace.
        let mut b = Backoff::default();
        let _ = b.after(&Error::HubShutdown, true, now);
        let retry_in = Duration::from_secs(7);
        assert_eq!(
            b.after(&Error::TooManyAttempts { retry_in }, false, now),
            retry_in
        );
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
