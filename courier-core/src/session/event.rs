//! [`Event`]: what a [`Session`](super::Session) reports, from [`Session::poll_event`](super::Session::poll_event).

use crate::proto::{
    ClientId, Contact, Delivery, ErrorCode, Group, GroupEvent, GroupId, GroupOutcome,
    IncomingOffer, Message, MsgId, OfferRefusal, Reach, Seq, Target, TicketInfo, Timestamp,
    TransferEnd, TransferId,
};
use crate::seal::Problem;

/// What a session reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Login succeeded.
    LoggedIn {
        /// Our id as the hub sees it.
        you: ClientId,
        /// Every other contact the hub knows.
        contacts: Vec<Contact>,
        /// The hub's clock at login.
        time: Timestamp,
    },
    /// A message for us, opened.
    Message(Message),
    /// A message for us that could not be opened (not sealed for this device, tampered
    /// with, a replay, its key never came, ...): shown as such, never dropped.
    Unreadable {
        /// The sender's id for it.
        id: MsgId,
        /// Who sent it (stamped by the hub).
        from: ClientId,
        /// Where it was addressed.
        to: Target,
        /// When the hub accepted it.
        time: Timestamp,
        /// Its position in a group's log, for a group message.
        seq: Option<Seq>,
        /// Why it could not be opened.
        problem: Problem,
    },
    /// Messages a sender wrote to a group (or everyone) before the one just opened never
    /// reached us: the hub held them back, or lost them.
    Missing {
        /// The sender.
        from: ClientId,
        /// The group, or everyone.
        to: Target,
        /// How many.
        count: u32,
    },
    /// What became of a message we sent.
    Receipt {
        /// Our id for it.
        id: MsgId,
        /// The outcome.
        status: Delivery,
    },
    /// Someone is typing.
    Typing {
        /// Who.
        from: ClientId,
        /// To us, or to everyone.
        to: Target,
    },
    /// Someone read a message we sent.
    Read {
        /// The reader.
        by: ClientId,
        /// Our id for the message.
        id: MsgId,
    },
    /// A contact joined, left (`online: false`) or changed its card.
    Contact(Contact),
    /// A contact's avatar bytes, as asked for with [`Session::request_avatar`](super::Session::request_avatar).
    Avatar {
        /// Whose.
        id: ClientId,
        /// The image (empty: none).
        bytes: Vec<u8>,
    },
    /// The hub refused something without closing (invalid profile, rate limit).
    HubError {
        /// What kind.
        code: ErrorCode,
        /// Its explanation.
        detail: String,
    },
    /// Someone offers us files: answer with `transfer::receive` or
    /// [`Handle::decline`](super::Handle::decline).
    Offer(IncomingOffer),
    /// Someone offered us files we cannot see (the offer could not be opened). When it
    /// can never open (tampered, malformed, badly signed) the session declined it for us;
    /// when the sender's keys are not known (yet) it stays pending.
    UnreadableOffer {
        /// The hub's id for the transfer.
        id: TransferId,
        /// Who offered.
        from: ClientId,
        /// Why it could not be opened.
        problem: Problem,
    },
    /// An offer of ours is sealed (the envelope's digest is what its ticket will carry)
    /// and on its way to the hub.
    OfferSealed {
        /// Our tag for it.
        tag: u32,
        /// The digest of its envelope.
        digest: [u8; 32],
    },
    /// The hub forwarded an offer of ours.
    OfferSent {
        /// Our tag for it.
        tag: u32,
        /// The hub's id.
        id: TransferId,
    },
    /// The recipient of an offer of ours (sent with `wait`) is offline: the hub keeps it.
    OfferStored {
        /// Our tag for it.
        tag: u32,
        /// The hub's id.
        id: TransferId,
    },
    /// The hub did not forward an offer of ours.
    OfferRefused {
        /// Our tag for it.
        tag: u32,
        /// Why.
        reason: OfferRefusal,
    },
    /// A transfer was accepted; here is its ticket.
    Ticket(TicketInfo),
    /// A brokered transfer ended (declined, cancelled, the other side went away).
    TransferEnded {
        /// The transfer.
        id: TransferId,
        /// How.
        end: TransferEnd,
    },
    /// Every group we are in, sent once after [`Event::LoggedIn`] (at each login).
    Groups(Vec<Group>),
    /// A group we are in, as it is now: after a change to it, or when we were added.
    Group(Group),
    /// We are no longer in this group (we left, or were removed).
    GroupGone(GroupId),
    /// A membership change, in the group's order among its messages.
    GroupEvent(GroupEvent),
    /// The hub's answer to a [`super::GroupRequest`] we made with this tag.
    GroupAnswer {
        /// Our tag for it.
        tag: u32,
        /// What became of it.
        outcome: GroupOutcome,
    },
    /// Our message `id` to a group took position `seq` in its log (read marks name
    /// positions: [`Event::GroupRead`] at or after it means it was read).
    Placed {
        /// Which group.
        group: GroupId,
        /// Our id for the message.
        id: MsgId,
        /// Its position.
        seq: Seq,
    },
    /// A member read a group up to a position.
    GroupRead {
        /// Which group.
        group: GroupId,
        /// Who.
        by: ClientId,
        /// Up to where.
        upto: Seq,
    },
    /// The hub's answer to [`Handle::reachback`](super::Handle::reachback).
    Reachback {
        /// The address the hub sees us at.
        seen: std::net::SocketAddr,
        /// The port it tried.
        port: u16,
        /// Whether it got through.
        outcome: Reach,
    },
}
