//! One human sentence per reason the wire carries: the `Display` of [`RejectReason`],
//! [`LoginRejection`], [`Declined`] and [`TransferEnd`] ([`super::OfferRefusal`] and
//! [`super::CloseReason`] have theirs beside their type).
//!
//! Every front end shows these words, so that the CLI and the app say the same thing for
//! the same reason. They are clauses in the style of the crate's errors: lowercase, with
//! no trailing period; a front end capitalises them or puts them after its own words
//! (`not delivered: {reason}` for a [`RejectReason`]). [`crate::session::Error`] and
//! [`crate::transfer::Error`] take their text for the same reasons from here.

use std::fmt;
use std::time::Duration;

use super::frame::{LoginRejection, RejectReason};
use super::transfer::{Declined, TransferEnd};

impl RejectReason {
    /// Why the message was not delivered, for people: the words after "not delivered: ".
    pub fn sentence(self) -> &'static str {
        match self {
            Self::NoSuchPeer => "the hub knows no such contact",
            Self::BadText => "the text is empty or longer than 64 KiB",
            Self::RateLimited => "you are sending too fast; try again in a moment",
            Self::MailboxFull => "they are offline and too many messages are waiting for them",
            Self::CouldNotStore => {
                "they are offline and the hub could not store it (its disk is full or failing)"
            }
            Self::NoKeys => "their device has not published its encryption keys yet",
            Self::UnsignedKeys => "the hub handed out an encryption key their device did not sign",
            Self::KeyStore => "this device's encryption keys cannot be used",
            Self::Unsent => "not sent: the connection to the hub ended while it waited for keys",
        }
    }
}

/// [`RejectReason::sentence`].
impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sentence())
    }
}

/// Why the login was refused, as [`crate::session::Error`] says it.
impl fmt::Display for LoginRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongPassword => f.write_str("wrong password"),
            Self::ChannelBindingMismatch => f.write_str(
                "login failed: the connection to the hub is being intercepted \
                 (channel binding mismatch)",
            ),
            Self::VersionMismatch { hub, client } => write!(
                f,
                "protocol version mismatch: hub speaks {hub}, this client speaks {client}"
            ),
            Self::TooManyAttempts { retry_in_ms } => write!(
                f,
                "too many failed logins; the hub accepts the next attempt in {}",
                crate::units::duration(Duration::from_millis(*retry_in_ms))
            ),
            Self::InvalidProfile(e) => write!(f, "the hub refused the profile: {e}"),
            Self::HubFull => f.write_str("the hub is full"),
            Self::NotRemembered => {
                f.write_str("this hub no longer remembers this device: enter the password")
            }
        }
    }
}

impl Declined {
    /// Why the receiver said no, for people (on either side of the offer).
    pub fn sentence(self) -> &'static str {
        match self {
            Self::ByUser => "declined by the receiver",
            Self::NoSpace => "declined: the receiver does not have enough disk space",
            Self::NoLinkTests => "they do not answer link tests",
        }
    }
}

/// [`Declined::sentence`].
impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sentence())
    }
}

/// How the transfer ended, for people. Who cancelled is named by their short id; a front
/// end that knows the name says `cancelled by {name}` instead.
impl fmt::Display for TransferEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Declined(d) => d.fmt(f),
            Self::Cancelled { by } => write!(f, "cancelled by {}", by.short()),
            Self::PeerGone => f.write_str("the other side went offline"),
            Self::NoLongerStored => f.write_str(
                "the hub no longer has the offer (answered, withdrawn or expired meanwhile)",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits;

    #[test]
    fn the_text_limit_in_words_is_the_real_one() {
        assert_eq!(limits::MAX_TEXT, 64 * 1024);
        assert!(RejectReason::BadText.to_string().contains("64 KiB"));
    }

    #[test]
    fn sentences_are_lowercase_clauses_without_a_period() {
        let mut all: Vec<String> = [
            RejectReason::NoSuchPeer,
            RejectReason::BadText,
            RejectReason::RateLimited,
            RejectReason::MailboxFull,
            RejectReason::CouldNotStore,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        all.extend(
            [
                LoginRejection::WrongPassword,
                LoginRejection::ChannelBindingMismatch,
                LoginRejection::VersionMismatch { hub: 6, client: 5 },
                LoginRejection::TooManyAttempts { retry_in_ms: 1500 },
                LoginRejection::HubFull,
                LoginRejection::NotRemembered,
            ]
            .iter()
            .map(ToString::to_string),
        );
        all.extend(
            [
                TransferEnd::Declined(Declined::ByUser),
                TransferEnd::Declined(Declined::NoSpace),
                TransferEnd::Declined(Declined::NoLinkTests),
                TransferEnd::PeerGone,
                TransferEnd::NoLongerStored,
            ]
            .iter()
            .map(ToString::to_string),
        );
        for s in all {
            assert!(!s.ends_with('.'), "{s}");
            assert!(s.starts_with(|c: char| c.is_lowercase()), "{s}");
        }
    }

    #[test]
    fn a_wait_is_said_in_seconds() {
        let s = LoginRejection::TooManyAttempts {
            retry_in_ms: 59_000,
        }
        .to_string();
        assert!(s.ends_with("next attempt in 59 s"), "{s}");
    }

    #[test]
    fn session_and_transfer_errors_say_the_same_sentences() {
        use crate::session::Error as S;
        use crate::transfer::Error as T;
        let id = crate::proto::ClientId([7; 32]);
        let pairs = [
            (S::WrongPassword.to_string(), "wrong password".to_owned()),
            (S::HubFull.to_string(), "the hub is full".to_owned()),
            (
                S::Interception.to_string(),
                LoginRejection::ChannelBindingMismatch.to_string(),
            ),
            (
                S::VersionMismatch { hub: 6, client: 5 }.to_string(),
                "protocol version mismatch: hub speaks 6, this client speaks 5".to_owned(),
            ),
            (
                S::TooManyAttempts {
                    retry_in: Duration::from_secs(30),
                }
                .to_string(),
                LoginRejection::TooManyAttempts {
                    retry_in_ms: 30_000,
                }
                .to_string(),
            ),
            (
                S::InvalidProfile(crate::proto::ProfileError::EmptyName).to_string(),
                LoginRejection::InvalidProfile(crate::proto::ProfileError::EmptyName).to_string(),
            ),
            (
                S::NotRemembered.to_string(),
                LoginRejection::NotRemembered.to_string(),
            ),
            (
                S::Banned.to_string(),
                "this device is banned from the hub".to_owned(),
            ),
            (
                T::Declined.to_string(),
                "declined by the receiver".to_owned(),
            ),
            (
                T::NoSpaceAtReceiver.to_string(),
                Declined::NoSpace.to_string(),
            ),
            (
                T::NoLinkTests.to_string(),
                Declined::NoLinkTests.to_string(),
            ),
            (T::PeerGone.to_string(), TransferEnd::PeerGone.to_string()),
            (
                T::NoLongerStored.to_string(),
                TransferEnd::NoLongerStored.to_string(),
            ),
            (
                T::Cancelled { by: id }.to_string(),
                format!("cancelled by {}", id.short()),
            ),
        ];
        for (got, want) in pairs {
            assert_eq!(got, want);
        }
    }
}
