//! The rules for what people write: names, statuses, avatars and texts.

use serde::{Deserialize, Serialize};

use super::frame::Profile;
use crate::limits;

/// Why a profile is not acceptable.
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, thiserror::Error)]
pub enum ProfileError {
    /// The name is empty or only white space.
    #[error("the name is empty")]
    EmptyName,
    /// The name is longer than the limit.
    #[error(
        "the name is longer than {} bytes or {} characters",
        limits::MAX_NAME_BYTES,
        limits::MAX_NAME_CHARS
    )]
    NameTooLong,
    /// The status text is longer than the limit.
    #[error("the status is longer than {} bytes", limits::MAX_STATUS_TEXT)]
    StatusTooLong,
    /// The avatar is larger than the limit.
    #[error("the avatar is larger than {} bytes", limits::MAX_AVATAR)]
    AvatarTooLarge,
    /// A control, bidi or invisible character.
    #[error("control, bidirectional or invisible characters are not allowed")]
    ForbiddenCharacter,
    /// The name reads as an id ([`looks_like_id`]): people and commands that give an
    /// id would be taken for naming this member.
    #[error(
        "the name could be taken for an id ({ID_LIKE_NAME} or more hex digits and nothing \
         else): add a letter or a space"
    )]
    NameLooksLikeId,
    /// The name could pass for a group's label: a display name starting with `#`, or a
    /// group name holding `[` or `]` (labels tag shared names with `[id]`).
    #[error("a name may not start with '#', nor a group's name hold '[' or ']'")]
    NameLooksLikeGroup,
}

/// The length from which a name made only of hex digits reads as an id. The CLI and the
/// app show ids as 16 hex digits ([`super::ClientId::short`]) and people type 8 or so of
/// them; shorter hex words ("cafe", "abba") stay names, since an id wins over a name
/// whenever a query could be both (`courier_core::contacts::resolve`).
pub const ID_LIKE_NAME: usize = 8;

/// Whether `name` could be read as an id or the start of one: once trimmed (and with
/// compatibility forms such as fullwidth digits folded), only ASCII hex digits, at least
/// [`ID_LIKE_NAME`] of them. [`validate_profile`] refuses such names.
pub fn looks_like_id(name: &str) -> bool {
    use unicode_normalization::UnicodeNormalization as _;
    let folded: String = name.nfkc().collect();
    let folded = folded.trim();
    folded.len() >= ID_LIKE_NAME && folded.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a display name starts with `#` (compatibility forms folded): lines and
/// notifications about a group lead with `#group`, which no person's name may mimic.
fn looks_like_group(name: &str) -> bool {
    use unicode_normalization::UnicodeNormalization as _;
    // Signs that read as `#` and that folding leaves as they are: music sharp, viewdata
    // square, keycap-less number signs.
    matches!(
        name.trim().nfkc().next(),
        Some('#' | '\u{266F}' | '\u{2317}' | '\u{FE5F}')
    )
}

/// Characters that can hide or reorder text, or control a terminal.
fn is_forbidden_char(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

/// Bidi controls, zero-width and other invisible or format characters: they can reorder
/// text (`invoice\u{202E}fdp.exe`), hide a difference between two strings (`alice` +
/// U+FE0F or a tag character), or break a line where none shows (U+2028). Profiles refuse
/// them, received file names drop them, displays escape them ([`crate::text`]).
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' // soft hyphen
        | '\u{034F}' // combining grapheme joiner
        | '\u{061C}' // Arabic letter mark
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
        | '\u{180B}'..='\u{180F}' // Mongolian variation selectors and vowel separator
        | '\u{200B}'..='\u{200F}' // zero-width and LRM/RLM
        | '\u{2028}' | '\u{2029}' // line and paragraph separators
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, isolates, deprecated formats
        | '\u{2800}' // braille blank
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FEFF}' // zero-width no-break space
        | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
        | '\u{1D173}'..='\u{1D17A}' // musical format characters
        | '\u{E0000}'..='\u{E007F}' // tag characters
        | '\u{E0100}'..='\u{E01EF}') // variation selectors supplement
}

/// Checks a profile against the limits and character rules.
///
/// # Errors
/// The first rule the profile breaks.
pub fn validate_profile(p: &Profile) -> Result<(), ProfileError> {
    if p.name.len() > limits::MAX_NAME_BYTES || p.name.chars().count() > limits::MAX_NAME_CHARS {
        return Err(ProfileError::NameTooLong);
    }
    if p.name.trim().is_empty() {
        return Err(ProfileError::EmptyName);
    }
    if p.status.len() > limits::MAX_STATUS_TEXT {
        return Err(ProfileError::StatusTooLong);
    }
    if p.avatar.len() > limits::MAX_AVATAR {
        return Err(ProfileError::AvatarTooLarge);
    }
    if p.name
        .chars()
        .chain(p.status.chars())
        .any(is_forbidden_char)
    {
        return Err(ProfileError::ForbiddenCharacter);
    }
    if looks_like_id(&p.name) {
        return Err(ProfileError::NameLooksLikeId);
    }
    if looks_like_group(&p.name) {
        return Err(ProfileError::NameLooksLikeGroup);
    }
    Ok(())
}

/// Whether a chat text is acceptable: not empty, at most [`limits::MAX_TEXT`] bytes.
/// Control characters are allowed (a text may span lines); displays escape them.
pub fn validate_text(text: &str) -> bool {
    !text.is_empty() && text.len() <= limits::MAX_TEXT
}
