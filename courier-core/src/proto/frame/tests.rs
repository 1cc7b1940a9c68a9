//! The profile and text rules.
use super::*;
use crate::limits;

fn named(name: &str) -> Profile {
    Profile::with_name(name)
}

#[test]
fn profile_rules_follow_the_catalogue() {
    assert_eq!(validate_profile(&named("alice")), Ok(()));
    assert_eq!(validate_profile(&named("Zoë 🐱")), Ok(()));
    assert_eq!(validate_profile(&named("")), Err(ProfileError::EmptyName));
    assert_eq!(
        validate_profile(&named("   ")),
        Err(ProfileError::EmptyName)
    );
    assert_eq!(
        validate_profile(&named(&"a".repeat(65))),
        Err(ProfileError::NameTooLong)
    );
    assert_eq!(
        validate_profile(&named(&"é".repeat(33))),
        Err(ProfileError::NameTooLong)
    );
    assert_eq!(
        validate_profile(&named(&"\u{0301}".repeat(5000))),
        Err(ProfileError::NameTooLong)
    );
    for bad in [
        "\x1b[1A\r",
        "a\r\nb",
        "in\u{202E}fdp",
        "a\u{200B}b",
        "nul\0",
        "x\u{2066}",
    ] {
        assert_eq!(
            validate_profile(&named(bad)),
            Err(ProfileError::ForbiddenCharacter),
            "{bad:?}"
        );
    }
    // Hardening N8: a name that reads as an id is refused; short hex words and
    // names with anything else in them are names.
    for id_like in [
        "0123abcd",
        "DEADBEEFCAFE0123",
        " deadbeef ",
        &"f".repeat(32),
        "\u{FF10}\u{FF11}\u{FF12}\u{FF13}\u{FF14}\u{FF15}\u{FF16}\u{FF17}",
    ] {
        assert_eq!(
            validate_profile(&named(id_like)),
            Err(ProfileError::NameLooksLikeId),
            "{id_like:?}"
        );
    }
    for name in [
        "cafe",
        "abba",
        "1234567",
        "deadbeef!",
        "dead beef",
        "bob 12345678",
    ] {
        assert_eq!(validate_profile(&named(name)), Ok(()), "{name:?}");
    }
    let mut p = named("bob");
    p.status = "s".repeat(limits::MAX_STATUS_TEXT + 1);
    assert_eq!(validate_profile(&p), Err(ProfileError::StatusTooLong));
    p.status = "x".repeat(limits::MAX_STATUS_TEXT);
    assert_eq!(validate_profile(&p), Ok(()));
    p.avatar = ByteBuf::from(vec![0; limits::MAX_AVATAR + 1]);
    assert_eq!(validate_profile(&p), Err(ProfileError::AvatarTooLarge));
    p.avatar = ByteBuf::from(vec![0; limits::MAX_AVATAR]);
    assert_eq!(validate_profile(&p), Ok(()));
}

#[test]
fn text_limit() {
    assert!(!validate_text(""));
    assert!(validate_text("hi\nthere"));
    assert!(validate_text(&"a".repeat(limits::MAX_TEXT)));
    assert!(!validate_text(&"a".repeat(limits::MAX_TEXT + 1)));
}

fn bundle() -> KeyBundle {
    KeyBundle {
        version: 1,
        cert: ByteBuf::from(vec![0x30; 300]),
        signing: [1; 32],
        sealing: [2; 32],
        created: Timestamp(1),
        expires: Timestamp(2),
        signature: ByteBuf::from(vec![3; 71]),
    }
}

/// The frames of protocol 10 (sealed messages and offers, keys) come back as they went.
#[test]
fn sealed_frames_round_trip() {
    use super::super::{SealedMessage, SealedOffer, decode_client, decode_server, encode};
    let sealed = Sealed::from(vec![9; 200]);
    let client = [
        ClientFrame::Send {
            id: MsgId(1),
            to: Target::Everyone,
            sealed: sealed.clone(),
        },
        ClientFrame::PublishKeys(bundle()),
        ClientFrame::GetKeys {
            id: ClientId([4; 32]),
        },
        ClientFrame::Offer {
            tag: 1,
            to: ClientId([4; 32]),
            sealed: sealed.clone(),
            test: None,
            addrs: vec!["10.0.0.1:7000".parse().unwrap()],
            wait: true,
        },
        ClientFrame::Offer {
            tag: 2,
            to: ClientId([4; 32]),
            sealed: Sealed::default(),
            test: Some(LinkTest::Relayed),
            addrs: vec![],
            wait: false,
        },
    ];
    for f in client {
        assert_eq!(decode_client(&encode(&f)), Ok(f));
    }
    let message = SealedMessage {
        id: MsgId(1),
        from: ClientId([5; 32]),
        to: Target::Client(ClientId([4; 32])),
        sealed: sealed.clone(),
        time: Timestamp(7),
        seq: None,
    };
    let server = [
        ServerFrame::Message(message.clone()),
        ServerFrame::MailboxPage(vec![message]),
        ServerFrame::Keys {
            id: ClientId([5; 32]),
            bundles: vec![bundle(), bundle()],
        },
        ServerFrame::Offer(SealedOffer {
            id: TransferId(3),
            from: ClientId([5; 32]),
            sealed,
            test: None,
            addrs: vec![],
            time: Some(Timestamp(8)),
        }),
        ServerFrame::Welcome {
            you: ClientId([4; 32]),
            binding: ByteBuf::new(),
            remembered: false,
            contacts: vec![Contact {
                id: ClientId([5; 32]),
                profile: ContactCard {
                    keys: Some(bundle().key_id()),
                    ..ContactCard::default()
                },
                online: true,
                last_seen: Timestamp(1),
            }],
            more: false,
            time: Timestamp(9),
            offline_days: 30,
            mark: crate::proto::Mark(10),
            since: Some(crate::proto::Mark(7)),
        },
        ServerFrame::Roster {
            cards: vec![Contact {
                id: ClientId([7; 32]),
                profile: ContactCard::default(),
                online: false,
                last_seen: Timestamp(2),
            }],
            seen: crate::proto::SeenList::pack(&[crate::proto::Seen {
                id: ClientId([6; 32]),
                online: true,
                last_seen: Timestamp(3),
            }]),
            more: true,
        },
        ServerFrame::Seen(crate::proto::SeenList::pack(&[crate::proto::Seen {
            id: ClientId([6; 32]),
            online: false,
            last_seen: Timestamp(4),
        }])),
        ServerFrame::Mark(crate::proto::Mark(11)),
    ];
    for f in server {
        assert_eq!(decode_server(&encode(&f)), Ok(f));
    }
}

/// A file offer's ticket digest is the envelope's (the hub never sees the names); a link
/// test's is its `{test}` manifest's, as before.
#[test]
fn offer_digests() {
    use super::super::{Manifest, offer_digest};
    let sealed = Sealed::from(vec![1, 2, 3]);
    assert_eq!(
        offer_digest(&sealed, None),
        *blake3::hash(&[1, 2, 3]).as_bytes()
    );
    let test = Manifest {
        test: Some(LinkTest::Direct),
        ..Manifest::default()
    };
    assert_eq!(
        offer_digest(&Sealed::default(), Some(LinkTest::Direct)),
        test.digest()
    );
    assert_ne!(
        offer_digest(&sealed, None),
        offer_digest(&Sealed::from(vec![1, 2, 4]), None)
    );
}
