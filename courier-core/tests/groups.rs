//! Groups on a real hub: real sockets, real sessions, a real SQLite file. A hub process
//! killed with SIGKILL and started again keeps its groups and hands members who were
//! away every message acknowledged `stored`, exactly once; a member removed while away
//! gets nothing after the removal, across the restart; and a group's messages cost the
//! disk about what the same messages to one offline contact cost, not that times the
//! members away.
//!
//! The hub killed is this test binary run again as a child (`hub_child` below, which
//! runs a hub only when told to by its environment), so a kill is a real `kill -9` of a
//! process that has its database open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::process::{Child, Command};
use std::time::Duration;

use common::*;
use courier_core::auth::Password;
use courier_core::hub::{self, Home};
use courier_core::identity::Identity;
use courier_core::proto::{
    self as proto, ClientId, Delivery, GroupChange, GroupEntry, GroupId, GroupOutcome, MsgId,
    Profile, Target,
};
use courier_core::session::{self, Event, GroupRequest};

const DIR_VAR: &str = "COURIER_TEST_GROUPS_HUB_DIR";
const PORT_VAR: &str = "COURIER_TEST_GROUPS_HUB_PORT";

/// Not a test of its own: run as a child process with [`DIR_VAR`] and [`PORT_VAR`] set,
/// it runs a hub keeping its data in that folder, until killed.
#[test]
fn hub_child() {
    let (Ok(dir), Ok(port)) = (std::env::var(DIR_VAR), std::env::var(PORT_VAR)) else {
        return;
    };
    smol::block_on(async {
        let home = Home::open(std::path::Path::new(&dir)).unwrap();
        let secret = match home.secret().unwrap() {
            Some(s) => s,
            None => home.set_password(&Password::new(PW)).unwrap(),
        };
        let mut config = hub::Config::new(home.identity().unwrap(), secret);
        config.db = Some(home.database().unwrap());
        unhurried(&mut config);
        let listener = async_net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap()))
            .await
            .unwrap();
        hub::serve(listener, config, futures::future::pending())
            .await
            .unwrap();
    });
}

/// No message rate limit: the tests send hundreds of messages at once.
fn unhurried(config: &mut hub::Config) {
    // As `courier hub` keeps them with its database.
    config.mailbox = courier_core::limits::MAILBOX_ON_DISK;
    config.message_rate = 100_000;
    config.message_burst = 100_000;
}

/// A hub process over `dir` on `port`; killed (SIGKILL) when dropped.
struct HubChild(Child);

impl HubChild {
    async fn start(dir: &std::path::Path, port: u16) -> Self {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "hub_child", "--nocapture", "--test-threads=1"])
            .env(DIR_VAR, dir)
            .env(PORT_VAR, port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Listening once it accepts a connection.
        while async_net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            sleep(Duration::from_millis(20)).await;
        }
        Self(child)
    }

    /// `kill -9`.
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for HubChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A member with an identity of its own, logged in again by [`Member::login`].
struct Member {
    identity: Identity,
    name: &'static str,
    /// Where its keys live, across its logins.
    keys: std::path::PathBuf,
}

impl Member {
    fn new(name: &'static str) -> Self {
        Self {
            identity: Identity::generate().unwrap(),
            name,
            keys: scratch_dir(name),
        }
    }

    fn id(&self) -> ClientId {
        self.identity.id()
    }

    async fn login(&self, addr: &str) -> Client {
        let config = session::Config::new(
            addr,
            self.identity.clone(),
            Password::new(PW),
            Profile::with_name(self.name),
        );
        let config = session::Config {
            keys: session::KeyStore::Folder(self.keys.clone()),
            ..config
        };
        Client::login_with(config).await
    }
}

async fn group_change(c: &mut Client, request: GroupRequest) -> GroupOutcome {
    let tag = c.handle().change_group(request).await.unwrap();
    match c
        .event(|e| matches!(e, Event::GroupAnswer { tag: t, .. } if *t == tag))
        .await
    {
        Event::GroupAnswer { outcome, .. } => outcome,
        _ => unreachable!(),
    }
}

