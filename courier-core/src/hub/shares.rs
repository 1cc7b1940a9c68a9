//! Room key shares ([`ClientFrame::Shares`](crate::proto::ClientFrame::Shares)): each
//! item is routed like a direct message to its member and answered by its own receipt.
//! They spend an allowance of their own, large enough for a whole group at once and a
//! few rooms, so a first message to a large room is never refused for its shares.

use std::sync::Arc;
use std::time::Instant;

use super::{ConnId, Hub};
use crate::limits;
use crate::proto::{Delivery, ErrorCode, RejectReason, ServerFrame, Share, Target};

impl Hub {
    /// Routes each share of a frame; a malformed frame (too many items, an id without
    /// the share bit, an envelope out of bounds) is refused whole.
    pub(super) fn shares(
        &mut self,
        conn: ConnId,
        client: crate::proto::ClientId,
        items: Vec<Share>,
        now: Instant,
    ) {
        if items.len() > limits::SHARES_PER_FRAME || !items.iter().all(Share::is_well_formed) {
            self.violation(conn, now);
            let why = "a frame of room key shares holds at most one share per group member, \
                       each with a share id and a small envelope";
            return self.error(conn, ErrorCode::Unexpected, why, now);
        }
        // One violation per frame that went over the allowance, not one per item: a
        // member sharing with a few large rooms at once is not flooding.
        let mut refused = false;
        for Share { to, id, sealed } in items {
            let allowed = self
                .conns
                .get_mut(&conn)
                .is_some_and(|c| c.shares.take(now));
            if !allowed {
                refused = true;
                let status = Delivery::Rejected(RejectReason::RateLimited);
                self.send(conn, Arc::new(ServerFrame::Receipt { id, status }), now);
                continue;
            }
            // A share stored for an offline member is answered once it is written.
            if let Some(status) = self.deliver(conn, client, id, Target::Client(to), sealed, now) {
                self.send(conn, Arc::new(ServerFrame::Receipt { id, status }), now);
            }
        }
        if refused {
            self.over_allowance(conn, now);
        }
    }
}
