//! The history on real SQLite files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::proto::RejectReason;

/// A scratch folder for a history file, removed at the end (shared with the history's
/// other test modules).
pub(super) struct Dir(pub(super) PathBuf);

impl Dir {
    pub(super) fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!(
            "courier-history-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) const HUB: ClientId = ClientId([9; 32]);
pub(super) const ME: ClientId = ClientId([1; 32]);
pub(super) const ADA: ClientId = ClientId([2; 32]);
pub(super) const BOB: ClientId = ClientId([3; 32]);

fn from(who: ClientId, id: u64, to: Target, text: &str) -> Message {
    Message {
        id: MsgId(id),
        from: who,
        to,
        text: text.into(),
        time: Timestamp(1_700_000_000_000 + id),
        seq: None,
    }
}

fn texts(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.text.as_str()).collect()
}

#[test]
fn messages_both_ways_are_kept_once_with_their_outcome() {
    let dir = Dir::new("both");
    let h = History::open(&dir.0, &HUB).unwrap();
    assert!(h.is_empty().unwrap());
    assert!(
        h.received(&from(ADA, 1, Target::Client(ME), "hello"))
            .unwrap()
    );
    assert!(
        !h.received(&from(ADA, 1, Target::Client(ME), "hello"))
            .unwrap(),
        "a duplicate"
    );
    h.sent(ME, MsgId(7), Target::Client(ADA), "hi Ada", Timestamp(5))
        .unwrap();
    h.set_state(ME, MsgId(7), &State::of(&Delivery::Stored))
        .unwrap();
    h.set_state(ME, MsgId(7), &State::Read).unwrap();
    // A late receipt does not take "read" back.
    h.set_state(ME, MsgId(7), &State::Delivered).unwrap();
    h.sent(ME, MsgId(8), Target::Client(ADA), "again", Timestamp(6))
        .unwrap();
    h.set_state(
        ME,
        MsgId(8),
        &State::of(&Delivery::Rejected(RejectReason::CouldNotStore)),
    )
    .unwrap();
    h.received(&from(BOB, 2, Target::Everyone, "lunch?"))
        .unwrap();

    let ada = h.page(Some(Target::Client(ADA)), None, 10).unwrap();
    assert_eq!(texts(&ada), vec!["again", "hi Ada", "hello"]);
    assert_eq!(ada[0].state, State::Rejected("not_kept".into()));
    assert_eq!(ada[1].state, State::Read);
    assert!(ada[1].outgoing && !ada[2].outgoing);
    assert_eq!(ada[2].from, ADA);
    assert_eq!(
        texts(&h.page(Some(Target::Everyone), None, 10).unwrap()),
        vec!["lunch?"]
    );
    assert_eq!(h.len().unwrap(), 4);
}

#[test]
fn pages_go_back_from_the_newest_to_the_oldest() {
    let dir = Dir::new("pages");
    let mut h = History::open(&dir.0, &HUB).unwrap();
    h.batch(|h| {
        for n in 0..95u64 {
            h.received(&from(ADA, n, Target::Client(ME), &format!("m{n}")))?;
        }
        Ok(())
    })
    .unwrap();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = h.page(Some(Target::Client(ADA)), before, 20).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 20);
        before = page.last().map(|e| e.seq);
        seen.extend(page.into_iter().map(|e| e.text));
    }
    let expected: Vec<String> = (0..95).rev().map(|n| format!("m{n}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn search_ignores_case_and_accents_finds_word_starts_and_takes_any_typing() {
    let dir = Dir::new("search");
    let h = History::open(&dir.0, &HUB).unwrap();
    h.received(&from(
        ADA,
        1,
        Target::Client(ME),
        "Rendez-vous au Café de Flore",
    ))
    .unwrap();
    h.received(&from(BOB, 2, Target::Everyone, "the cafeteria is closed"))
        .unwrap();
    h.sent(
        ME,
        MsgId(3),
        Target::Client(BOB),
        "NAÏVE question: AND \"quotes\" *",
        Timestamp(1),
    )
    .unwrap();
    assert_eq!(
        texts(&h.search("cafe", 10).unwrap()).len(),
        2,
        "café and cafeteria"
    );
    assert_eq!(
        texts(&h.search("CAFÉ flore", 10).unwrap()),
        vec!["Rendez-vous au Café de Flore"]
    );
    assert_eq!(
        texts(&h.search("caf", 10).unwrap()).len(),
        2,
        "as the word is typed"
    );
    assert_eq!(texts(&h.search("naive", 10).unwrap()).len(), 1);
    assert_eq!(
        texts(&h.search("ca", 10).unwrap()).len(),
        2,
        "from the second letter"
    );
    assert!(
        h.search("c", 10).unwrap().is_empty(),
        "one letter is a word, not every word starting with it"
    );
    assert_eq!(
        texts(&h.search("au", 10).unwrap()),
        vec!["Rendez-vous au Café de Flore"]
    );
    // What would be query syntax is just words.
    for typed in ["AND", "\"quotes", "*", "NOT", "(", "a\"b", "naive AND"] {
        let _ = h.search(typed, 10).unwrap();
    }
    assert!(h.search("   ", 10).unwrap().is_empty());
    assert!(h.search("nothing-like-this", 10).unwrap().is_empty());
}

#[test]
fn clearing_a_conversation_or_everything_also_clears_the_search() {
    let dir = Dir::new("clear");
    let h = History::open(&dir.0, &HUB).unwrap();
    h.received(&from(ADA, 1, Target::Client(ME), "apple"))
        .unwrap();
    h.received(&from(BOB, 2, Target::Client(ME), "apple pie"))
        .unwrap();
    assert_eq!(h.clear(Some(Target::Client(ADA))).unwrap(), 1);
    assert_eq!(texts(&h.search("apple", 10).unwrap()), vec!["apple pie"]);
    assert_eq!(h.clear(None).unwrap(), 1);
    assert!(h.search("apple", 10).unwrap().is_empty());
    assert!(h.is_empty().unwrap());
}

#[test]
fn two_programs_write_the_same_history_at_once() {
    let dir = Dir::new("shared");
    let app = History::open(&dir.0, &HUB).unwrap();
    let cli = History::open(&dir.0, &HUB).unwrap();
    let writer = std::thread::spawn(move || {
        for n in 0..200u64 {
            cli.received(&from(BOB, n, Target::Client(ME), "from the cli"))
                .unwrap();
        }
    });
    for n in 0..200u64 {
        app.received(&from(ADA, n, Target::Client(ME), "from the app"))
            .unwrap();
    }
    writer.join().unwrap();
    assert_eq!(app.len().unwrap(), 400);
}

#[test]
fn each_hub_has_its_own_history_and_other_files_are_refused() {
    let dir = Dir::new("files");
    let one = History::open(&dir.0, &HUB).unwrap();
    one.received(&from(ADA, 1, Target::Client(ME), "on hub one"))
        .unwrap();
    let two = History::open(&dir.0, &ClientId([8; 32])).unwrap();
    assert!(two.is_empty().unwrap());
    // A hub's database where a history should be: refused, untouched.
    let other = History::path_for(&dir.0, &ClientId([7; 32]));
    drop(crate::hub::db::Db::open(&other).unwrap());
    let before = std::fs::read(&other).unwrap();
    let err = History::open(&dir.0, &ClientId([7; 32])).unwrap_err();
    assert!(matches!(err, Error::Foreign { .. }), "{err:?}");
    assert_eq!(std::fs::read(&other).unwrap(), before);
}

#[test]
fn names_are_remembered_for_reading_without_a_connection() {
    let dir = Dir::new("names");
    let mut h = History::open(&dir.0, &HUB).unwrap();
    h.names([(ADA, "Ada"), (BOB, "Bob")]).unwrap();
    h.names([(ADA, "Ada L.")]).unwrap();
    assert_eq!(h.name_of(&ADA).unwrap().as_deref(), Some("Ada L."));
    assert_eq!(h.name_of(&ME).unwrap(), None);
    let mut all = h.known_names().unwrap();
    all.sort();
    assert_eq!(
        all,
        vec![(ADA, "Ada L.".to_owned()), (BOB, "Bob".to_owned())]
    );
}

#[test]
fn paging_forward_from_a_search_result_reaches_the_newest() {
    let dir = Dir::new("forward");
    let mut h = History::open(&dir.0, &HUB).unwrap();
    h.batch(|h| {
        for n in 0..30u64 {
            h.received(&from(ADA, n, Target::Client(ME), &format!("m{n}")))?;
            h.received(&from(BOB, n, Target::Client(ME), &format!("b{n}")))?;
        }
        Ok(())
    })
    .unwrap();
    let hit = h.search("m10", 5).unwrap();
    assert_eq!(texts(&hit), ["m10"]);
    let mut after = hit[0].seq;
    let mut seen = Vec::new();
    loop {
        let page = h.page_after(Target::Client(ADA), after, 7).unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap().seq;
        seen.extend(page.into_iter().map(|e| e.text));
    }
    let expected: Vec<String> = (11..30).map(|n| format!("m{n}")).collect();
    assert_eq!(seen, expected, "oldest first, only Ada's conversation");
}

/// Opening the history `file` of hub `HUB` in `dir` fails as `check` says, in one line
/// naming the file, and leaves the file as it was.
fn refused(dir: &Path, check: impl Fn(&Error) -> bool) -> String {
    let file = History::path_for(dir, &HUB);
    let before = std::fs::read(&file).unwrap();
    let err = History::open(dir, &HUB).expect_err("the file is refused");
    assert!(check(&err), "unexpected error: {err:?}");
    assert_eq!(std::fs::read(&file).unwrap(), before, "left as it was");
    let text = err.to_string();
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
    text
}

#[test]
fn a_damaged_history_is_refused_and_left_alone() {
    let dir = Dir::new("damaged");
    let h = History::open(&dir.0, &HUB).unwrap();
    h.received(&from(ADA, 1, Target::Client(ME), "hello"))
        .unwrap();
    drop(h);
    let file = History::path_for(&dir.0, &HUB);
    let mut bytes = std::fs::read(&file).unwrap();
    for b in bytes.iter_mut().skip(100) {
        *b = 0x5A;
    }
    std::fs::write(&file, &bytes).unwrap();
    let text = refused(&dir.0, |e| matches!(e, Error::Corrupt { .. }));
    assert!(text.contains("damaged or not a database"), "{text}");
}

#[test]
fn a_newer_courier_s_history_is_refused_and_left_alone() {
    let dir = Dir::new("newer");
    drop(History::open(&dir.0, &HUB).unwrap());
    let raw = Connection::open(History::path_for(&dir.0, &HUB)).unwrap();
    let next = i32::try_from(MIGRATIONS.len()).unwrap() + 1;
    raw.pragma_update(None, "user_version", next).unwrap();
    raw.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(raw);
    let text = refused(&dir.0, |e| matches!(e, Error::Newer { .. }));
    assert!(text.contains("update Courier"), "{text}");
}

#[cfg(unix)]
#[test]
fn a_read_only_history_is_refused() {
    let dir = Dir::new("readonly");
    drop(History::open(&dir.0, &HUB).unwrap());
    let ro = crate::sqlite::testing::ReadOnly::new(&History::path_for(&dir.0, &HUB));
    let ro_dir = ro.file.parent().unwrap().to_path_buf();
    let text = refused(&ro_dir, |e| matches!(e, Error::ReadOnly { .. }));
    assert!(text.contains("read-only"), "{text}");
}

#[test]
fn kept_transfers_keep_their_outcome_and_read_back_by_time() {
    let dir = Dir::new("files");
    let h = History::open(&dir.0, &HUB).unwrap();
    let card = |outgoing: bool, time: u64, outcome: &str| KeptTransfer {
        seq: 0,
        peer: ADA,
        outgoing,
        files: (0..30)
            .map(|n| (format!("photo {n}.jpg"), 1000 + n))
            .collect(),
        count: 30,
        bytes: 30_435,
        time: Timestamp(time),
        outcome: outcome.into(),
        saved_in: (!outgoing).then(|| PathBuf::from("/home/me/Downloads/from Ada")),
    };
    h.keep_transfer(&card(false, 100, "Received 30 files."))
        .unwrap();
    h.keep_transfer(&card(true, 200, "Declined.")).unwrap();
    h.keep_transfer(&KeptTransfer {
        peer: BOB,
        ..card(true, 150, "Sent.")
    })
    .unwrap();
    let all = h.kept_transfers(Some(ADA), Timestamp(0), None, 10).unwrap();
    assert_eq!(all.len(), 2, "Ada's, not Bob's");
    assert_eq!(all[0].outcome, "Received 30 files.");
    assert_eq!(
        all[0].files.len(),
        KEPT_TRANSFER_NAMES,
        "the first names, and the count"
    );
    assert_eq!((all[0].count, all[0].bytes), (30, 30_435));
    assert_eq!(all[0].files[3], ("photo 3.jpg".to_owned(), 1003));
    assert_eq!(
        all[0].saved_in.as_deref(),
        Some(Path::new("/home/me/Downloads/from Ada"))
    );
    assert!(all[1].outgoing && all[1].saved_in.is_none());
    assert_eq!(
        h.kept_transfers(None, Timestamp(0), None, 10)
            .unwrap()
            .len(),
        3
    );
    let window = h
        .kept_transfers(Some(ADA), Timestamp(150), Some(Timestamp(250)), 10)
        .unwrap();
    assert_eq!(window.len(), 1);
    assert_eq!(window[0].outcome, "Declined.");
    h.clear(Some(Target::Client(ADA))).unwrap();
    assert!(
        h.kept_transfers(Some(ADA), Timestamp(0), None, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        h.kept_transfers(Some(BOB), Timestamp(0), None, 10)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn messages_written_while_the_hub_is_away_wait_across_a_reopen_until_sent() {
    let dir = Dir::new("waiting");
    {
        let h = History::open(&dir.0, &HUB).unwrap();
        h.sent(ME, MsgId(1), Target::Client(ADA), "went out", Timestamp(1))
            .unwrap();
        assert!(
            h.unsent(ME, MsgId(2), Target::Client(ADA), "first", Timestamp(2))
                .unwrap()
        );
        h.unsent(ME, MsgId(3), Target::Everyone, "second", Timestamp(3))
            .unwrap();
    }
    // Reopened (the app started again): both wait, oldest first, with their ids.
    let h = History::open(&dir.0, &HUB).unwrap();
    let unsent = h.unsent_messages().unwrap();
    assert_eq!(texts(&unsent), ["first", "second"]);
    assert_eq!(
        unsent.iter().map(|e| (e.id, e.peer)).collect::<Vec<_>>(),
        [
            (MsgId(2), Target::Client(ADA)),
            (MsgId(3), Target::Everyone)
        ]
    );
    assert!(
        unsent
            .iter()
            .all(|e| e.state == State::Unsent && e.outgoing)
    );
    // They show in their conversations as waiting.
    let page = h.page(Some(Target::Client(ADA)), None, 10).unwrap();
    assert_eq!(page[0].state, State::Unsent);
    // Handed over, then delivered: no longer waiting.
    h.set_state(ME, MsgId(2), &State::Sent).unwrap();
    assert_eq!(texts(&h.unsent_messages().unwrap()), ["second"]);
    h.set_state(ME, MsgId(3), &State::Delivered).unwrap();
    assert!(h.unsent_messages().unwrap().is_empty());
}

/// A message stored for an offline contact becomes delivered when the contact takes it
/// (the hub says so, maybe at a later login); a late `stored` (another program of the
/// same profile heard it) never takes that back.
#[test]
fn stored_becomes_delivered_and_stays_so() {
    let dir = Dir::new("stored-delivered");
    let h = History::open(&dir.0, &HUB).unwrap();
    h.sent(ME, MsgId(9), Target::Client(ADA), "later", Timestamp(5))
        .unwrap();
    h.set_state(ME, MsgId(9), &State::of(&Delivery::Stored))
        .unwrap();
    h.set_state(ME, MsgId(9), &State::of(&Delivery::Delivered))
        .unwrap();
    h.set_state(ME, MsgId(9), &State::of(&Delivery::Stored))
        .unwrap();
    let page = h.page(Some(Target::Client(ADA)), None, 10).unwrap();
    assert_eq!(page[0].state, State::Delivered);
}