/// Waits until `c` hears that each of `whos` went offline.
async fn gone_offline(c: &mut Client, whos: &[ClientId]) {
    let mut left: Vec<ClientId> = whos.to_vec();
    while !left.is_empty() {
        if let Event::Contact(k) = c
            .event(|e| matches!(e, Event::Contact(k) if !k.online))
            .await
        {
            left.retain(|w| *w != k.id);
        }
    }
}

/// Sends `texts` to `group` and waits for each receipt; the receipts.
async fn send_all(c: &mut Client, group: GroupId, texts: &[String]) -> Vec<Delivery> {
    let mut ids = Vec::new();
    for t in texts {
        ids.push(
            c.handle()
                .send_message(Target::Group(group), t.clone())
                .await
                .unwrap(),
        );
    }
    receipts_for(c, &ids).await
}

/// The receipts for `ids`, in that order (whatever order they come in).
async fn receipts_for(c: &mut Client, ids: &[MsgId]) -> Vec<Delivery> {
    let mut got = std::collections::HashMap::new();
    while got.len() < ids.len() {
        if let Event::Receipt { id, status } = c
            .event(|e| matches!(e, Event::Receipt { id, .. } if ids.contains(id)))
            .await
        {
            got.insert(id, status);
        }
    }
    ids.iter().filter_map(|id| got.remove(id)).collect()
}

/// What `c` is handed of `group` until a message with `marker` arrives (to the group:
/// counted in): group messages' texts, and membership changes.
async fn until_text(
    c: &mut Client,
    group: GroupId,
    marker: &str,
) -> (Vec<String>, Vec<GroupChange>) {
    let (mut texts, mut changes) = (Vec::new(), Vec::new());
    loop {
        match c.event(|_| true).await {
            Event::Message(m) if m.to == Target::Group(group) => {
                let done = m.text == marker;
                texts.push(m.text);
                if done {
                    return (texts, changes);
                }
            }
            Event::Message(m) if m.text == marker => return (texts, changes),
            Event::GroupEvent(e) if e.group == group => changes.push(e.change),
            _ => {}
        }
    }
}

both!(
    after_a_kill_9_members_away_get_everything_stored_once_and_the_removed_nothing,
    || async {
        let dir = scratch_dir("groups-kill9");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = HubChild::start(&dir, port).await;
        let [alice, bob, dave] = ["alice", "bob", "dave"].map(Member::new);
        let mut a = alice.login(&addr).await;
        let b = bob.login(&addr).await;
        let d = dave.login(&addr).await;
        let create = GroupRequest::Create {
            name: "ops".into(),
            members: vec![bob.id(), dave.id()],
        };
        let GroupOutcome::Done(g) = group_change(&mut a, create).await else {
            unreachable!("created")
        };
        drop((b, d));
        gone_offline(&mut a, &[bob.id(), dave.id()]).await;
        let first: Vec<String> = (0..10).map(|k| format!("before {k}")).collect();
        let receipts = send_all(&mut a, g, &first).await;
        assert!(
            receipts.iter().all(|r| *r == Delivery::Stored),
            "{receipts:?}"
        );
        let remove = GroupRequest::Remove {
            group: g,
            member: dave.id(),
        };
        assert_eq!(group_change(&mut a, remove).await, GroupOutcome::Done(g));
        let second: Vec<String> = (0..10).map(|k| format!("after {k}")).collect();
        let receipts = send_all(&mut a, g, &second).await;
        assert!(
            receipts.iter().all(|r| *r == Delivery::Stored),
            "{receipts:?}"
        );
        drop(a);

        child.kill();
        let _child = HubChild::start(&dir, port).await;

        let mut b = bob.login(&addr).await;
        let mut d = dave.login(&addr).await;
        let listed = d.event(|e| matches!(e, Event::Groups(_))).await;
        assert!(
            matches!(&listed, Event::Groups(l) if l.iter().all(|x| x.id != g)),
            "{listed:?}"
        );
        // Bob: every message stored, in order, each once (a duplicate would take the
        // place of one not yet there)...
        let all: Vec<String> = first.iter().chain(&second).cloned().collect();
        let mut texts = Vec::new();
        let mut changes = Vec::new();
        while texts.len() < all.len() {
            match b.event(|_| true).await {
                Event::Message(m) if m.to == Target::Group(g) => texts.push(m.text),
                Event::GroupEvent(e) if e.group == g => changes.push(e.change),
                _ => {}
            }
        }
        assert_eq!(texts, all, "everything stored, once, in order");
        assert!(changes.contains(&GroupChange::Removed(dave.id())));
        // ... and then nothing again: a message written now comes live, after the
        // pages, and is the next thing he gets from the group.
        let mut a = alice.login(&addr).await;
        send_all(&mut a, g, &["live now".to_owned()]).await;
        let (texts, _) = until_text(&mut b, g, "live now").await;
        assert_eq!(texts, ["live now"], "nothing twice");
        a.handle()
            .send_message(Target::Client(dave.id()), "marker")
            .await
            .unwrap();
        let (texts, changes) = until_text(&mut d, g, "marker").await;
        assert!(
            texts.is_empty() && changes.is_empty(),
            "nothing for a member removed while away: {texts:?} {changes:?}"
        );
    }
);

