//! `courier hub groups`: the owner lists every group with its members and roles, and
//! removes anyone from a group; a running hub carries the removal out within seconds,
//! a stopped one when it starts. The groups are put in a real `hub.db` (as a hub would
//! have written them), the commands are the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use courier_core::hub::Home;
use courier_core::hub::db::{Member, Record, StoredMember};
use courier_core::proto::{ClientId, GroupId, Profile, Role, Timestamp};
use courier_testkit::json::json_lines;
use courier_testkit::{HubProcess, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_courier");

fn hub_groups(data: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(["hub", "groups"])
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The groups as `courier hub groups --json` lists them: name, and each member's name
/// and role.
fn listed(data: &Path) -> Vec<(String, Vec<(String, String)>)> {
    json_lines(&hub_groups(data, &["--json"]).stdout)
        .iter()
        .map(|g| {
            let members = g["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["name"].as_str().unwrap().to_owned(),
                        m["role"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            (g["name"].as_str().unwrap().to_owned(), members)
        })
        .collect()
}

/// Writes, as a hub would have: Alice, Bob and Carol, and "ops" with the three of them.
fn a_hub_with_a_group(data: &Path) {
    let db = Home::open(data).unwrap().database().unwrap();
    let mut records = Vec::new();
    for (n, name) in [(1u8, "alice"), (2, "bob"), (3, "carol")] {
        records.push(Record::Member(Member {
            id: ClientId([n; 32]),
            profile: Profile::with_name(name),
            first_seen: Some(Timestamp(1)),
            last_seen: Timestamp(2),
            logins: 2,
            avatar_changed: None,
            remembered_since: None,
            card_mark: Default::default(),
        }));
    }
    records.push(Record::Group {
        id: GroupId(1),
        name: "ops".into(),
        created_by: ClientId([1; 32]),
        last: 3,
    });
    for (n, role) in [(1u8, Role::Creator), (2, Role::Member), (3, Role::Member)] {
        records.push(Record::GroupMember {
            group: GroupId(1),
            member: StoredMember {
                id: ClientId([n; 32]),
                role,
                joined: u64::from(n),
                got: 3,
                read: u64::from(n),
            },
        });
    }
    db.write(&records).unwrap();
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn the_owner_lists_groups_and_removes_members_with_the_hub_stopped_or_running() {
    let dir = TempDir::new("hub-groups");
    let data = dir.path().join("hub");
    a_hub_with_a_group(&data);
    assert_eq!(
        listed(&data),
        [(
            "ops".to_owned(),
            pairs(&[("alice", "creator"), ("bob", "member"), ("carol", "member")])
        )]
    );
    let text = String::from_utf8(hub_groups(&data, &[]).stdout).unwrap();
    assert!(text.starts_with("#1  ops  (3 member(s))\n"), "{text}");
    assert!(text.contains("alice") && text.contains("creator"), "{text}");

    // No hub running: said, and done when it starts.
    let out = hub_groups(&data, &["remove", "ops", "carol"]);
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains("no hub is running"), "{said}");
    let mut cmd = Command::new(BIN);
    cmd.env("COURIER_PASSWORD", "hub groups test password");
    let _hub = HubProcess::spawn(cmd, "127.0.0.1:0", &data, &["--no-advertise"]);
    // A running hub takes it at once.
    let out = hub_groups(&data, &["remove", "#ops", "bob"]);
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains("the running hub took them out"), "{said}");
    let want = vec![("ops".to_owned(), pairs(&[("alice", "creator")]))];
    let deadline = Instant::now() + Duration::from_secs(20);
    while listed(&data) != want {
        assert!(Instant::now() < deadline, "{:?}", listed(&data));
        std::thread::sleep(Duration::from_millis(100));
    }
    // An unknown group is a one-line error.
    let out = Command::new(BIN)
        .args(["hub", "groups", "remove", "nope", "alice", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no group is called"), "{err}");
}
