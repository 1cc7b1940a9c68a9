//! What the app looks up on the network in tasks and subscriptions: the connection
//! check and the browse for hubs (the Join list).

use std::path::PathBuf;

use courier_core::discovery::{self, Checked, FoundHub, Seen};
use courier_core::identity::{Identity, Pin, PinStore};
use courier_core::proto::Profile;
use iced::Task;

use super::{Courier, Message, Screen};

/// A connection check ([`courier_core::doctor`]) as this app would run it: the hub, as
/// whom, and what the app's folder and settings say about how.
#[derive(Debug, Clone)]
pub(super) struct CheckOf {
    /// The profile folder (identity, pins).
    pub dir: PathBuf,
    /// The hub's address.
    pub hub: String,
    /// Its password (empty: this computer is remembered there, or none is known).
    pub password: String,
    /// The profile to log in with.
    pub profile: Profile,
    /// Look for hubs by mDNS too.
    pub discover: bool,
    /// A contact (their id) whose link is tested too.
    pub peer: Option<String>,
    /// Whether the check's session answers others' link tests: the user's setting, as
    /// the app's own session does.
    pub answer_link_tests: bool,
}

impl CheckOf {
    /// The doctor's check, as the device `identity`.
    pub(super) fn check(self, identity: Identity) -> courier_core::doctor::Check {
        courier_core::doctor::Check {
            hub: Some(self.hub.clone()),
            fallback: self.hub,
            identity,
            pins: PinStore::new(&self.dir),
            password: (!self.password.is_empty())
                .then(|| courier_core::auth::Password::new(&self.password)),
            profile: self.profile,
            listen: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            port_hint: String::new(),
            discover: self.discover,
            peer: self.peer,
            run: courier_core::limits::LINK_TEST_RUN,
            answer_link_tests: self.answer_link_tests,
        }
    }
}

impl Courier {
    /// A connection check of `hub` (with `password`, as `profile`) by this app, with a
    /// link test to `peer` (a contact's id) if given.
    pub(super) fn check_of(
        &self,
        (hub, password, profile): (String, String, Profile),
        peer: Option<String>,
    ) -> CheckOf {
        CheckOf {
            dir: self.dir.clone(),
            hub,
            password,
            profile,
            discover: self.discovery,
            peer,
            answer_link_tests: self.settings.answer_link_tests,
        }
    }
}

/// Runs the connection check `of`: each step as it is found, then `None`.
pub(super) fn connection_check(
    of: CheckOf,
) -> impl futures::Stream<Item = Option<courier_core::doctor::Finding>> {
    use courier_core::doctor::{self, Finding};
    iced::stream::channel(16, async move |mut found| {
        use futures::SinkExt as _;
        let at = of.dir.clone();
        match smol::unblock(move || Identity::load_or_create(&at)).await {
            Ok(identity) => {
                let (tx, rx) = async_channel::unbounded();
                let run = doctor::run(of.check(identity), move |f| {
                    let _ = tx.try_send(f);
                });
                let forward = async {
                    while let Ok(f) = rx.recv().await {
                        let _ = found.send(Some(f)).await;
                    }
                };
                futures::join!(run, forward);
            }
            Err(e) => {
                let finding = Finding {
                    step: "identity",
                    ok: false,
                    text: format!("this computer's identity: {e}"),
                };
                let _ = found.send(Some(finding)).await;
            }
        }
        let _ = found.send(None).await;
    })
}

/// Browses the network for hubs as long as the subscription runs (the login screen
/// shows); nothing when mDNS cannot run here. Public for the end-to-end test of the
/// Join list, which feeds it to the app as the runtime does.
pub fn discover() -> impl futures::Stream<Item = Message> {
    use futures::StreamExt as _;
    futures::stream::once(smol::unblock(courier_core::discovery::Browser::start))
        .filter_map(|started| async move { started.ok() })
        .flat_map(|browser| {
            futures::stream::unfold(browser, |mut b| async move {
                b.next_async()
                    .await
                    .map(|seen| (Message::Discovered(seen), b))
            })
        })
}

impl Courier {
    /// Browsing saw a hub come or go. A hub that came is listed once this computer's
    /// pins are read (off the window's thread): its advertisement is a claim, never
    /// known, until a TLS handshake (no login) shows its certificate.
    pub(super) fn discovered(&mut self, seen: Seen) -> Task<Message> {
        let Screen::Login(login) = &mut self.screen else {
            return Task::none();
        };
        match seen {
            Seen::Found(hub) => {
                let pins = PinStore::new(&self.dir);
                Task::perform(
                    smol::unblock(move || pins.all().unwrap_or_default()),
                    move |pins| Message::Listed(hub, pins),
                )
            }
            lost @ Seen::Lost(_) => {
                let gone = Checked {
                    certificate: None,
                    standing: discovery::Standing::New,
                };
                login.discovered(lost, gone);
                Task::none()
            }
        }
    }

    /// Lists a hub seen by browsing, judged by `pins`, and checks its certificate (at
    /// most [`discovery::MAX_PROBED`] at a time; past that, it stays unchecked).
    pub(super) fn listed(&mut self, hub: FoundHub, pins: Vec<Pin>) -> Task<Message> {
        let Screen::Login(login) = &mut self.screen else {
            return Task::none();
        };
        let unchecked = Checked {
            certificate: None,
            standing: discovery::classify(&hub, &pins, None),
        };
        login.discovered(Seen::Found(hub.clone()), unchecked);
        if self.probing >= discovery::MAX_PROBED {
            return Task::none();
        }
        self.probing += 1;
        Task::perform(
            async move {
                let checked = discovery::check(&hub, &pins, discovery::PROBE_WITHIN).await;
                (hub, checked)
            },
            |(hub, checked)| Message::HubChecked(hub, checked),
        )
    }

    pub(super) fn hub_checked(&mut self, hub: &FoundHub, checked: Checked) -> Task<Message> {
        self.probing = self.probing.saturating_sub(1);
        let mut learn = Task::none();
        if let (discovery::Standing::Known, Some(certificate)) =
            (checked.standing, checked.certificate)
        {
            // Seen holding a pinned certificate: the name it goes by is the one this
            // computer knows it by (an impostor using it is told apart).
            let (pins, name) = (PinStore::new(&self.dir), hub.name.clone());
            learn = Task::future(smol::unblock(move || {
                let _ = pins.learn_name(certificate, &name);
            }))
            .discard();
        }
        if let Screen::Login(login) = &mut self.screen {
            login.checked(hub, checked);
        }
        learn
    }
}
