//! [`Recent`]: the messages a session saw lately, to drop repeats across reconnects.

use std::collections::{HashSet, VecDeque};

use crate::proto::{ClientId, MsgId};

/// Messages seen lately, by sender and id, to drop the duplicates a handover that was
/// cut short causes (the hub sends the unacknowledged page again). Bounded: the oldest
/// are forgotten first.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    order: VecDeque<(ClientId, MsgId)>,
    seen: HashSet<(ClientId, MsgId)>,
}

/// Messages [`Recent`] remembers: more than a few pages of a mailbox.
const RECENT: usize = 4096;

impl Recent {
    /// Whether this is the first time message `id` from `from` shows up (opened or
    /// not).
    pub(crate) fn first_time(&mut self, from: ClientId, id: MsgId) -> bool {
        let key = (from, id);
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > RECENT
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}
