//! Why a hub closes a connection: one reason, one WebSocket close code, one text.

use std::fmt;

/// Why the hub closed a connection. Each maps to a WebSocket close code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client's password was wrong.
    WrongPassword,
    /// The login's channel binding did not match this TLS connection.
    ChannelBinding,
    /// The client speaks another protocol version.
    VersionMismatch,
    /// Too many failed logins from this address.
    TooManyAttempts,
    /// The profile given at login is invalid.
    InvalidProfile,
    /// The hub holds as many clients as it may.
    HubFull,
    /// Login did not finish in time.
    LoginTimeout,
    /// Nothing received within the heartbeat timeout.
    HeartbeatTimeout,
    /// A frame that is not valid CBOR for this protocol.
    Malformed,
    /// A frame not allowed in this state (for example a chat message before login).
    Unexpected,
    /// A message larger than the limit.
    TooBig,
    /// A WebSocket text message (the protocol is binary).
    TextFrame,
    /// The client kept sending over its rate limit.
    RateLimited,
    /// Too many WebSocket pings.
    PingFlood,
    /// The client did not read fast enough; its outbox filled up.
    SlowConsumer,
    /// The hub is shutting down.
    Shutdown,
    /// A relay request while relaying is switched off.
    RelayDisabled,
    /// A relay request with an unknown, expired or used ticket.
    BadTicket,
    /// The hub's owner told it to forget this device: it must log in with the password.
    Forgotten,
    /// The hub's owner banned this device (`courier hub ban`): it is refused at every
    /// login, with the password or without.
    Banned,
}

impl CloseReason {
    /// The WebSocket close code (RFC 6455 §7.4.1).
    pub fn code(self) -> u16 {
        match self {
            Self::TooBig => 1009,
            Self::TextFrame => 1003,
            Self::Shutdown => 1001,
            _ => 1008,
        }
    }

    /// Every reason, for looking one up by its text.
    const ALL: [Self; 20] = [
        Self::WrongPassword,
        Self::ChannelBinding,
        Self::VersionMismatch,
        Self::TooManyAttempts,
        Self::InvalidProfile,
        Self::HubFull,
        Self::LoginTimeout,
        Self::HeartbeatTimeout,
        Self::Malformed,
        Self::Unexpected,
        Self::TooBig,
        Self::TextFrame,
        Self::RateLimited,
        Self::PingFlood,
        Self::SlowConsumer,
        Self::Shutdown,
        Self::RelayDisabled,
        Self::BadTicket,
        Self::Forgotten,
        Self::Banned,
    ];

    /// The reason a close frame's text stands for, if it is one of the hub's.
    pub fn from_text(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.text() == text)
    }

    /// The short text sent in the close frame.
    pub fn text(self) -> &'static str {
        match self {
            Self::WrongPassword => "wrong password",
            Self::ChannelBinding => "channel binding mismatch",
            Self::VersionMismatch => "protocol version mismatch",
            Self::TooManyAttempts => "too many failed logins",
            Self::InvalidProfile => "invalid profile",
            Self::HubFull => "hub full",
            Self::LoginTimeout => "login timeout",
            Self::HeartbeatTimeout => "heartbeat timeout",
            Self::Malformed => "malformed frame",
            Self::Unexpected => "unexpected frame",
            Self::TooBig => "message too big",
            Self::TextFrame => "text frames are not supported",
            Self::RateLimited => "rate limit exceeded",
            Self::PingFlood => "too many pings",
            Self::SlowConsumer => "slow consumer",
            Self::Shutdown => "hub shutting down",
            Self::RelayDisabled => "this hub does not relay transfers",
            Self::BadTicket => "invalid ticket",
            Self::Forgotten => "this hub no longer remembers this device",
            Self::Banned => "this device is banned from the hub",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}
