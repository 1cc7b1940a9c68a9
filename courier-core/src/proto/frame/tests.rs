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
