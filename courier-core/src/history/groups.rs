//! Groups in the history: the names of the groups we were in (to find `#ops` without a
//! connection) and their membership changes ("Ada added Bob"), kept as entries of the
//! group's conversation between its messages. The messages themselves are kept as any
//! message, under the group's key.

use rusqlite::params;

use super::{Error, History, classify, sql_time};
use crate::proto::{ClientId, GroupChange, GroupEvent, GroupId, Timestamp};

/// Migration 4: additive, nothing older changes.
pub(super) const MIGRATION: &str = "CREATE TABLE groups (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL
    ) STRICT;
    CREATE TABLE group_events (
        seq INTEGER PRIMARY KEY,
        grp INTEGER NOT NULL,
        pos INTEGER NOT NULL,
        sender BLOB NOT NULL CHECK (length(sender) = 32),
        change BLOB NOT NULL,
        time INTEGER NOT NULL,
        after INTEGER NOT NULL,
        UNIQUE (grp, pos)
    ) STRICT;
    CREATE INDEX group_events_by_group ON group_events (grp, after);
    CREATE INDEX group_events_by_after ON group_events (after);";

/// A membership change as kept, in its place among the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptGroupEvent {
    /// The [`super::Entry::seq`] of the last message kept before it came (0: none): it is
    /// shown after that message and before the next. A group's entries arrive in the
    /// group's order, so its messages and changes read back in that order.
    pub after: i64,
    /// The change, as the hub sent it.
    pub event: GroupEvent,
}

/// A group id as SQLite keeps it (the same 64 bits).
fn sql_group(id: GroupId) -> i64 {
    i64::from_ne_bytes(id.0.to_ne_bytes())
}

fn group_of(sql: i64) -> GroupId {
    GroupId(u64::from_ne_bytes(sql.to_ne_bytes()))
}

impl History {
    /// Keeps a membership change in its group's conversation, after the messages kept
    /// so far. One the history has already (the same group and position, handed over
    /// again after a lost connection) is not kept twice; returns whether it was new.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn group_event(&self, event: &GroupEvent) -> Result<bool, Error> {
        let mut change = Vec::new();
        // Encoding into a Vec cannot fail.
        let _ = ciborium::into_writer(&event.change, &mut change);
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO group_events (grp, pos, sender, change, time, after)
                 VALUES (?1, ?2, ?3, ?4, ?5, (SELECT coalesce(max(seq), 0) FROM messages))",
            )
            .and_then(|mut s| {
                s.execute(params![
                    sql_group(event.group),
                    i64::try_from(event.seq).unwrap_or(i64::MAX),
                    &event.by.0[..],
                    &change,
                    sql_time(event.time),
                ])
            })
            .map_err(|e| classify(&self.path, e))?;
        Ok(n > 0)
    }

    /// The newest `limit` membership changes of `group` (`None`: of every group) kept
    /// among a page of messages: after the message `after` (a [`super::Entry::seq`];
    /// changes with [`KeptGroupEvent::after`] at least it) and, when `before` is given,
    /// before that message (`after` less than it). Oldest first.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn group_events(
        &self,
        group: Option<GroupId>,
        after: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<KeptGroupEvent>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT grp, pos, sender, change, time, after FROM group_events
                 WHERE (?1 IS NULL OR grp = ?1) AND after >= ?2 AND (?3 IS NULL OR after < ?3)
                 ORDER BY after DESC, grp DESC, pos DESC LIMIT ?4",
            )
            .map_err(|e| classify(&self.path, e))?;
        let rows = stmt
            .query_map(params![group.map(sql_group), after, before, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(|e| classify(&self.path, e))?;
        let mut out = Vec::new();
        for row in rows {
            let (grp, pos, by, change, time, after) = row.map_err(|e| classify(&self.path, e))?;
            // A row this version cannot read (a change a newer Courier knows) is left out.
            let (Ok(by), Ok(change)) = (
                <[u8; 32]>::try_from(by.as_slice()),
                ciborium::from_reader::<GroupChange, _>(change.as_slice()),
            ) else {
                continue;
            };
            out.push(KeptGroupEvent {
                after,
                event: GroupEvent {
                    group: group_of(grp),
                    seq: u64::try_from(pos).unwrap_or(0),
                    by: ClientId(by),
                    change,
                    time: Timestamp(u64::try_from(time).unwrap_or(0)),
                },
            });
        }
        out.reverse();
        Ok(out)
    }

    /// Remembers the names of groups, to find them (`#ops`) without a connection.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn group_names<'a>(
        &mut self,
        groups: impl IntoIterator<Item = (GroupId, &'a str)>,
    ) -> Result<(), Error> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO groups (id, name) VALUES (?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET name = ?2 WHERE name <> ?2",
                )
                .map_err(|e| classify(&path, e))?;
            for (id, name) in groups {
                upsert
                    .execute(params![sql_group(id), name])
                    .map_err(|e| classify(&path, e))?;
            }
        }
        tx.commit().map_err(|e| classify(&path, e))
    }

    /// Every group whose name is known: (id, name), ours now or before, by id.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn known_groups(&self) -> Result<Vec<(GroupId, String)>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name FROM groups")
            .map_err(|e| classify(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| classify(&self.path, e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name) = row.map_err(|e| classify(&self.path, e))?;
            out.push((group_of(id), name));
        }
        out.sort_unstable_by_key(|(id, _)| *id);
        Ok(out)
    }

    /// Forgets the membership changes of one group (`Some`) or of all (`None`), with
    /// [`History::clear`].
    pub(super) fn clear_group_events(&self, group: Option<GroupId>) -> rusqlite::Result<usize> {
        match group {
            Some(g) => self.conn.execute(
                "DELETE FROM group_events WHERE grp = ?1",
                params![sql_group(g)],
            ),
            None => self.conn.execute("DELETE FROM group_events", []),
        }
    }
}

