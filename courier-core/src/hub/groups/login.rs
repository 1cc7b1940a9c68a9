//! A member's groups at login: the list of its groups, a page at a time after the
//! contact list (every logged-in connection gets it), then, for a connection that shows
//! messages, the pages of each group's log it has not been handed, one page in flight
//! at a time; and what a connection's end or a member's leaving does to those.

use std::sync::Arc;
use std::time::Instant;

use super::super::{CloseReason, ConnId, Hub};
use super::Paging;
use crate::limits;
use crate::proto::{ClientId, GroupEntry, GroupId, Seq, ServerFrame};

impl Hub {
    /// The contact list of `conn` is complete: its groups list follows, from the first
    /// page (always at least one page, maybe empty).
    pub(crate) fn groups_after_contacts(&mut self, conn: ConnId, client: ClientId, now: Instant) {
        self.groups_page(conn, client, None, now);
    }

    /// Whether `conn` is owed the next page of its groups list.
    pub(crate) fn is_listing_groups(&self, conn: ConnId) -> bool {
        self.groups.listing.contains_key(&conn)
    }

    /// Whether `conn` of `client` may acknowledge a page of `group`'s log: one is on its
    /// way, or was when its member left the group.
    pub(crate) fn page_ack_owed(&self, conn: ConnId, client: ClientId, group: GroupId) -> bool {
        self.groups.reset.contains(&(conn, group))
            || self
                .groups
                .paging
                .get(&client)
                .is_some_and(|p| p.conn == conn && p.group == group)
    }

    /// The client on `conn` asks for the next page of its groups list.
    pub(crate) fn next_groups(&mut self, conn: ConnId, client: ClientId, now: Instant) {
        match self.groups.listing.remove(&conn) {
            Some(after) => self.groups_page(conn, client, Some(after), now),
            None => self.close(conn, CloseReason::Unexpected, now),
        }
    }

    fn groups_page(
        &mut self,
        conn: ConnId,
        client: ClientId,
        after: Option<GroupId>,
        now: Instant,
    ) {
        let (page, more) = {
            let mut ids = self
                .groups
                .table
                .of(&client)
                .filter(|g| after.is_none_or(|a| *g > a));
            let page: Vec<GroupId> = ids.by_ref().take(limits::GROUP_PAGE).collect();
            (page, ids.next().is_some())
        };
        let groups = page
            .iter()
            .filter_map(|g| self.groups.table.groups.get(g).map(|g| g.view()))
            .collect();
        if more && let Some(last) = page.last() {
            self.groups.listing.insert(conn, *last);
        }
        self.send(conn, Arc::new(ServerFrame::Groups { groups, more }), now);
        if !more {
            self.groups.listed.insert(conn);
            if self.shows_messages(conn) {
                self.member_conns(client, |conns| conns.push(conn));
            }
            self.page_groups(client, now);
        }
    }

    /// Sends `client` the next page of a group log it has not been handed, on a
    /// connection of it that shows messages, unless a page is on its way already.
    pub(crate) fn page_groups(&mut self, client: ClientId, now: Instant) {
        if self.groups.paging.contains_key(&client) {
            return;
        }
        // Only once that connection has its groups list: it learns the groups first.
        let Some(conn) = self.showing_conns_of(client).into_iter().next() else {
            return;
        };
        let ids: Vec<GroupId> = self.groups.table.of(&client).collect();
        for group in ids {
            let Some(g) = self.groups.table.groups.get_mut(&group) else {
                continue;
            };
            let last = g.last;
            let Some(m) = g.member_mut(&client) else {
                continue;
            };
            if m.got >= last {
                continue;
            }
            let got = m.got;
            let Some(page) = g.log.page(got, limits::GROUP_PAGE_ENTRIES) else {
                // On the disk: handed over once read back.
                self.fetch_page(group, got, client);
                return;
            };
            let entries: Vec<GroupEntry> = page.iter().map(|e| (**e).clone()).collect();
            if self.has_db {
                // The page holds them now; the disk keeps them for whoever else needs them.
                for e in &entries {
                    g.log.evict(e.seq());
                }
            }
            let Some(upto) = entries.last().map(GroupEntry::seq) else {
                // What it missed was forgotten (too old, or pushed out): nothing to hand.
                if let Some(m) = g.member_mut(&client) {
                    m.got = last;
                }
                self.forget_handed(group);
                self.member_record(group, client);
                continue;
            };
            self.groups
                .paging
                .insert(client, Paging { conn, group, upto });
            let page = ServerFrame::GroupPage { group, entries };
            self.send(conn, Arc::new(page), now);
            return;
        }
    }

