//! Logging in: the OPAQUE exchange bound to the TLS channel, or a remembered device by
//! its certificate alone; the profile check; the guessing budgets (per address, with
//! backoff after failures, and one for the whole hub that members' addresses are
//! spared); and the welcome with the first contact page.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_bytes::ByteBuf;

use super::conn::Listing;
use super::presence::Change;
use super::{CloseReason, ConnId, Event, Hub, Phase};
use crate::auth::HubLogin;
use crate::limits;
use crate::proto::{ClientId, LoginRejection, PROTOCOL_VERSION, ServerFrame, validate_profile};

/// A login the hub answered, until its password proves right.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Guess {
    /// It took a token of the global guessing budget, given back if it succeeds.
    Paid,
    /// Answered outside the budget: from a member's address, or a first login from an
    /// address with no failure while the budget was spent.
    Free,
}

/// What a `LoginFinish` brought.
pub(super) struct Finish<'a> {
    pub(super) finalization: &'a [u8],
    pub(super) binding: &'a [u8],
    pub(super) remember: bool,
    pub(super) asks: Asks,
}

/// What a login asks of the hub besides letting the client in.
#[derive(Clone, Debug)]
pub(super) struct Asks {
    /// The profile to show to others.
    pub(super) profile: crate::proto::Profile,
    /// Keep the profile the hub knows the client by (its own is for a hub new to it).
    pub(super) keep_profile: bool,
    /// Hand over the messages stored for it.
    pub(super) take_mailbox: bool,
    /// The mark up to which it holds the contact list, if it does.
    pub(super) known: Option<crate::proto::Mark>,
}

impl Hub {
    /// Whether the client speaks our protocol; if not it is refused, saying both.
    fn same_version(&mut self, conn: ConnId, version: u32, now: Instant) -> bool {
        if version == PROTOCOL_VERSION {
            return true;
        }
        let rejection = LoginRejection::VersionMismatch {
            hub: PROTOCOL_VERSION,
            client: version,
        };
        self.reject(conn, rejection, CloseReason::VersionMismatch, now);
        false
    }

