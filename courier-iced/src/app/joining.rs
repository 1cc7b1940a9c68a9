//! Joining and leaving a hub, and hosting one: what the login screen and the Menu start
//! and the window must not wait for. A pin is looked up, and a hub started, restarted or
//! stopped, in tasks (the hub on the hosting thread, [`crate::hosting::Worker`]); each
//! answer comes back as a message numbered by its attempt, and going back drops the
//! attempt, so that a late answer is ignored (a hub started for it is stopped).

use courier_core::identity::PinStore;
use courier_core::proto::Profile;
use iced::Task;

use super::{Courier, Message, Pending, Screen, login_screen};
use crate::hosting::{self, Started};
use crate::screen::login::HostPassword;
use crate::settings;

impl Courier {
    /// Numbers a new attempt (any older one's answer is then late).
    fn next_attempt(&mut self) -> u64 {
        self.attempt += 1;
        self.attempt
    }

    /// The pending work if `attempt` is the one awaited (taken), else `None`.
    fn take_pending(&mut self, attempt: u64) -> Option<Pending> {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.attempt() == attempt)
        {
            self.pending.take()
        } else {
            None
        }
    }

    /// Joins `hub` without a password if it is pinned here (a hub met before lets this
    /// computer in, or says it forgot it); the pins are read in a task.
    pub(super) fn check_pin(
        &mut self,
        hub: String,
        profile: Profile,
        resumed: bool,
    ) -> Task<Message> {
        let attempt = self.next_attempt();
        let (pins, address) = (PinStore::new(&self.dir), hub.clone());
        self.pending = Some(Pending::Join {
            attempt,
            hub,
            profile,
            resumed,
        });
        Task::perform(
            smol::unblock(move || pins.get(&address).ok().flatten().is_some()),
            move |known| Message::PinChecked(attempt, known),
        )
    }

    pub(super) fn pin_checked(&mut self, attempt: u64, known: bool) -> Task<Message> {
        let Some(Pending::Join {
            hub,
            profile,
            resumed,
            ..
        }) = self.take_pending(attempt)
        else {
            return Task::none();
        };
        let Screen::Login(login) = &mut self.screen else {
            return Task::none();
        };
        if !known {
            login.status = None;
            if !resumed {
                login.error = Some("Enter the hub's password.".into());
            }
            return login.focus();
        }
        self.settings.name = profile.name.clone();
        let profile = self.profile(profile);
        self.connect(hub, String::new(), profile);
        Task::none()
    }

    /// Starts the hub hosted here (on the hosting thread), then joins it. The login
    /// screen is busy meanwhile (with Cancel).
    pub(super) fn host(
        &mut self,
        profile: Profile,
        password: HostPassword,
        port: u16,
    ) -> Task<Message> {
        let (new_password, password) = match password {
            HostPassword::Set(pw) => (Some(pw.clone()), pw),
            // A hub that remembers this computer lets it in without one.
            HostPassword::Unchanged => (None, String::new()),
            HostPassword::LogIn(pw) => (None, pw),
        };
        if let Screen::Login(login) = &mut self.screen {
            login.status = Some("Starting the hub…".to_owned());
        }
        let attempt = self.next_attempt();
        self.pending = Some(Pending::Host {
            attempt,
            password,
            profile,
        });
        let start = hosting::Start {
            profile: self.dir.clone(),
            dir: settings::hub_dir(&self.dir),
            new_password,
            port,
            advertise: self.settings.advertise,
        };
        Task::perform(self.hosting.start(attempt, start), move |started| {
            Message::Hosted(attempt, started)
        })
    }

    pub(super) fn hosted(&mut self, attempt: u64, started: Started) -> Task<Message> {
        self.hub_has_password |= started.has_password;
        let Some(Pending::Host {
            password, profile, ..
        }) = self.take_pending(attempt)
        else {
            // The user went back meanwhile: the hub is not wanted.
            return match started.hub {
                Ok(running) => self.stop(running.id),
                Err(_) => Task::none(),
            };
        };
        match started.hub {
            Ok(running) => {
                let port = running.listen.port();
                self.settings.host_port = port;
                if let Screen::Login(login) = &mut self.screen {
                    login.status = Some(format!("Starting the hub on port {port}…"));
                }
                let address = running.local_address();
                self.hosted = Some(running);
                self.connect(address, password, profile);
                self.save_settings()
            }
            Err(e) => {
                if let Screen::Login(login) = &mut self.screen {
                    login.status = None;
                    login.error = Some(e);
                }
                Task::none()
            }
        }
    }

    /// Restarts the hub hosted here with a new password (it forgets every remembered
    /// computer, this one too) and logs in again with it; the chat stays open and
    /// reconnects. The session waits meanwhile, so that it never tries the old password
    /// on the new hub.
    pub(super) fn change_hub_password(&mut self, password: String) -> Task<Message> {
        let Some(hosted) = self.hosted.take() else {
            return Task::none();
        };
        let Some(server) = self.server.take() else {
            return self.stop(hosted.id);
        };
        let attempt = self.next_attempt();
        self.pending = Some(Pending::Restart {
            attempt,
            password: password.clone(),
            server,
        });
        let start = hosting::Start {
            profile: self.dir.clone(),
            dir: settings::hub_dir(&self.dir),
            new_password: Some(password),
            port: hosted.listen.port(),
            advertise: self.settings.advertise,
        };
        Task::perform(self.hosting.restart(attempt, start), move |started| {
            Message::Restarted(attempt, started)
        })
    }

    pub(super) fn restarted(&mut self, attempt: u64, started: Started) -> Task<Message> {
        self.hub_has_password |= started.has_password;
        let Some(Pending::Restart {
            password, server, ..
        }) = self.take_pending(attempt)
        else {
            return match started.hub {
                Ok(running) => self.stop(running.id),
                Err(_) => Task::none(),
            };
        };
        match started.hub {
            Ok(running) => {
                self.hosted = Some(running);
                // The profile as it is now (saved in the Profile panel since the first
                // login), not the one the session started with.
                let profile = match &self.screen {
                    Screen::Chat(chat) => chat.profile().clone(),
                    Screen::Login(_) => server.profile,
                };
                self.connect(server.hub, password.clone(), profile);
                if let Screen::Chat(chat) = &mut self.screen {
                    chat.set_hub_password(password);
                    chat.set_notice(
                        "The hub restarted with the new password. Tell it to the others."
                            .to_owned(),
                    );
                }
                Task::none()
            }
            Err(e) => {
                // The address tried stays in the form, as when it ran.
                self.server = Some(server);
                self.leave(Some(format!("The hub could not restart: {e}")))
            }
        }
    }

    /// Stops the hub started as `id` on the hosting thread ([`Message::Stopped`] says
    /// when it is gone).
    fn stop(&mut self, id: u64) -> Task<Message> {
        self.stopping += 1;
        Task::perform(self.hosting.stop(id), |()| Message::Stopped)
    }

    /// Whether a hub hosted here is still stopping.
    pub fn stopping(&self) -> bool {
        self.stopping > 0
    }

    /// What closing the app does: ends the session and stops a hub hosted here (it
    /// tells its clients goodbye, and this waits for it), and keeps everything the next
    /// launch picks up. For the end of the program, not for `update`.
    pub fn shut_down(&mut self) {
        self.server = None;
        self.confirm = None;
        self.pending = None;
        self.hosted = None;
        self.hosting.stop_now();
    }

    /// Ends the session, drops what was pending and stops a hosted hub (in the returned
    /// task); the screen stays.
    pub(super) fn disconnect(&mut self) -> Task<Message> {
        self.server = None;
        self.confirm = None;
        let mut stops = Vec::new();
        if let Some(hub) = self.hosted.take() {
            stops.push(hub.id);
        }
        // A hub starting for an attempt given up on is stopped as soon as it runs.
        if let Some(Pending::Host { attempt, .. } | Pending::Restart { attempt, .. }) =
            self.pending.take()
        {
            stops.push(attempt);
        }
        Task::batch(
            stops
                .into_iter()
                .map(|id| self.stop(id))
                .collect::<Vec<_>>(),
        )
    }

    /// Back to the login screen (stops a hosted hub, in the returned task).
    pub(super) fn leave(&mut self, error: Option<String>) -> Task<Message> {
        // The address tried stays in the form (to correct, retry or check), hosted or not.
        let tried = self
            .server
            .as_ref()
            .filter(|_| self.hosted.is_none())
            .map(|s| s.hub.clone());
        let stopped = self.disconnect();
        // Files dropped on the chat left are not offered in the next one.
        self.dropped.clear();
        let mut login = login_screen(&self.settings, self.hub_has_password);
        // From the login screen (a failed join), browsing goes on and does not tell the
        // hubs it saw again: they stay listed.
        if let Screen::Login(before) = &mut self.screen {
            login.found = std::mem::take(&mut before.found);
        }
        if let Some(hub) = tried {
            login.address = hub;
        }
        login.error = error;
        self.screen = Screen::Login(login);
        stopped
    }
}
