//! Shared client plumbing: build a session from the common options, wait for login, keep
//! the contact list current, resolve recipients.

use std::path::PathBuf;
use std::pin::Pin;

use anyhow::{Context, Result, anyhow, bail};
use courier_core::auth::Password;
use courier_core::contacts::{self, Contacts, Groups};
use courier_core::discovery::{self, Standing};
use courier_core::history::{History, State};
use courier_core::identity::{Identity, PinStore};
use courier_core::proto::{
    ClientId, Contact, GroupId, MsgId, Profile, Target, Timestamp, validate_profile,
};
use courier_core::session::{self, Event, Handle, Update};
use courier_core::transfer;
use futures::{Stream, StreamExt};

use crate::args::{ClientArgs, LOCAL_HUB};
use crate::output::safe;
use crate::password;

mod named;
pub(crate) mod trust;

pub(crate) type Updates = Pin<Box<dyn Stream<Item = Update> + Send>>;

/// This hub's history in the profile folder, with the names in the contact list; a
/// problem with it is said once and the command goes on without.
fn open_history(args: &ClientArgs, hub: &ClientId, contacts: &[Contact]) -> Option<History> {
    let dir = profile_dir(args).ok()?;
    let opened = History::open(&dir, hub).and_then(|mut h| {
        h.names(contacts.iter().map(|c| (c.id, c.profile.name.as_str())))?;
        Ok(h)
    });
    match opened {
        Ok(h) => Some(h),
        Err(e) => {
            eprintln!("courier: the history is not kept: {e}");
            None
        }
    }
}

/// Why a login did not happen.
enum LoginError {
    /// The hub does not remember this device, and no password was given.
    NotRemembered,
    /// Anything else, as said to the user.
    Other(anyhow::Error),
}

impl LoginError {
    fn into_anyhow(self) -> anyhow::Error {
        match self {
            Self::NotRemembered => anyhow!(session::Error::NotRemembered),
            Self::Other(e) => e,
        }
    }
}

/// A logged-in session and what we know of the others.
pub(crate) struct Client {
    pub(crate) updates: Updates,
    pub(crate) handle: Handle,
    pub(crate) me: ClientId,
    pub(crate) contacts: Contacts,
    /// Our groups: known once the hub's list came after login ([`Client::wait_groups`]).
    pub(crate) groups: Groups,
    /// The name of every group seen in this run, kept after we leave one (to name it).
    group_names: std::collections::BTreeMap<GroupId, String>,
    pub(crate) hub: String,
    /// This hub's history in the profile folder; `None` if it cannot be used (said once
    /// on stderr: the command itself goes on).
    pub(crate) history: Option<History>,
    /// The devices this profile verified ([`trust`]).
    pub(crate) verified: contacts::Verified,
}

pub(crate) fn profile_dir(args: &ClientArgs) -> Result<PathBuf> {
    match &args.profile_dir {
        Some(d) => Ok(d.clone()),
        None => directories::ProjectDirs::from("", "", "courier")
            .map(|d| d.config_dir().to_owned())
            .context("cannot find a home directory; pass --profile-dir"),
    }
}

/// A hub found on the network whose certificate was seen: its advertised name is
/// remembered for its pin once this client logs in to that very certificate.
struct Verified {
    name: String,
    certificate: ClientId,
}

