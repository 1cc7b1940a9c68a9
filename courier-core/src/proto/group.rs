//! Groups: named rooms of members that the hub keeps, orders and stores.
//!
//! A group has a log: every message written to it and every change of its membership
//! takes the next position ([`Seq`]) in it, given by the hub, so every member sees the
//! same order. A member is sent what comes after the position they joined at, and
//! nothing after the position they left at. The hub keeps one copy of each entry and, for
//! each member, how far it has handed the log to them and how far they have read it.

use serde::{Deserialize, Serialize};

use super::envelope::SealedMessage;
use super::frame::{ProfileError, validate_profile};
use super::id::{ClientId, Timestamp};
use crate::limits;

/// A group's id, given by the hub when the group is created and never reused on that hub.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct GroupId(pub u64);

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A position in a group's log. The first entry (the group's creation) is 1; 0 is
/// "before anything".
pub type Seq = u64;

/// What a member may do in a group.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum Role {
    /// Writes, reads, adds members, leaves.
    Member,
    /// Also removes members.
    Admin,
    /// The member who created the group: an admin who also names and unnames admins.
    Creator,
}

impl Role {
    /// Whether this member may remove others.
    pub fn can_remove(self) -> bool {
        matches!(self, Self::Admin | Self::Creator)
    }

    /// The role's word for people and scripts: `member`, `admin`, `creator`.
    pub fn word(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Creator => "creator",
        }
    }
}

/// One member of a group, as the hub shares it with the others.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct GroupMember {
    /// Who.
    pub id: ClientId,
    /// What they may do.
    pub role: Role,
    /// The position they joined at: they see the log after it.
    pub joined: Seq,
    /// How far they have read ("read up to here"; at least `joined`).
    pub read: Seq,
}

/// A group as its members see it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct Group {
    /// The hub's id for it.
    pub id: GroupId,
    /// Its name, cleaned as a display name is ([`clean_group_name`]).
    pub name: String,
    /// Its members, the creator first.
    pub members: Vec<GroupMember>,
    /// The position of the newest entry in its log.
    pub last: Seq,
}

impl Group {
    /// The member `id`, if they are one.
    pub fn member(&self, id: &ClientId) -> Option<&GroupMember> {
        self.members.iter().find(|m| m.id == *id)
    }
}

/// A change to a group's membership, as an entry in its log.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum GroupChange {
    /// `by` created the group with this name.
    Created {
        /// The name.
        name: String,
    },
    /// `by` added this member.
    Added(ClientId),
    /// `by` removed this member.
    Removed(ClientId),
    /// `by` left.
    Left,
    /// `by` made this member an admin (or, with `false`, a plain member again).
    Admin {
        /// Who.
        member: ClientId,
        /// Whether they are an admin now.
        admin: bool,
    },
    /// The hub's owner removed this member (`by` is the member removed), or the member is
    /// gone from the hub.
    RemovedByOwner,
}

/// A membership change in a group's log.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct GroupEvent {
    /// Which group.
    pub group: GroupId,
    /// Its position in the group's log.
    pub seq: Seq,
    /// Who made the change (stamped by the hub).
    pub by: ClientId,
    /// What changed.
    pub change: GroupChange,
    /// When the hub made it.
    pub time: Timestamp,
}

/// One entry of a group's log, as handed over to a member who was away.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum GroupEntry {
    /// A message written to the group ([`SealedMessage::seq`] is its position).
    Message(SealedMessage),
    /// A membership change.
    Event(GroupEvent),
}

impl GroupEntry {
    /// The entry's position in its group's log.
    pub fn seq(&self) -> Seq {
        match self {
            Self::Message(m) => m.seq.unwrap_or(0),
            Self::Event(e) => e.seq,
        }
    }
}

/// Why the hub refused a change to a group.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum GroupRefusal {
    /// No such group, or the asker is not in it.
    #[error("no such group, or you are not in it")]
    NoSuchGroup,
    /// A member named is not a contact the hub knows.
    #[error("that member is not a contact the hub knows")]
    NoSuchMember,
    /// The person to remove (or make an admin) is not in the group.
    #[error("that person is not in the group")]
    NotInGroup,
    /// Only the group's creator and admins may remove members; only its creator names
    /// admins.
    #[error("only the group's creator and its admins may do that")]
    NotAllowed,
    /// The group would have more members than the hub allows.
    #[error("the group is full")]
    GroupFull,
    /// Someone would be in more groups than the hub allows.
    #[error("someone would be in more groups than the hub allows")]
    TooManyGroups,
    /// The asker created as many groups as the hub allows (and still in use).
    #[error("you created as many groups as the hub allows")]
    TooManyCreated,
    /// The name is not acceptable.
    #[error("the group name is not acceptable: {0}")]
    BadName(ProfileError),
    /// The asker is over a rate limit.
    #[error("too many changes; try again in a moment")]
    RateLimited,
    /// The hub could not write the change to its disk.
    #[error("the hub could not store the change")]
    CouldNotStore,
}