    pub(super) fn login_start(
        &mut self,
        conn: ConnId,
        client: ClientId,
        channel: [u8; 32],
        version: u32,
        request: &[u8],
        now: Instant,
    ) {
        if !self.same_version(conn, version, now) {
            return;
        }
        let Some(ip) = self.conns.get(&conn).map(|c| c.source()) else {
            return;
        };
        let (guess, wait) = self.may_answer(ip, now);
        if let Some(wait) = wait {
            let retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            let rejection = LoginRejection::TooManyAttempts { retry_in_ms };
            self.reject(conn, rejection, CloseReason::TooManyAttempts, now);
            return;
        }
        match self.config.secret.start_login(&mut self.rng, request) {
            Ok((login, response)) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.phase = Phase::AwaitFinish {
                        client,
                        channel,
                        login,
                    };
                    // From here until the password proves right, this is a guess.
                    c.guess = Some(guess);
                }
                if let Some(a) = self.addresses.get_mut(&ip) {
                    a.in_flight += 1;
                }
                let challenge = ServerFrame::LoginChallenge {
                    version: PROTOCOL_VERSION,
                    response: ByteBuf::from(response),
                };
                self.send(conn, Arc::new(challenge), now);
            }
            Err(_) => {
                // Not answered: no guess was made.
                if guess == Guess::Paid {
                    self.guesses.refund();
                }
                self.close(conn, CloseReason::Malformed, now);
            }
        }
    }

    /// Whether a login from `ip` may be answered now (each answer lets the client test
    /// one password): `Some` wait if not, else how the guess is paid for. An address
    /// may have [`limits::LOGIN_IN_FLIGHT_PER_ADDRESS`] answered logins unfinished, one
    /// fewer for each failure it is remembered for (never fewer than one), and none while
    /// it backs off. An address where a member logged in lately is not charged to the
    /// global budget; others are, until their password proves right. When the budget is
    /// spent, an address with no failure is still answered, one login at a time
    /// ([`limits::LOGIN_IN_FLIGHT_FRESH`]): a new member is not locked out by others'
    /// guessing, and each guessing address gets that one guess before it has a failure.
    fn may_answer(&mut self, ip: IpAddr, now: Instant) -> (Guess, Option<Duration>) {
        let address = self
            .addresses
            .entry(ip)
            .or_insert_with(|| super::Address::new(&self.config, now));
        if let Some(wait) = address.backoff.wait(now) {
            return (Guess::Free, Some(wait));
        }
        let failures = address.backoff.recent(now);
        let allowed = limits::LOGIN_IN_FLIGHT_PER_ADDRESS
            .saturating_sub(failures)
            .max(1);
        if address.in_flight >= allowed {
            // The logins under way finish (or fail) within the login deadline.
            return (Guess::Free, Some(limits::LOGIN_BACKOFF_BASE));
        }
        if address.is_members(now) {
            return (Guess::Free, None);
        }
        if self.guesses.take(now) {
            return (Guess::Paid, None);
        }
        if failures == 0 && address.in_flight < limits::LOGIN_IN_FLIGHT_FRESH {
            return (Guess::Free, None);
        }
        (Guess::Free, Some(self.guesses.next_in(now)))
    }

    /// A guess from `ip` ended without proving its password (wrong, abandoned, timed
    /// out, or its connection lost): a failure for the address's backoff and, if a
    /// token is left, for the global budget.
    pub(super) fn guess_failed(&mut self, ip: IpAddr, guess: Guess, now: Instant) {
        self.totals.login_failures += 1;
        if guess == Guess::Free {
            let _ = self.guesses.take(now);
        }
        if let Some(a) = self.addresses.get_mut(&ip) {
            a.in_flight = a.in_flight.saturating_sub(1);
            a.backoff.record_failure(now);
        }
    }

    pub(super) fn login_finish(
        &mut self,
        conn: ConnId,
        client: ClientId,
        channel: [u8; 32],
        login: HubLogin,
        answer: Finish<'_>,
        now: Instant,
    ) {
        let key = match login.finish(answer.finalization) {
            Ok(key) => key,
            Err(crate::auth::Error::Malformed) => {
                self.close(conn, CloseReason::Malformed, now);
                return;
            }
            Err(_) => {
                self.login_failed(
                    conn,
                    LoginRejection::WrongPassword,
                    CloseReason::WrongPassword,
                    now,
                );
                return;
            }
        };
        if !key.check_client_binding(&channel, answer.binding) {
            self.login_failed(
                conn,
                LoginRejection::ChannelBindingMismatch,
                CloseReason::ChannelBinding,
                now,
            );
            return;
        }
        // The password was right: this was no guess, and costs nobody anything.
        let Some((ip, guess)) = self
            .conns
            .get_mut(&conn)
            .map(|c| (c.source(), c.guess.take()))
        else {
            return;
        };
        if guess == Some(Guess::Paid) {
            self.guesses.refund();
        }
        if let Some(a) = self.addresses.get_mut(&ip) {
            if guess.is_some() {
                a.in_flight = a.in_flight.saturating_sub(1);
            }
            a.backoff.record_success();
            a.last_login = Some(now);
        }
        let binding = ByteBuf::from(key.hub_binding(&channel));
        self.admit(conn, client, binding, answer.remember, answer.asks, now);
    }

    /// A login by certificate alone: the TLS handshake proved the device's key, and
    /// the hub remembers the device. No password was tested, so no guess is spent; a
    /// device the hub does not remember is told so and may go on with the password on
    /// the same connection.
    pub(super) fn login_remembered(
        &mut self,
        conn: ConnId,
        client: ClientId,
        channel: [u8; 32],
        version: u32,
        asks: Asks,
        now: Instant,
    ) {
        if !self.same_version(conn, version, now) {
            return;
        }
        if !self.directory.is_remembered(&client) {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.phase = Phase::AwaitPassword { client, channel };
            }
            let no = ServerFrame::LoginRejected(LoginRejection::NotRemembered);
            self.send(conn, Arc::new(no), now);
            return;
        }
        // A member's address: its other logins are spared the global guess budget.
        if let Some(a) = self
            .conns
            .get(&conn)
            .map(|c| c.source())
            .and_then(|ip| self.addresses.get_mut(&ip))
        {
            a.last_login = Some(now);
        }
        self.admit(conn, client, ByteBuf::new(), false, asks, now);
    }

    /// Lets a client in whose login succeeded: checks its profile and the hub's room,
    /// welcomes it with the first contact page, tells the others, and hands over what
    /// was stored for it (its messages only if it `asks` for them).
    fn admit(
        &mut self,
        conn: ConnId,
        client: ClientId,
        binding: ByteBuf,
        remember: bool,
        asks: Asks,
        now: Instant,
    ) {
        // A client that asks to keep its profile is shown as the hub knows it; the
        // profile it sent is for a hub that does not know it yet.
        let profile = match self.directory.get(&client) {
            Some(known) if asks.keep_profile => known.profile.clone(),
            _ => asks.profile,
        };
        if let Err(e) = validate_profile(&profile) {
            self.reject(
                conn,
                LoginRejection::InvalidProfile(e),
                CloseReason::InvalidProfile,
                now,
            );
            return;
        }
        if self.logged_in >= self.config.max_clients {
            self.reject(conn, LoginRejection::HubFull, CloseReason::HubFull, now);
            return;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.phase = Phase::Ready { client };
        c.takes_mailbox = asks.take_mailbox;
        let ip = c.source();
        self.leave_preauth(ip);
        self.logged_in += 1;
        let wall = self.wall(now);
        let name = profile.name.clone();
        let change = self.directory.login(client, conn, profile, wall);
        if remember {
            self.directory.remember(client, wall);
        }
        // A client that holds the list up to a mark gets what changed since, in roster
        // pages; a mark this hub did not give (a hub started from an older copy of its
        // folder) gets the whole list.
        let mark = self.directory.mark();
        let since = asks
            .known
            .filter(|k| *k <= mark && self.directory.knows_mark(*k));
        let (first, next) = match since {
            None => {
                let (first, next) = self.directory.page(client, None, limits::CONTACT_PAGE);
                (first, next.map(|after| Listing::Cards { after }))
            }
            Some(since) => {
                let anyone = self.directory.len() > 1;
                let next = anyone.then_some(Listing::Roster { since, after: None });
                (Vec::new(), next)
            }
        };
        let welcome = ServerFrame::Welcome {
            you: client,
            binding,
            remembered: self.directory.is_remembered(&client),
            contacts: first,
            more: next.is_some(),
            time: wall,
            offline_days: self.offline_days(),
            mark,
            since,
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.contacts_next = next;
        }
        let listed = next.is_none();
        self.send(conn, Arc::new(welcome), now);
        if listed {
            self.groups_after_contacts(conn, client, now);
        }
        if change != Change::Nothing {
            self.announce(client, now);
        }
        self.hand_over(conn, client, now);
        self.hand_over_offers(conn, client, now);
        self.pay_receipts(conn, client, now);
        self.totals.logins += 1;
        self.events
            .push_back(Event::LoggedIn { conn, client, name });
    }

    /// A login that failed: the hub tells the client and closes, and the guess is
    /// counted as the connection goes.
    pub(super) fn login_failed(
        &mut self,
        conn: ConnId,
        rejection: LoginRejection,
        reason: CloseReason,
        now: Instant,
    ) {
        self.reject(conn, rejection, reason, now);
    }

    pub(super) fn reject(
        &mut self,
        conn: ConnId,
        rejection: LoginRejection,
        reason: CloseReason,
        now: Instant,
    ) {
        self.send(conn, Arc::new(ServerFrame::LoginRejected(rejection)), now);
        self.close(conn, reason, now);
    }
}