/// How much `hub.db` (and its WAL) takes in `dir`.
fn db_bytes(dir: &std::path::Path) -> u64 {
    ["hub.db", "hub.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// A hub over `dir` on `addr` (the same hub again when both are the same), and a stop
/// that waits for it to finish.
fn run_hub(
    dir: &std::path::Path,
    listener: std::net::TcpListener,
) -> (TestHub, async_channel::Receiver<()>) {
    let home = Home::open(dir).unwrap();
    let db = home.database().unwrap();
    let (hub, run) = start_hub_on(listener, home.identity().unwrap(), move |c| {
        c.db = Some(db);
        unhurried(c);
    });
    let (running, gone) = async_channel::bounded::<()>(1);
    spawn(async move {
        run.await;
        drop(running);
    });
    (hub, gone)
}

async fn stop(hub: TestHub, gone: async_channel::Receiver<()>) {
    hub.stop();
    let _ = gone.recv().await;
}

/// How much the database grew for 300 messages from Alice to `to`, with `away` members
/// who were handed none of them.
async fn growth(label: &str, away: usize, to_group: bool) -> u64 {
    let dir = scratch_dir(label);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (hub, gone) = run_hub(&dir, listener);
    let alice = Member::new("alice");
    let members: Vec<Member> = (0..away).map(|_| Member::new("member")).collect();
    let mut a = alice.login(&hub.addr()).await;
    for m in &members {
        let c = m.login(&hub.addr()).await;
        drop(c);
        gone_offline(&mut a, &[m.id()]).await;
    }
    let target = if to_group {
        let create = GroupRequest::Create {
            name: "class".into(),
            members: members.iter().map(Member::id).collect(),
        };
        let GroupOutcome::Done(g) = group_change(&mut a, create).await else {
            unreachable!("created")
        };
        Target::Group(g)
    } else {
        Target::Client(members[0].id())
    };
    drop(a);
    stop(hub, gone).await;
    let before = db_bytes(&dir);
    let (hub, gone) = run_hub(&dir, std::net::TcpListener::bind(addr).unwrap());
    let mut a = alice.login(&hub.addr()).await;
    let mut ids: Vec<MsgId> = Vec::new();
    for k in 0..300 {
        let text = format!("message {k:03} of the day, about as long as a chat line usually is.");
        ids.push(a.handle().send_message(target, text).await.unwrap());
    }
    let receipts = receipts_for(&mut a, &ids).await;
    assert!(
        receipts.iter().all(|r| *r == Delivery::Stored),
        "{receipts:?}"
    );
    drop(a);
    stop(hub, gone).await;
    db_bytes(&dir) - before
}

both!(
    a_group_s_messages_cost_the_disk_one_copy_not_one_per_member_away,
    || async {
        let direct = growth("direct", 1, false).await;
        let group = growth("group", 19, true).await;
        println!("hub.db grew {direct} bytes for 300 messages to one offline contact");
        println!("hub.db grew {group} bytes for 300 messages to a group of 20, 19 away");
        assert!(
            group * 2 <= direct * 3,
            "group {group} > 1.5 x direct {direct}"
        );
    }
);

// A connection still paging through its contact list does not know its groups yet: a
// message to one of them waits in the log and comes, in a page, after the groups list.
both!(
    a_connection_learns_its_groups_before_their_messages,
    || async {
        let (hub, run) = start_hub(unhurried);
        with_hub(run, async {
            let addr = hub.addr();
            let mut a = Client::login(&addr, "alice").await;
            let bob = Member::new("bob");
            let b = bob.login(&addr).await;
            let create = GroupRequest::Create {
                name: "ops".into(),
                members: vec![bob.id()],
            };
            let GroupOutcome::Done(g) = group_change(&mut a, create).await else {
                unreachable!("created")
            };
            drop(b);
            gone_offline(&mut a, &[bob.id()]).await;
            // Enough members that Bob's contact list takes more than one page.
            for k in 0..courier_core::limits::CONTACT_PAGE + 2 {
                drop(Client::login(&addr, &format!("member {k}")).await);
            }
            // Bob logs in by hand and stops at the welcome: his contact list has more
            // pages, which he has not asked for yet.
            let (mut raw, channel) = raw_connect_as(&addr, &bob.identity).await;
            let mut session = session::Session::new(
                Password::new(PW),
                Profile::with_name("bob"),
                session::Timing::default(),
                [0; 32],
                std::time::Instant::now(),
            );
            session
                .handle_connected(channel, std::time::Instant::now())
                .unwrap();
            loop {
                while let Some(f) = session.poll_transmit() {
                    raw.send_frame(&f).await;
                }
                let frame = raw.recv_frame().await.expect("hub closed during login");
                if let proto::ServerFrame::Welcome { more, .. } = &frame {
                    assert!(more, "a contact list of several pages");
                    break;
                }
                session
                    .handle_frame(frame, std::time::Instant::now())
                    .unwrap();
            }
            let receipts = send_all(&mut a, g, &["while bob pages".to_owned()]).await;
            assert_eq!(
                receipts,
                [Delivery::Stored],
                "not handed to a connection that does not know its groups yet"
            );
            // Now Bob pages through his contacts, then his groups.
            raw.send_frame(&proto::ClientFrame::NextContacts).await;
            let mut seen = Vec::new();
            loop {
                let frame = raw.recv_frame().await.expect("the hub goes on");
                match &frame {
                    proto::ServerFrame::ContactPage { more: true, .. }
                    | proto::ServerFrame::Welcome { more: true, .. } => {
                        raw.send_frame(&proto::ClientFrame::NextContacts).await;
                    }
                    proto::ServerFrame::GroupPage { group, entries } => {
                        let upto = entries.last().map_or(0, |e| e.seq());
                        let ack = proto::ClientFrame::GroupPageAck {
                            group: *group,
                            upto,
                        };
                        raw.send_frame(&ack).await;
                        seen.push(frame);
                        break;
                    }
                    _ => {}
                }
                seen.push(frame);
            }
            let groups_at = seen
                .iter()
                .position(|f| matches!(f, proto::ServerFrame::Groups { more: false, .. }))
                .expect("the groups list came");
            let message_at = seen
                .iter()
                .position(|f| match f {
                    // The group's only message ("while bob pages"; sealed on the wire).
                    proto::ServerFrame::GroupPage { entries, .. } => entries
                        .iter()
                        .any(|e| matches!(e, GroupEntry::Message(m) if m.to == Target::Group(g))),
                    proto::ServerFrame::Message(m) => m.to == Target::Group(g),
                    _ => false,
                })
                .expect("the message came");
            assert!(groups_at < message_at, "{seen:?}");
        })
        .await;
    }
);