/// The hub to use when none is given: the only one on this network (found by mDNS), or
/// the local one when none answers; several are listed for the user to choose.
///
/// Its advertisement is only a claim: a TLS handshake (no login) shows its certificate
/// first. A hub that claims to be one this client knows (by name, address or
/// fingerprint) with another certificate, or that advertises a certificate it does not
/// show, is refused with a warning: the password is never offered to it unasked.
async fn found_hub(args: &ClientArgs) -> Result<(String, Option<Verified>)> {
    let found = smol::unblock(|| discovery::find(FIND_FOR)).await;
    let hubs: Vec<_> = match found {
        Ok(hubs) => hubs.into_iter().filter(|h| h.compatible()).collect(),
        Err(e) => {
            eprintln!("courier: cannot look for hubs on the network ({e}); trying {LOCAL_HUB}");
            return Ok((LOCAL_HUB.to_owned(), None));
        }
    };
    match hubs.as_slice() {
        [] => Ok((LOCAL_HUB.to_owned(), None)),
        [hub] => {
            let address = hub.addresses.first().copied();
            let address = address.context("the hub found has no address")?;
            let dir = profile_dir(args)?;
            let store = PinStore::new(&dir);
            let pins = store
                .all()
                .with_context(|| format!("reading the hub pins in {}", dir.display()))?;
            let checked = discovery::check(hub, &pins, discovery::PROBE_WITHIN).await;
            let name = courier_core::text::terminal_line(&hub.name);
            // A computer that has met hubs uses, unasked, only a hub it has met: a new one
            // (another network, or an insider's hub while the real one is away) is named
            // with --hub, so the password is never offered to it by itself.
            if let Some(warning) = checked.refusal(&name, !pins.is_empty()) {
                bail!(
                    "not using the hub found at {address}: it {warning} (give the hub you mean \
                     with --hub)"
                );
            }
            let address = address.to_string();
            if let (Standing::Known, Some(certificate)) = (checked.standing, checked.certificate) {
                // The hub this client knows, maybe at a new address: the login checks
                // the certificate just seen (never a first contact with whatever answers
                // next), and the name it goes by is kept current.
                let keep = || -> Result<(), courier_core::identity::Error> {
                    if store.get(&address)?.is_none() {
                        store.set(&address, certificate)?;
                    }
                    store.learn_name(certificate, &hub.name).map(drop)
                };
                keep().with_context(|| format!("keeping the hub pins in {}", dir.display()))?;
            }
            eprintln!(
                "courier: using the hub on this network: {name} at {address} (--hub chooses another)"
            );
            let verified = checked.certificate.map(|certificate| Verified {
                name: hub.name.clone(),
                certificate,
            });
            Ok((address, verified))
        }
        many => bail!(
            "there are {} hubs on this network; choose one with --hub: {}",
            many.len(),
            many.iter()
                .map(|h| format!(
                    "{} ({})",
                    courier_core::text::terminal_line(&h.name),
                    h.addresses
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// How long a command waits for the list of groups after login (the hub sends it right
/// after the contact list).
const GROUPS_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a command with no hub given listens for hubs on the network.
const FIND_FOR: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) fn default_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "courier-user".to_owned())
}

impl Client {
    /// Keeps a file card whose transfer is over in the history (a problem is said on
    /// stderr; the command goes on).
    pub(crate) fn keep_transfer(&self, card: &courier_core::history::KeptTransfer) {
        if let Some(h) = &self.history
            && let Err(e) = h.keep_transfer(card)
        {
            eprintln!("courier: the history is not kept: {e}");
        }
    }

    /// Connects and logs in. With `persistent` false, the first failure is final (for
    /// one-shot commands); otherwise transient failures are retried and reported. Only a
    /// command that shows messages takes the `mailbox` (the messages stored for us);
    /// others leave it stored for the next that does. Without `--name`, the hub keeps the
    /// name it knows us by (the user name is for a hub that does not know us yet).
    pub(crate) async fn connect(
        args: &ClientArgs,
        persistent: bool,
        mailbox: bool,
    ) -> Result<Self> {
        let (hub, verified) = match &args.hub {
            Some(hub) => (hub.clone(), None),
            None => found_hub(args).await?,
        };
        let args = &ClientArgs {
            hub: Some(hub.clone()),
            ..args.clone()
        };
        let dir = profile_dir(args)?;
        let name = args.name.clone().unwrap_or_else(default_name);
        let profile = Profile::with_name(name.clone());
        validate_profile(&profile)
            .map_err(|e| anyhow!("the name {:?} is not allowed: {e}", name))?;
        let identity = Identity::load_or_create(&dir)
            .with_context(|| format!("loading the identity in {}", dir.display()))?;
        let pins = PinStore::new(&dir);
        // A password given (file or COURIER_PASSWORD) is used. Without one, a hub met
        // before may remember this device: try without, and ask only if it does not.
        let given = password::given(args.password_file.as_deref())?;
        let known_hub = pins
            .get(&hub)
            .with_context(|| format!("reading the hub pins in {}", dir.display()))?
            .is_some();
        let password = match given {
            Some(pw) => pw,
            None if known_hub => Password::new(""),
            None => password::require(args.password_file.as_deref())?,
        };
        let mut config = session::Config::new(hub.clone(), identity, password, profile);
        config.pins = Some(pins.clone());
        // This device's keys live beside its identity: every command of the profile (a
        // running `listen` and a quick `say`) uses the same ones.
        config.keys = session::KeyStore::Folder(dir.clone());
        config.remember = !args.no_remember;
        config.keep_profile = args.name.is_none();
        config.take_mailbox = mailbox;
        let client = match Self::login(args, config.clone(), persistent).await {
            Err(LoginError::NotRemembered) => {
                eprintln!("courier: this hub no longer remembers this device: enter the password");
                config.password = password::require(args.password_file.as_deref())?;
                Self::login(args, config, persistent)
                    .await
                    .map_err(LoginError::into_anyhow)
            }
            other => other.map_err(LoginError::into_anyhow),
        }?;
        // A hub found on the network and logged in to with the certificate it showed
        // before: its name is now one this client knows it by.
        if let Some(found) = verified
            && pins.get(&hub).ok().flatten() == Some(found.certificate)
            && let Err(e) = pins.learn_name(found.certificate, &found.name)
        {
            eprintln!("courier: the hub's name is not kept with its pin: {e}");
        }
        Ok(client)
    }

    async fn login(
        args: &ClientArgs,
        config: session::Config,
        persistent: bool,
    ) -> Result<Self, LoginError> {
        let hub = config.hub.clone();
        let updates = session::connect(config);
        // Contacts' connection checks are answered unless the user said not to.
        let updates = if args.no_link_tests {
            updates
        } else {
            transfer::answer_link_tests(updates, transfer::Options::default())
        };
        // A group's changes wait for its name (see `named`).
        let mut named = named::Named::default();
        let updates = updates.flat_map(move |u| futures::stream::iter(named.feed(u)));
        let mut updates: Updates = Box::pin(updates);
        loop {
            match updates.next().await {
                Some(Update::Connected { handle, welcome }) => {
                    if welcome.first_contact {
                        eprintln!(
                            "First contact with the hub at {}: safety code {}\n\
                             Compare it with the code the hub printed; it is pinned from now on.",
                            hub,
                            welcome.hub.safety_code()
                        );
                    }
                    let history = open_history(args, &welcome.hub, &welcome.contacts);
                    let contacts = Contacts::new(welcome.contacts);
                    let verified =
                        contacts::Verified::new(&profile_dir(args).map_err(LoginError::Other)?);
                    let client = Self {
                        updates,
                        me: welcome.you,
                        handle,
                        contacts,
                        groups: Groups::new(),
                        group_names: std::collections::BTreeMap::new(),
                        hub: hub.clone(),
                        history,
                        verified,
                    };
                    client.follow_names(None);
                    return Ok(client);
                }
                Some(Update::Disconnected { reason, .. })
                    if matches!(*reason, session::Error::NotRemembered) =>
                {
                    return Err(LoginError::NotRemembered);
                }
                Some(Update::Disconnected { reason, retry_in }) => {
                    let err = anyhow!(reason).context(format!("hub {hub}"));
                    match retry_in {
                        Some(wait) if persistent => {
                            eprintln!("courier: {err:#}; retrying in {:.1}s", wait.as_secs_f64());
                        }
                        _ => return Err(LoginError::Other(err)),
                    }
                }
                Some(Update::Event(_)) => {}
                None => return Err(LoginError::Other(anyhow!("the session ended before login"))),
            }
        }
    }

    /// Takes one update from the session: keeps contacts current, reports reconnects on
    /// stderr, and returns the event to show, if any. A fatal disconnect is an error.
    pub(crate) fn absorb(&mut self, update: Update) -> Result<Option<Event>> {
        match update {
            Update::Event(event) => {
                self.apply(&event);
                Ok(Some(event))
            }
            Update::Disconnected {
                reason,
                retry_in: Some(wait),
            } => {
                eprintln!(
                    "courier: {reason}; reconnecting in {:.1}s",
                    wait.as_secs_f64()
                );
                Ok(None)
            }
            Update::Disconnected {
                reason,
                retry_in: None,
            } => Err(anyhow!(reason).context(format!("hub {}", self.hub))),
            Update::Connected { handle, welcome } => {
                eprintln!("courier: reconnected");
                self.handle = handle;
                self.contacts.extend(welcome.contacts);
                Ok(None)
            }
        }
    }

    /// Keeps the contact list current, and the history: what arrived, what became of
    /// what we sent.
    pub(crate) fn apply(&mut self, event: &Event) {
        if self.contacts.apply(event)
            && let Event::Contact(c) = event
        {
            self.follow_names(Some(c.id));
        }
        self.groups.apply(event);
        let named: Vec<(GroupId, &str)> = match event {
            Event::Groups(all) => all.iter().map(|g| (g.id, g.name.as_str())).collect(),
            Event::Group(g) => vec![(g.id, g.name.as_str())],
            Event::GroupEvent(e) => match &e.change {
                courier_core::proto::GroupChange::Created { name } => {
                    vec![(e.group, name.as_str())]
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        for (id, name) in &named {
            self.group_names.insert(*id, (*name).to_owned());
        }
        let Some(history) = &mut self.history else {
            return;
        };
        let kept = match event {
            Event::Message(m) => history.received(m).map(drop),
            Event::GroupEvent(e) => history.group_event(e).map(drop),
            Event::Groups(_) | Event::Group(_) => history.group_names(named),
            Event::Receipt { id, status } => history.set_state(self.me, *id, &State::of(status)),
            Event::Read { id, .. } => history.set_state(self.me, *id, &State::Read),
            Event::Contact(c) => history.names([(c.id, c.profile.name.as_str())]),
            _ => Ok(()),
        };
        if let Err(e) = kept {
            eprintln!("courier: the history is not kept: {e}");
            self.history = None;
        }
    }

    /// Sends a message and keeps it in the history.
    pub(crate) async fn send(&mut self, to: Target, text: String) -> Result<MsgId> {
        let id = self.handle.send_message(to, text.clone()).await?;
        if let Some(history) = &self.history
            && let Err(e) = history.sent(self.me, id, to, &text, Timestamp::now())
        {
            eprintln!("courier: the history is not kept: {e}");
            self.history = None;
        }
        Ok(id)
    }

    pub(crate) fn name_of(&self, id: ClientId) -> String {
        if id == self.me {
            return "me".to_owned();
        }
        self.contacts
            .get(&id)
            .map_or_else(|| id.short(), |c| c.profile.name.clone())
    }

    /// Resolves "everyone", an id (prefix) or a display name by the one rule of
    /// [`courier_core::contacts::resolve`] (an id wins over a name), or `#name` among our
    /// groups by [`courier_core::contacts::resolve_group`], once their list came. A name
    /// the user verified for another device is refused ([`Client::check_trust`]).
    pub(crate) fn resolve(&self, who: &str) -> Result<Target> {
        let target = self.resolve_any(who)?;
        self.check_trust(who, target)?;
        Ok(target)
    }

    /// [`Client::resolve`] without the verified-name check (`courier verify` compares
    /// with whichever device a name reaches).
    pub(crate) fn resolve_any(&self, who: &str) -> Result<Target> {
        if who.trim_start().starts_with('#') {
            if !self.groups.is_known() {
                bail!("the hub has not sent the list of groups yet; try again in a moment");
            }
            return Ok(Target::Group(self.groups.resolve(who)?));
        }
        match self.contacts.resolve(who) {
            Ok(target) => Ok(target),
            Err(contacts::Error::NotFound(who)) => {
                bail!("no contact named {:?} (try `courier who`)", safe(&who))
            }
            Err(e) => bail!("{e}"),
        }
    }

    /// [`Client::resolve`], waiting first for the list of our groups when `who` names a
    /// group (`#ops`).
    pub(crate) async fn target(&mut self, who: &str) -> Result<Target> {
        if who.trim_start().starts_with('#') {
            self.wait_groups().await?;
        }
        self.resolve(who)
    }

    /// Waits for the list of our groups the hub sends after login. What comes before it
    /// is kept, in order, for the command to take from `updates` as if it had not
    /// waited.
    pub(crate) async fn wait_groups(&mut self) -> Result<()> {
        let mut early = Vec::new();
        let deadline = smol::Timer::after(GROUPS_WITHIN);
        futures::pin_mut!(deadline);
        let outcome = loop {
            if self.groups.is_known() {
                break Ok(());
            }
            let next = futures_lite::future::or(self.updates.next(), async {
                (&mut deadline).await;
                None
            });
            match next.await {
                Some(Update::Event(event @ Event::Groups(_))) => {
                    self.apply(&event);
                    early.push(Update::Event(event));
                }
                Some(Update::Disconnected {
                    reason,
                    retry_in: None,
                }) => break Err(anyhow!(reason).context(format!("hub {}", self.hub))),
                Some(update) => early.push(update),
                None => break Err(anyhow!("the hub did not send the list of groups")),
            }
        };
        let rest = std::mem::replace(&mut self.updates, Box::pin(futures::stream::empty()));
        self.updates = Box::pin(futures::stream::iter(early).chain(rest));
        outcome
    }

    /// How to show a group: `#ops` (with its id when another of ours looks the same),
    /// the name it had if we left it, else `#id`.
    pub(crate) fn group_label(&self, id: GroupId) -> String {
        match (self.groups.get(&id), self.group_names.get(&id)) {
            (None, Some(name)) => format!("#{name}"),
            _ => self.groups.label(&id),
        }
    }

    /// A group's name as the hub last gave it (for `--json`), if known.
    pub(crate) fn group_name(&self, id: GroupId) -> Option<&str> {
        self.group_names.get(&id).map(String::as_str)
    }

    /// A member as a line about a group says them: "you" for us, else their name.
    pub(crate) fn person(&self, id: ClientId) -> String {
        if id == self.me {
            "you".to_owned()
        } else {
            self.name_of(id)
        }
    }

    /// Whether another contact's name looks the same (the output flags it).
    pub(crate) fn name_is_shared(&self, c: &Contact) -> bool {
        self.contacts.name_is_shared(c)
    }
}
