//! Reach-back checks: a member asks whether others can connect to it on a port; the
//! hub asks the driver to try ([`Transmit::Reachback`]), only ever to the address the
//! member comes from, a few times a minute per member and a bounded number at once,
//! and tells the member what the driver found ([`Hub::handle_reachback`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::{ConnId, Hub, Transmit};
use crate::limits;
use crate::proto::{Reach, ServerFrame};

impl Hub {
    /// A member asks whether the hub can connect back to it on `port`: only ever to the
    /// address its own connection comes from, a few times a minute per member (not per
    /// connection), a bounded number at once for the whole hub.
    pub(super) fn reachback(&mut self, conn: ConnId, port: u16, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let seen = c.peer;
        let Some(client) = c.client() else { return };
        let allowed = self
            .reachbacks
            .entry(client)
            .or_insert_with(|| {
                super::limit::Bucket::new_per_minute(
                    limits::REACHBACKS_PER_MIN,
                    limits::REACHBACK_BURST,
                    now,
                )
            })
            .take(now);
        let outcome = if !allowed || self.reaching >= limits::REACHBACKS_AT_ONCE {
            Reach::TooSoon
        } else if port == 0 {
            Reach::Unreachable
        } else {
            self.reaching += 1;
            let addr = SocketAddr::new(seen.ip(), port);
            self.transmits.push_back(Transmit::Reachback { conn, addr });
            return;
        };
        let frame = ServerFrame::Reachback {
            seen,
            port,
            outcome,
        };
        self.send(conn, Arc::new(frame), now);
    }

    /// The driver tried a [`Transmit::Reachback`] for `conn`: tells it (if still here).
    pub fn handle_reachback(
        &mut self,
        conn: ConnId,
        addr: SocketAddr,
        outcome: crate::proto::Reach,
        now: Instant,
    ) {
        self.reaching = self.reaching.saturating_sub(1);
        let Some(seen) = self
            .conns
            .get(&conn)
            .filter(|c| c.is_ready())
            .map(|c| c.peer)
        else {
            return;
        };
        let frame = ServerFrame::Reachback {
            seen,
            port: addr.port(),
            outcome,
        };
        self.send(conn, Arc::new(frame), now);
    }
}
