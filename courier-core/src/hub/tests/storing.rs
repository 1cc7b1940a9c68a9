//! A hub with a database on the simulator, writing to a real SQLite file as its driver
//! does: a message for an offline contact is `stored` only once its batch is written;
//! what could not be written is refused with a reason; the backlog stays on the disk
//! and comes up a page at a time; what is kept survives a restart, with its sender and
//! time.
use super::*;
use crate::hub::db::{Db, Record};

/// A hub database in a folder of its own, removed afterwards.
pub(super) struct Disk {
    pub(super) db: Db,
    dir: std::path::PathBuf,
}

impl Disk {
    pub(super) fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "courier-storing-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Db::open(&dir.join("hub.db")).unwrap();
        Self { db, dir }
    }

    /// What the driver does: writes what the hub hands out, tells it, gives it the
    /// pages read; until nothing is left.
    pub(super) fn sync(&self, sim: &mut Sim) {
        loop {
            let records = sim.hub.poll_writes();
            if records.is_empty() {
                return;
            }
            let now = sim.now;
            let written = self.db.write(&records).unwrap();
            sim.hub.handle_written(1, true, now);
            sim.hub.handle_loaded(written, now);
            sim.run();
        }
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A hub that keeps (as one with a database does), Alice online, Bob known and away.
fn hub_with_db(disk: &Disk) -> (Sim, usize) {
    let mut sim = Sim::new(PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    disk.sync(&mut sim);
    sim.clear();
    (sim, a)
}

fn stored_messages(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Message { to, message } if *to == id(2) => {
                Some(crate::proto::decode_any::<String>(message.sealed.as_bytes()).unwrap())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn stored_is_said_only_once_the_batch_is_written() {
    let disk = Disk::new("said");
    let (mut sim, a) = hub_with_db(&disk);
    send(&mut sim, a, 1, Target::Client(id(2)), "first");
    send(&mut sim, a, 2, Target::Client(id(2)), "second");
    assert!(
        receipts(&sim, a).is_empty(),
        "nothing said before the disk has it"
    );
    let batch = sim.hub.poll_writes();
    assert_eq!(stored_messages(&batch), vec!["first", "second"]);
    // Online traffic meanwhile is not held back.
    let c = sim.login(3, "carol");
    send(&mut sim, a, 3, Target::Client(id(3)), "hi carol");
    assert_eq!(receipts(&sim, a), vec![(MsgId(3), Delivery::Delivered)]);
    assert_eq!(messages(&sim, c).len(), 1);

    let now = sim.now;
    disk.db.write(&batch).unwrap();
    sim.hub.handle_written(1, true, now);
    sim.run();
    assert_eq!(
        receipts(&sim, a),
        vec![
            (MsgId(3), Delivery::Delivered),
            (MsgId(1), Delivery::Stored),
            (MsgId(2), Delivery::Stored)
        ]
    );
    assert_eq!(sim.hub.stats().stored_in_memory, 0, "on the disk only");
    let b = sim.login(2, "bob");
    assert!(messages(&sim, b).is_empty(), "read from the disk first");
    let fetch = sim.hub.poll_writes();
    assert!(
        fetch
            .iter()
            .any(|r| matches!(r, Record::Fetch { to, .. } if *to == id(2))),
        "{fetch:?}"
    );
    let written = disk.db.write(&fetch).unwrap();
    let now = sim.now;
    sim.hub.handle_written(1, true, now);
    sim.hub.handle_loaded(written, now);
    sim.run();
    let got: Vec<String> = messages(&sim, b).into_iter().map(|m| m.text).collect();
    assert_eq!(got, vec!["first", "second"]);
    // Bob's acknowledgement is forgotten on the disk too.
    let after = sim.hub.poll_writes();
    assert!(
        after
            .iter()
            .any(|r| matches!(r, Record::Delivered { to, messages }
            if *to == id(2) && messages.len() == 2 && messages[0] == (id(1), MsgId(1)))),
        "{after:?}"
    );
}

#[test]
fn what_could_not_be_written_is_refused_with_a_reason_and_never_delivered() {
    let disk = Disk::new("refused");
    let (mut sim, a) = hub_with_db(&disk);
    send(&mut sim, a, 1, Target::Client(id(2)), "lost to a full disk");
    assert_eq!(stored_messages(&sim.hub.poll_writes()).len(), 1);
    let now = sim.now;
    sim.hub.handle_written(1, false, now);
    sim.run();
    assert_eq!(
        receipts(&sim, a),
        vec![(MsgId(1), Delivery::Rejected(RejectReason::CouldNotStore))]
    );
    assert_eq!(sim.hub.stats().stored, 0);
    assert_eq!(sim.hub.stats().stored_bytes, 0, "its room is given back");
    let b = sim.login(2, "bob");
    disk.sync(&mut sim);
    assert!(messages(&sim, b).is_empty());
}

#[test]
fn a_recipient_who_comes_online_before_the_write_gets_it_right_after() {
    let disk = Disk::new("racing");
    let (mut sim, a) = hub_with_db(&disk);
    send(&mut sim, a, 1, Target::Client(id(2)), "racing");
    let batch = sim.hub.poll_writes();
    disk.db.write(&batch).unwrap();
    let b = sim.login(2, "bob");
    assert!(messages(&sim, b).is_empty(), "not on the disk yet");
    let now = sim.now;
    sim.hub.handle_written(1, true, now);
    sim.run();
    assert_eq!(
        messages(&sim, b)
            .into_iter()
            .map(|m| m.text)
            .collect::<Vec<_>>(),
        vec!["racing"]
    );
}

#[test]
fn the_recipient_s_queue_counts_messages_still_on_their_way_to_the_disk() {
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.mailbox = 2;
    let mut sim = Sim::with_config(config, PW);
    sim.hub.restore(Vec::new(), Vec::new());
    established(&mut sim, &[1, 3, 4]);
    // One message from each of three senders (one sender may fill only a share).
    let senders: Vec<usize> = [1, 3, 4].map(|n| sim.login(n, "sender")).into();
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    sim.clear();
    for (n, &s) in senders.iter().enumerate() {
        send(&mut sim, s, n as u64, Target::Client(id(2)), "m");
    }
    let r: Vec<(MsgId, Delivery)> = senders.iter().flat_map(|&s| receipts(&sim, s)).collect();
    assert_eq!(
        r,
        vec![(MsgId(2), Delivery::Rejected(RejectReason::MailboxFull))]
    );
}

#[test]
fn stored_messages_come_back_with_their_sender_and_time_after_a_restart() {
    let disk = Disk::new("restart");
    let kept = Message {
        id: MsgId(77),
        from: id(1),
        to: Target::Client(id(2)),
        text: "from before the restart".into(),
        time: Timestamp(1_600_000_000_000),
        seq: None,
    };
    // As the hub keeps it: sealed (the plain test envelope of `Session::unsealed`).
    let sealed = crate::proto::SealedMessage {
        id: kept.id,
        from: kept.from,
        to: kept.to,
        sealed: crate::proto::Sealed::from(crate::proto::encode(&kept.text)),
        time: kept.time,
        seq: None,
    };
    let member = |n: u8, name: &str| crate::hub::db::Member {
        id: id(n),
        profile: Profile::with_name(name),
        first_seen: None,
        last_seen: Timestamp(1),
        logins: 2,
        avatar_changed: None,
        remembered_since: None,
        card_mark: Default::default(),
    };
    disk.db
        .write(&[
            Record::Member(member(1, "alice")),
            Record::Member(member(2, "bob")),
            Record::Message {
                to: id(2),
                message: std::sync::Arc::new(sealed),
            },
        ])
        .unwrap();
    let mut sim = Sim::new(PW);
    sim.hub
        .restore(disk.db.members().unwrap(), disk.db.backlogs().unwrap());
    assert_eq!(sim.hub.stats().stored, 1);
    assert_eq!(sim.hub.stats().stored_in_memory, 0);
    let b = sim.login(2, "bob");
    disk.sync(&mut sim);
    assert_eq!(messages(&sim, b), vec![kept]);
    assert_eq!(
        disk.db.backlogs().unwrap(),
        vec![],
        "acknowledged: forgotten"
    );
    // Alice shows in Bob's list though she has not come back yet.
    assert!(
        matches!(&sim.events(b)[0], SEvent::LoggedIn { contacts, .. }
        if contacts.iter().any(|c| c.id == id(1) && !c.online && c.profile.name == "alice"))
    );
}

#[test]
fn a_long_backlog_comes_up_page_by_page_in_order_and_nothing_waits_in_memory() {
    let disk = Disk::new("backlog");
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.mailbox = crate::limits::MAILBOX_ON_DISK;
    let mut sim = Sim::with_config(config, PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    disk.sync(&mut sim);
    sim.clear();
    let total = crate::limits::MAILBOX_PAGE as u64 * 2 + 17;
    for n in 0..total {
        send(&mut sim, a, n, Target::Client(id(2)), &format!("m{n}"));
        if n % 40 == 0 {
            // Under the sender's message rate.
            sim.advance(Duration::from_secs(3));
        }
        disk.sync(&mut sim);
    }
    let stats = sim.hub.stats();
    assert_eq!((stats.stored, stats.stored_in_memory), (total as usize, 0));
    let b = sim.login(2, "bob");
    disk.sync(&mut sim);
    let got: Vec<String> = messages(&sim, b).into_iter().map(|m| m.text).collect();
    let expected: Vec<String> = (0..total).map(|n| format!("m{n}")).collect();
    assert_eq!(got, expected, "all, once, in order");
    assert_eq!(sim.hub.stats().stored, 0);
    assert!(disk.db.backlogs().unwrap().is_empty());
}

#[test]
fn messages_older_than_the_hub_keeps_them_are_forgotten_on_the_disk() {
    let disk = Disk::new("expiry");
    let mut config = crate::testing::hub_config(&crate::auth::Password::new(PW));
    config.offline_max_age = Duration::from_secs(20);
    let mut sim = Sim::with_config(config, PW);
    sim.hub.restore(Vec::new(), Vec::new());
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    sim.disconnect(b);
    disk.sync(&mut sim);
    send(&mut sim, a, 1, Target::Client(id(2)), "old news");
    disk.sync(&mut sim);
    sim.advance(Duration::from_secs(12));
    send(&mut sim, a, 2, Target::Client(id(2)), "fresh");
    disk.sync(&mut sim);
    assert_eq!(sim.hub.stats().stored, 2);
    // 25 s after the first: it is past 20 s, the second is not.
    sim.advance(Duration::from_secs(13));
    disk.sync(&mut sim);
    assert_eq!(sim.hub.stats().stored, 1);
    assert_eq!(
        disk.db
            .backlogs()
            .unwrap()
            .iter()
            .map(|w| w.count)
            .sum::<usize>(),
        1
    );
    sim.clear();
    let b = sim.login(2, "bob");
    disk.sync(&mut sim);
    let got: Vec<String> = messages(&sim, b).into_iter().map(|m| m.text).collect();
    assert_eq!(got, vec!["fresh"]);
}