/// A membership change in one line for a person ("Ada added Bob to #ops"): `name`
/// names a member (the caller escapes untrusted names and says "you" for us), `group`
/// is the group's label (`#ops`). The CLI and the app say changes the same way.
pub fn change_line(event: &GroupEvent, name: impl Fn(&ClientId) -> String, group: &str) -> String {
    let by = name(&event.by);
    match &event.change {
        GroupChange::Created { .. } => format!("{by} created {group}"),
        GroupChange::Added(m) => format!("{by} added {} to {group}", name(m)),
        GroupChange::Removed(m) => format!("{by} removed {} from {group}", name(m)),
        GroupChange::Left => format!("{by} left {group}"),
        GroupChange::Admin {
            member,
            admin: true,
        } => format!("{by} made {} an admin of {group}", name(member)),
        GroupChange::Admin {
            member,
            admin: false,
        } => format!("{by} made {} a plain member of {group}", name(member)),
        GroupChange::RemovedByOwner => format!("{by} was removed from {group} by the hub's owner"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::proto::{Message, MsgId, Target};

    use super::super::tests::{ADA, BOB, Dir, HUB, ME};

    const OPS: GroupId = GroupId(7);

    fn event(seq: u64, by: ClientId, change: GroupChange) -> GroupEvent {
        GroupEvent {
            group: OPS,
            seq,
            by,
            change,
            time: Timestamp(1_700_000_000_000 + seq),
        }
    }

    fn message(seq: u64, from: ClientId, text: &str) -> Message {
        Message {
            id: MsgId(seq),
            from,
            to: Target::Group(OPS),
            text: text.into(),
            time: Timestamp(1_700_000_000_000 + seq),
            seq: Some(seq),
        }
    }

    #[test]
    fn a_group_s_messages_and_changes_read_back_in_its_order_once_each() {
        let dir = Dir::new("order");
        let h = History::open(&dir.0, &HUB).unwrap();
        let created = GroupChange::Created { name: "ops".into() };
        assert!(h.group_event(&event(1, ADA, created.clone())).unwrap());
        assert!(h.received(&message(2, ADA, "hello all")).unwrap());
        assert!(
            h.group_event(&event(3, ADA, GroupChange::Added(BOB)))
                .unwrap()
        );
        assert!(h.received(&message(4, BOB, "hi, I am new")).unwrap());
        assert!(
            !h.group_event(&event(3, ADA, GroupChange::Added(BOB)))
                .unwrap(),
            "a change handed over again is kept once"
        );
        h.sent(ME, MsgId(99), Target::Group(OPS), "mine", Timestamp(5))
            .unwrap();

        let messages = h.page(Some(Target::Group(OPS)), None, 10).unwrap();
        let texts: Vec<&str> = messages.iter().rev().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["hello all", "hi, I am new", "mine"]);
        assert!(messages.iter().all(|e| e.peer == Target::Group(OPS)));

        let changes = h.group_events(Some(OPS), 0, None, 10).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].event, event(1, ADA, created));
        assert_eq!(changes[0].after, 0, "before any message");
        let hello = messages.last().unwrap().seq;
        assert_eq!(changes[1].after, hello, "after the first message");
        // Asked from a later message, only the changes after it.
        assert_eq!(h.group_events(Some(OPS), hello, None, 10).unwrap().len(), 1);
        assert!(
            h.group_events(Some(GroupId(8)), 0, None, 10)
                .unwrap()
                .is_empty()
        );
        // The group's messages are found by a search, as any.
        let found = h.search("new", 10).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].peer, Target::Group(OPS));
    }

    /// A page shows the changes among its messages, the newest when there are more than
    /// it holds: a change after many others (a creation with 60 members) is not cut.
    #[test]
    fn a_page_of_changes_keeps_the_newest_not_the_oldest() {
        let dir = Dir::new("newest");
        let h = History::open(&dir.0, &HUB).unwrap();
        let created = GroupChange::Created { name: "ops".into() };
        h.group_event(&event(1, ADA, created)).unwrap();
        for n in 2..=60u8 {
            let added = GroupChange::Added(ClientId([n + 10; 32]));
            h.group_event(&event(u64::from(n), ADA, added)).unwrap();
        }
        h.received(&message(61, ADA, "welcome all")).unwrap();
        const EVE: ClientId = ClientId([5; 32]);
        h.group_event(&event(62, ADA, GroupChange::Added(EVE)))
            .unwrap();
        h.received(&message(63, EVE, "hi")).unwrap();

        let changes = h.group_events(Some(OPS), 0, None, 50).unwrap();
        assert_eq!(changes.len(), 50);
        let last = changes.last().unwrap();
        assert_eq!(
            last.event.change,
            GroupChange::Added(EVE),
            "the newest is shown"
        );
        assert_eq!(changes[0].event.seq, 12, "the 50 newest, oldest first");
        // A page that ends at the message after which Eve was added: hers is not in it.
        let welcome = h.page(Some(Target::Group(OPS)), None, 10).unwrap()[1].seq;
        let before = h.group_events(Some(OPS), 0, Some(welcome), 50).unwrap();
        assert_eq!(before.last().unwrap().event.seq, 60);
    }

    #[test]
    fn clearing_a_group_forgets_its_changes_too() {
        let dir = Dir::new("clear");
        let h = History::open(&dir.0, &HUB).unwrap();
        h.group_event(&event(1, ADA, GroupChange::Left)).unwrap();
        h.received(&message(2, ADA, "bye")).unwrap();
        assert_eq!(h.clear(Some(Target::Group(OPS))).unwrap(), 1);
        assert!(h.group_events(None, 0, None, 10).unwrap().is_empty());
        h.group_event(&event(3, ADA, GroupChange::Left)).unwrap();
        h.clear(None).unwrap();
        assert!(h.group_events(None, 0, None, 10).unwrap().is_empty());
    }

    #[test]
    fn group_names_are_remembered_and_follow_a_rename() {
        let dir = Dir::new("names");
        let mut h = History::open(&dir.0, &HUB).unwrap();
        h.group_names([(OPS, "ops"), (GroupId(u64::MAX), "big")])
            .unwrap();
        h.group_names([(OPS, "Ops team")]).unwrap();
        drop(h);
        let h = History::open(&dir.0, &HUB).unwrap();
        assert_eq!(
            h.known_groups().unwrap(),
            [
                (OPS, "Ops team".to_owned()),
                (GroupId(u64::MAX), "big".to_owned())
            ]
        );
    }

    #[test]
    fn a_history_from_before_groups_keeps_its_messages_and_gains_them() {
        let dir = Dir::new("migrate");
        let path = History::path_for(&dir.0, &HUB);
        // The file as the last Courier without groups left it (migrations 1 to 3).
        let old = crate::sqlite::Schema {
            application_id: super::super::APPLICATION_ID,
            migrations: &super::super::MIGRATIONS[..3],
        };
        let conn = crate::sqlite::open(&path, &old).unwrap();
        conn.execute(
            "INSERT INTO messages (peer, sender, id, outgoing, text, time, state)
             VALUES (?1, ?2, 1, 0, 'from before', 5, 'received')",
            params![&ADA.0[..], &ADA.0[..]],
        )
        .unwrap();
        drop(conn);
        let h = History::open(&dir.0, &HUB).unwrap();
        let kept = h.page(None, None, 10).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].text, "from before");
        assert!(h.group_event(&event(1, ADA, GroupChange::Left)).unwrap());
        assert_eq!(
            h.group_events(None, 0, None, 10).unwrap()[0].after,
            kept[0].seq
        );
    }

    #[test]
    fn changes_read_as_people_say_them() {
        let name = |id: &ClientId| match *id {
            ADA => "Ada".to_owned(),
            BOB => "Bob".to_owned(),
            _ => "you".to_owned(),
        };
        let line = |by, change| change_line(&event(1, by, change), name, "#ops");
        assert_eq!(
            line(ADA, GroupChange::Created { name: "ops".into() }),
            "Ada created #ops"
        );
        assert_eq!(line(ADA, GroupChange::Added(BOB)), "Ada added Bob to #ops");
        assert_eq!(
            line(ADA, GroupChange::Removed(ME)),
            "Ada removed you from #ops"
        );
        assert_eq!(line(BOB, GroupChange::Left), "Bob left #ops");
        let admin = |admin| GroupChange::Admin { member: BOB, admin };
        assert_eq!(line(ADA, admin(true)), "Ada made Bob an admin of #ops");
        assert_eq!(
            line(ADA, admin(false)),
            "Ada made Bob a plain member of #ops"
        );
        assert_eq!(
            line(BOB, GroupChange::RemovedByOwner),
            "Bob was removed from #ops by the hub's owner"
        );
    }
}
