//! [`Error`]: why a session ended or a command failed.

use std::time::Duration;

use crate::proto::{ClientId, LoginRejection, ProfileError};

/// Why a session ended or a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The hub did not accept the password.
    #[error("{}", LoginRejection::WrongPassword)]
    WrongPassword,
    /// The login was relayed through another TLS connection.
    #[error("{}", LoginRejection::ChannelBindingMismatch)]
    Interception,
    /// The hub's certificate differs from the one pinned at first contact.
    #[error(
        "the hub's identity changed: pinned safety code {}, this hub shows {}. \
         This may be an impostor. If the hub was reinstalled, remove the pin and connect again",
        pinned.safety_code(), presented.safety_code()
    )]
    HubChanged {
        /// The pinned fingerprint.
        pinned: ClientId,
        /// The fingerprint this hub presented.
        presented: ClientId,
    },
    /// Client and hub speak different protocol versions.
    #[error("{}", LoginRejection::VersionMismatch { hub: *hub, client: *client })]
    VersionMismatch {
        /// The hub's version.
        hub: u32,
        /// Ours.
        client: u32,
    },
    /// Too many failed logins from this address.
    #[error("{}", LoginRejection::TooManyAttempts {
        retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
    })]
    TooManyAttempts {
        /// When to try again.
        retry_in: Duration,
    },
    /// The hub refused our profile.
    #[error("{}", LoginRejection::InvalidProfile(*.0))]
    InvalidProfile(#[source] ProfileError),
    /// The hub is full.
    #[error("{}", LoginRejection::HubFull)]
    HubFull,
    /// Login did not complete in time.
    #[error("login timed out")]
    LoginTimeout,
    /// Nothing heard from the hub within the heartbeat timeout.
    #[error("the hub stopped answering")]
    HeartbeatTimeout,
    /// The hub said it is shutting down.
    #[error("the hub shut down")]
    HubShutdown,
    /// The hub closed the connection.
    #[error("the hub closed the connection ({code}: {reason})")]
    Closed {
        /// WebSocket close code.
        code: u16,
        /// Close reason text.
        reason: String,
    },
    /// The connection dropped.
    #[error("connection lost")]
    ConnectionLost,
    /// The hub sent something we cannot parse.
    #[error("the hub sent a malformed frame")]
    Malformed(#[from] crate::proto::DecodeError),
    /// The hub sent a frame that makes no sense now.
    #[error("the hub sent an unexpected frame")]
    Unexpected,
    /// The login exchange failed.
    #[error("login failed")]
    Auth(#[source] crate::auth::Error),
    /// Connecting failed.
    #[error("cannot reach the hub")]
    Net(#[from] crate::net::Error),
    /// TLS could not be configured.
    #[error("TLS setup")]
    Tls(#[from] crate::tls::Error),
    /// The identity or pin store could not be read or written.
    #[error("identity storage")]
    Identity(#[from] crate::identity::Error),
    /// The session is gone; the command was not sent.
    #[error("not connected to the hub")]
    NotConnected,
    /// The hub does not remember this device (any more), and no password was given.
    #[error("{}", LoginRejection::NotRemembered)]
    NotRemembered,
    /// This device's end-to-end keys could not be opened or made.
    #[error("this device's keys")]
    Keys(#[source] crate::seal::KeyError),
    /// The hub's owner banned this device: no password lets it in.
    #[error("{}", crate::proto::CloseReason::Banned)]
    Banned,
    /// A message id with [`MsgId::SHARE_BIT`](crate::proto::MsgId::SHARE_BIT) set: those
    /// are the session's own (room key shares); use [`MsgId::random`](crate::proto::MsgId::random).
    #[error("message ids with the top bit set are reserved for key shares")]
    ReservedId,
}

impl Error {
    /// Whether reconnecting cannot help (wrong password, impostor hub, …).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::WrongPassword
                | Self::NotRemembered
                | Self::Banned
                | Self::Interception
                | Self::HubChanged { .. }
                | Self::VersionMismatch { .. }
                | Self::InvalidProfile(_)
                | Self::Tls(_)
                | Self::Identity(_)
                | Self::Keys(_)
        )
    }
}
