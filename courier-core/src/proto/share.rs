//! Room key shares in one frame: the first message to a room hands its sender's room
//! session to every member lacking it, each as a direct envelope. Sent one frame each,
//! they would spend the chat allowance (a group of 60 would refuse the message itself);
//! sent together in a [`ClientFrame::Shares`](super::ClientFrame::Shares) they cost a
//! frame and an allowance of their own.

use serde::{Deserialize, Serialize};

use super::id::{ClientId, MsgId};
use super::keys::Sealed;
use crate::limits;

/// Largest envelope of a [`Share`], in bytes: a room key share is about 250 bytes.
pub const MAX_SHARE: usize = 1024;

/// Most shares in one [`ClientFrame::Shares`](super::ClientFrame::Shares): one per
/// member of the largest group.
pub const MAX_SHARES: usize = limits::SHARES_PER_FRAME;

/// One room key share: a direct envelope for one member, routed like a direct message.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// The member it is sealed to.
    pub to: ClientId,
    /// Its id: [`MsgId::is_share`] holds (else the whole frame is malformed).
    pub id: MsgId,
    /// The envelope: not empty, at most [`MAX_SHARE`] bytes.
    pub sealed: Sealed,
}

impl Share {
    /// Whether the share is well formed: a share id and an envelope within
    /// [`MAX_SHARE`].
    pub fn is_well_formed(&self) -> bool {
        self.id.is_share() && !self.sealed.is_empty() && self.sealed.len() <= MAX_SHARE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ClientFrame, decode_client, encode};

    /// The largest frame of shares (every item at its bounds) fits a websocket message
    /// with room to spare: the session never makes a frame the hub cannot read.
    #[test]
    fn largest_shares_frame_fits_a_message() {
        let items = (0..MAX_SHARES as u64)
            .map(|n| Share {
                to: ClientId([0xff; 32]),
                id: MsgId(u64::MAX - n),
                sealed: Sealed::from(vec![0xff; MAX_SHARE]),
            })
            .collect();
        let frame = ClientFrame::Shares { items };
        let bytes = encode(&frame);
        assert!(
            bytes.len() < limits::MAX_MESSAGE * 3 / 4,
            "{} bytes",
            bytes.len()
        );
        assert_eq!(decode_client(&bytes).unwrap(), frame);
    }

    /// Only share ids with a bounded, non-empty envelope pass.
    #[test]
    fn well_formed_needs_share_id_and_bounded_envelope() {
        let ok = Share {
            to: ClientId([1; 32]),
            id: MsgId(MsgId::SHARE_BIT | 7),
            sealed: Sealed::from(vec![1; 250]),
        };
        assert!(ok.is_well_formed());
        let plain = Share {
            id: MsgId(7),
            ..ok.clone()
        };
        assert!(!plain.is_well_formed());
        let big = Share {
            sealed: Sealed::from(vec![1; MAX_SHARE + 1]),
            ..ok.clone()
        };
        assert!(!big.is_well_formed());
        let empty = Share {
            sealed: Sealed::default(),
            ..ok
        };
        assert!(!empty.is_well_formed());
    }
}
