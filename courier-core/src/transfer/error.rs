//! Why a transfer failed: [`Error`], and [`Violation`] for what the other side did wrong.

use std::io;

use super::peer;
use super::source;
use super::store;
use super::wire::{AbortReason, FileFailure};
use crate::proto::{ClientId, Declined, DecodeError, ManifestError, OfferRefusal, TransferEnd};

/// One file that did not arrive intact; the others of its transfer may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileFailed {
    /// Its index in the manifest.
    pub index: u32,
    /// Why.
    pub reason: FileFailure,
}

/// A break of the link protocol by the other side. The transfer stops.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// A file other than the next one, or from another offset.
    #[error("the sender sent an unexpected file")]
    WrongFile,
    /// Data with no file started.
    #[error("the sender sent data outside a file")]
    StrayData,
    /// More bytes than declared (SECURITY X1).
    #[error("the sender sent more bytes than it declared")]
    TooMuch,
    /// A file ended before its declared size (X7).
    #[error("incomplete transfer: a file ended early")]
    Incomplete,
    /// `Done` before every accepted file arrived.
    #[error("incomplete transfer: files are missing")]
    Missing,
    /// The receiver's resume offsets do not fit the accepted files.
    #[error("the receiver announced impossible resume offsets")]
    BadOffsets,
    /// The receiver reported a file that is not part of the transfer, or reported one twice.
    #[error("the receiver reported an unknown file")]
    UnknownFile,
    /// The receiver acknowledged more bytes than were sent.
    #[error("the receiver acknowledged bytes never sent")]
    PhantomBytes,
    /// The hub's ticket names someone other than the offer's other side.
    #[error("the hub named another peer")]
    WrongPeer,
    /// The hub's ticket is for other files than the offer's.
    #[error("the hub's ticket is for other files")]
    OtherFiles,
    /// A message that makes no sense at this point of the transfer.
    #[error("the other side sent an unexpected message")]
    Unexpected,
    /// A link message that does not decode.
    #[error("the other side sent a malformed message: {0}")]
    Malformed(#[source] DecodeError),
    /// A link test's prober sent more than a test may carry
    /// ([`crate::limits::LINK_TEST_MAX_BYTES`], [`crate::limits::LINK_TEST_MAX_MESSAGES`]).
    #[error("the other side sent more than a link test may carry")]
    LinkTestTooBig,
    /// The other side stopped because it says we broke the protocol.
    #[error("the other side reported a protocol error")]
    Reported,
}

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The files cannot be offered.
    #[error(transparent)]
    Source(#[from] source::Error),
    /// The offer was refused: by the hub, or before it left (it could not be sealed).
    #[error("{}", refusal(.0))]
    Refused(OfferRefusal),
    /// The receiver declined.
    #[error("{}", Declined::ByUser)]
    Declined,
    /// The receiver does not have the space.
    #[error("{}", Declined::NoSpace)]
    NoSpaceAtReceiver,
    /// A link test to someone who does not answer them (they turned that off).
    #[error("{}", Declined::NoLinkTests)]
    NoLinkTests,
    /// One side cancelled.
    #[error("{}", TransferEnd::Cancelled { by: *by })]
    Cancelled {
        /// Who.
        by: ClientId,
    },
    /// The other side went offline before the transfer started.
    #[error("{}", TransferEnd::PeerGone)]
    PeerGone,
    /// The hub no longer has the offer: it was answered, withdrawn or expired while
    /// we were away.
    #[error("{}", TransferEnd::NoLongerStored)]
    NoLongerStored,
    /// The hub connection dropped before the transfer had its ticket.
    #[error("lost the connection to the hub before the transfer started")]
    HubLost,
    /// The offer we were asked to accept is not acceptable.
    #[error("invalid offer: {0}")]
    InvalidOffer(ManifestError),
    /// The files chosen are not in the offer.
    #[error("the selected files are not part of the offer")]
    BadSelection,
    /// Not enough free space here.
    #[error("not enough disk space: {needed} bytes needed, {available} available")]
    NotEnoughSpace {
        /// Bytes needed (margin included).
        needed: u64,
        /// Bytes free.
        available: u64,
    },
    /// No way to reach the other side; the last way that failed says why.
    #[error("could not connect to the other side ({0})")]
    NoRoute(#[source] peer::Error),
    /// The receiver's disk filled up.
    #[error("receiver disk full")]
    DiskFull,
    /// A file being sent changed size.
    #[error("a file changed while it was being sent")]
    SourceChanged,
    /// Files failed verification or saving; the others were saved.
    #[error("{} of {total} files failed: {}", failed.len(), failed.first().map(|f| f.reason.to_string()).unwrap_or_default())]
    FilesFailed {
        /// Each failed file.
        failed: Vec<FileFailed>,
        /// Files accepted.
        total: usize,
    },
    /// The other side broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] Violation),
    /// The other side hit a read or write error.
    #[error("the other side could not read or write a file")]
    RemoteIo,
    /// The connection dropped mid-transfer; received bytes are kept for resuming.
    #[error("connection lost")]
    ConnectionLost,
    /// Nothing moved for [`super::Options::progress_deadline`] (30 s by default).
    #[error("the transfer stalled")]
    Stalled,
    /// Local file error.
    #[error("{context}")]
    Io {
        /// What we were doing.
        context: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing in the download folder failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The session is gone.
    #[error(transparent)]
    Session(#[from] crate::session::Error),
    /// TLS could not be set up.
    #[error("TLS setup")]
    Tls(#[from] crate::tls::Error),
}

impl Error {
    /// Wraps an I/O error with what we were doing.
    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Io { context, source }
    }

    /// What the other side is told when this error stops the transfer here; `None` when
    /// it cannot be told (the link is gone) or told us itself.
    pub(crate) fn abort_reason(&self) -> Option<AbortReason> {
        Some(match self {
            Self::ConnectionLost | Self::Stalled => return None,
            Self::Cancelled { .. } => AbortReason::Cancelled,
            Self::DiskFull => AbortReason::DiskFull,
            Self::SourceChanged => AbortReason::SourceChanged,
            Self::Protocol(_) => AbortReason::Protocol,
            _ => AbortReason::Io,
        })
    }

    /// The error an `Abort` from `peer` stands for.
    pub(crate) fn aborted_by(peer: ClientId, reason: AbortReason) -> Self {
        match reason {
            AbortReason::Cancelled => Self::Cancelled { by: peer },
            AbortReason::DiskFull => Self::DiskFull,
            AbortReason::SourceChanged => Self::SourceChanged,
            AbortReason::Io => Self::RemoteIo,
            AbortReason::Protocol => Self::Protocol(Violation::Reported),
        }
    }

    /// Whether the receiver keeps the part of the file it was writing (for a resume).
    pub(crate) fn keeps_part(&self) -> bool {
        matches!(self, Self::ConnectionLost | Self::Stalled)
    }
}

/// A transfer that reached its end succeeded only if none of its `total` files failed.
pub(crate) fn verdict(
    tally: super::Tally,
    failed: Vec<FileFailed>,
    total: usize,
) -> Result<super::Tally, Error> {
    if failed.is_empty() {
        Ok(tally)
    } else {
        Err(Error::FilesFailed { failed, total })
    }
}

/// Whether `e` says the disk is full.
pub(crate) fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

/// A refusal in words: the session's own (no keys to seal to) say the offer never left.
fn refusal(r: &OfferRefusal) -> String {
    match r {
        OfferRefusal::NoKeys
        | OfferRefusal::UnsignedKeys
        | OfferRefusal::KeyStore
        | OfferRefusal::Unsent => {
            format!("the offer was not sent: {r}")
        }
        _ => format!("the hub refused the offer: {r}"),
    }
}