/// The hub's answer to a change asked for with a tag.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub enum GroupOutcome {
    /// Done, in this group (for a creation: the new group's id).
    Done(GroupId),
    /// Refused.
    Refused(GroupRefusal),
}

/// Cleans a group name: trimmed, without the leading `#` people address a group by
/// (`#ops` names the group "ops"), then held to the rules of a display name
/// ([`validate_profile`]). Two more rules keep a name from passing for something else:
/// digits only ([`ProfileError::NameLooksLikeId`]: `#12` names the group with id 12)
/// and `[` or `]` ([`ProfileError::NameLooksLikeGroup`]: lists tag shared names
/// `#ops [12]`), compatibility forms such as fullwidth digits folded first.
///
/// # Errors
/// The first rule the cleaned name breaks.
pub fn clean_group_name(name: &str) -> Result<String, ProfileError> {
    use unicode_normalization::UnicodeNormalization as _;
    let cleaned = name.trim().trim_start_matches('#').trim();
    validate_profile(&super::frame::Profile::with_name(cleaned))?;
    let folded: String = cleaned.nfkc().collect();
    if folded.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProfileError::NameLooksLikeId);
    }
    if folded.contains(['[', ']']) {
        return Err(ProfileError::NameLooksLikeGroup);
    }
    Ok(cleaned.to_owned())
}

/// The most members a [`super::ClientFrame::GroupCreate`] or
/// [`super::ClientFrame::GroupAdd`] may name at once.
pub const MAX_ADD_AT_ONCE: usize = limits::GROUP_MEMBERS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_cleaned_like_display_names() {
        assert_eq!(clean_group_name("ops").as_deref(), Ok("ops"));
        assert_eq!(clean_group_name(" #ops ").as_deref(), Ok("ops"));
        assert_eq!(
            clean_group_name("Team Zoë 🐱").as_deref(),
            Ok("Team Zoë 🐱")
        );
        assert_eq!(clean_group_name("  "), Err(ProfileError::EmptyName));
        assert_eq!(clean_group_name("#"), Err(ProfileError::EmptyName));
        assert_eq!(
            clean_group_name(&"a".repeat(65)),
            Err(ProfileError::NameTooLong)
        );
        assert_eq!(
            clean_group_name("in\u{202E}fdp"),
            Err(ProfileError::ForbiddenCharacter)
        );
        assert_eq!(
            clean_group_name("deadbeefcafe"),
            Err(ProfileError::NameLooksLikeId)
        );
        // Digits only read as a group id (`#3`), fullwidth ones too.
        for digits in ["3", "#12", "007", "\u{ff11}\u{ff12}"] {
            assert_eq!(
                clean_group_name(digits),
                Err(ProfileError::NameLooksLikeId),
                "{digits:?}"
            );
        }
        assert_eq!(clean_group_name("ops 3").as_deref(), Ok("ops 3"));
        // Brackets would let a name pass for a label ("#ops [12]").
        for bracketed in ["ops [12]", "a]b", "[x", "ops \u{ff3b}12\u{ff3d}"] {
            assert_eq!(
                clean_group_name(bracketed),
                Err(ProfileError::NameLooksLikeGroup),
                "{bracketed:?}"
            );
        }
    }

    #[test]
    fn a_display_name_cannot_pass_for_a_group() {
        use super::super::frame::Profile;
        for name in [
            "#ops",
            " #ops",
            "#",
            "\u{ff03}ops",
            "# ops · ada",
            "\u{266F}ops",
            "\u{2317}ops",
        ] {
            assert_eq!(
                validate_profile(&Profile::with_name(name)),
                Err(ProfileError::NameLooksLikeGroup),
                "{name:?}"
            );
        }
        for name in ["ada in #ops", "C#"] {
            assert_eq!(
                validate_profile(&Profile::with_name(name)),
                Ok(()),
                "{name:?}"
            );
        }
    }

    #[test]
    fn only_admins_and_the_creator_remove() {
        assert!(!Role::Member.can_remove());
        assert!(Role::Admin.can_remove());
        assert!(Role::Creator.can_remove());
    }
}
