//! Pure routing: where a message goes, given who is online.

use super::ConnId;
use super::presence::Directory;
use crate::proto::{ClientId, Target};

/// Where a message from `from` to `to` must go.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// To these live connections.
    Online(Vec<ConnId>),
    /// To a known contact that is offline: store it.
    Offline(ClientId),
    /// Nowhere: unknown recipient, or the sender itself.
    NoSuchPeer,
}

pub(crate) fn route(dir: &Directory, from: ClientId, to: Target) -> Route {
    match to {
        Target::Client(id) if id == from => Route::NoSuchPeer,
        Target::Client(id) => match dir.get(&id) {
            None => Route::NoSuchPeer,
            Some(known) if known.conns.is_empty() => Route::Offline(id),
            Some(known) => Route::Online(known.conns.clone()),
        },
        Target::Everyone => Route::Online(
            dir.online()
                .filter(|(id, _)| **id != from)
                .flat_map(|(_, known)| known.conns.iter().copied())
                .collect(),
        ),
    }
}