    /// The client on `conn` acknowledges the page of `group` on its way: it is handed
    /// over, and the next page follows. The acknowledgement of a page sent before its
    /// member left the group (maybe added again since) is ignored; one of no page closes
    /// the connection.
    pub(crate) fn group_page_ack(
        &mut self,
        conn: ConnId,
        client: ClientId,
        group: GroupId,
        _upto: Seq,
        now: Instant,
    ) {
        // Acknowledgements come in the order the pages went: this one is for that page.
        if self.groups.reset.remove(&(conn, group)) {
            return;
        }
        let in_group = self.groups.table.of(&client).any(|g| g == group);
        let Some(p) = self
            .groups
            .paging
            .get(&client)
            .copied()
            .filter(|p| p.conn == conn && p.group == group)
        else {
            // A page of a group it has just left may still be answered; any other
            // acknowledgement makes no sense.
            if in_group {
                self.close(conn, CloseReason::Unexpected, now);
            }
            return;
        };
        self.groups.paging.remove(&client);
        if let Some(m) = self
            .groups
            .table
            .groups
            .get_mut(&group)
            .and_then(|g| g.member_mut(&client))
        {
            m.got = m.got.max(p.upto);
        }
        self.forget_handed(group);
        self.member_record(group, client);
        self.page_groups(client, now);
    }

    /// `conn` of `client` is gone: its list and page are no longer on their way (the
    /// page goes again, to another connection if there is one).
    pub(crate) fn groups_conn_gone(&mut self, conn: ConnId, client: ClientId, now: Instant) {
        self.groups.listing.remove(&conn);
        self.groups.reset.retain(|(c, _)| *c != conn);
        if self.groups.listed.remove(&conn) {
            self.member_conns(client, |conns| conns.retain(|c| *c != conn));
        }
        if self
            .groups
            .paging
            .get(&client)
            .is_some_and(|p| p.conn == conn)
        {
            self.groups.paging.remove(&client);
            self.page_groups(client, now);
        }
        if self
            .directory
            .get(&client)
            .is_none_or(|k| k.conns.is_empty())
        {
            // Gone offline: how far it was handed each group is kept.
            let groups: Vec<GroupId> = self.groups.table.of(&client).collect();
            for group in groups {
                self.member_record(group, client);
            }
        }
    }

    /// Changes the connections `client` is handed entries on, in every group it is in.
    fn member_conns(&mut self, client: ClientId, mut change: impl FnMut(&mut Vec<ConnId>)) {
        let table = &mut self.groups.table;
        let ids: Vec<GroupId> = table.of(&client).collect();
        for group in ids {
            if let Some(m) = table
                .groups
                .get_mut(&group)
                .and_then(|g| g.member_mut(&client))
            {
                change(&mut m.conns);
            }
        }
    }

    /// `member` is no longer in `group`: a page of it on its way no longer counts.
    pub(super) fn member_gone(&mut self, group: GroupId, member: ClientId, now: Instant) {
        if let Some(p) = self
            .groups
            .paging
            .get(&member)
            .copied()
            .filter(|p| p.group == group)
        {
            self.groups.paging.remove(&member);
            self.groups.reset.insert((p.conn, group));
            self.page_groups(member, now);
        }
        self.member_gone_record(group, member);
    }
}
