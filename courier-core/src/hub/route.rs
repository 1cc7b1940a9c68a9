//! Pure routing: where a message goes, given who is online.

use super::ConnId;
use super::presence::Directory;
use crate::proto::{ClientId, Target};

/// Where a message from `from` to `to` must go.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Recipients {
    /// To these live connections.
    Online(Vec<ConnId>),
    /// To a known contact that is offline: store it.
    Offline(ClientId),
    /// Nowhere: unknown recipient, or the sender itself.
    NoSuchPeer,
}

pub(crate) fn route(dir: &Directory, from: ClientId, to: Target) -> Recipients {
    match to {
        Target::Client(id) if id == from => Recipients::NoSuchPeer,
        Target::Client(id) => match dir.get(&id) {
            None => Recipients::NoSuchPeer,
            Some(known) if known.conns.is_empty() => Recipients::Offline(id),
            Some(known) => Recipients::Online(known.conns.clone()),
        },
        // A group's members are the hub's groups' business (`Hub::deliver` routes them).
        Target::Group(_) => Recipients::NoSuchPeer,
        Target::Everyone => Recipients::Online(
            dir.online()
                .filter(|(id, _)| **id != from)
                .flat_map(|(_, known)| known.conns.iter().copied())
                .collect(),
        ),
    }
}
