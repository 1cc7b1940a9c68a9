//! The groups a front end is in, as it keeps them: the list the hub sends at each login,
//! kept current from session events, and asked to resolve what a person typed (`#ops`,
//! or `#12` for the group with id 12).

use std::collections::BTreeMap;

use super::name_key;
use crate::proto::{Group, GroupId};
use crate::session::Event;
use crate::text::terminal_line;

/// The most groups an error lists by name (a person is in at most a few dozen).
const LISTED: usize = 10;

/// One of the groups a query could mean, or one of ours (see [`GroupError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCandidate {
    /// Its id.
    pub id: GroupId,
    /// Its name.
    pub name: String,
}

/// Why a group name did not resolve to one group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// None of our groups goes by that name or id; `ours` lists the groups we are in.
    #[error("no group named {query:?} ({})", ours_list(ours))]
    NotFound {
        /// What was asked.
        query: String,
        /// The groups we are in.
        ours: Vec<GroupCandidate>,
    },
    /// Several of our groups go by that name: name one by its id.
    #[error(
        "{query:?} is ambiguous: {} groups match ({}); name one by its id, as #{}",
        candidates.len(),
        group_list(candidates),
        candidates.first().map_or(0, |c| c.id.0)
    )]
    Ambiguous {
        /// What was asked.
        query: String,
        /// The groups that go by it.
        candidates: Vec<GroupCandidate>,
    },
}

/// "#name [id], #name [id]", names escaped for a terminal line, at most [`LISTED`].
fn group_list(groups: &[GroupCandidate]) -> String {
    let mut shown: Vec<String> = groups
        .iter()
        .take(LISTED)
        .map(|g| format!("#{} [{}]", terminal_line(&g.name), g.id))
        .collect();
    if groups.len() > LISTED {
        shown.push(format!("and {} more", groups.len() - LISTED));
    }
    shown.join(", ")
}

fn ours_list(ours: &[GroupCandidate]) -> String {
    if ours.is_empty() {
        "you are in no group".to_owned()
    } else {
        format!("your groups: {}", group_list(ours))
    }
}

/// The one rule by which Courier finds which of `groups` (id and name pairs) a person
/// means: the CLI's `#ops`, `courier history '#ops'` and the app resolve through it.
///
/// One leading `#` is dropped (`#ops` and `ops` are the same query). A number names
/// the group with that id (`#12`), and only it: no name can take it (names made of
/// digits are refused, [`crate::proto::clean_group_name`]). Otherwise a name, compared
/// as [`name_key`] (case, invisible characters and look-alike letters ignored, as
/// contact names are); several groups by that name are [`GroupError::Ambiguous`].
///
/// # Errors
/// [`GroupError::NotFound`] with our groups, or [`GroupError::Ambiguous`] with the
/// candidates.
pub fn resolve_group<'a>(
    query: &str,
    groups: impl IntoIterator<Item = (GroupId, &'a str)>,
) -> Result<GroupId, GroupError> {
    let query = query.trim();
    let bare = query.strip_prefix('#').unwrap_or(query).trim();
    let groups: Vec<(GroupId, &str)> = groups.into_iter().collect();
    let candidate = |(id, name): &&(GroupId, &str)| GroupCandidate {
        id: *id,
        name: (*name).to_owned(),
    };
    let not_found = || GroupError::NotFound {
        query: query.to_owned(),
        ours: groups.iter().map(|g| candidate(&g)).collect(),
    };
    if !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_digit()) {
        return match bare.parse::<u64>() {
            Ok(id) if groups.iter().any(|(g, _)| g.0 == id) => Ok(GroupId(id)),
            _ => Err(not_found()),
        };
    }
    let key = name_key(bare);
    let by_name: Vec<&(GroupId, &str)> =
        groups.iter().filter(|(_, n)| name_key(n) == key).collect();
    match by_name.as_slice() {
        [one] => return Ok(one.0),
        [] => {}
        many => {
            return Err(GroupError::Ambiguous {
                query: query.to_owned(),
                candidates: many.iter().map(candidate).collect(),
            });
        }
    }
    Err(not_found())
}

/// Every group we are in, by id.
///
/// Kept current from the session: [`Groups::apply`] with every session event (the list
/// sent at each login, [`Event::Groups`], replaces it; [`Event::Group`] and
/// [`Event::GroupGone`] change one group). Then asked: [`Groups::is_known`],
/// [`Groups::get`], [`Groups::label`], [`Groups::resolve`], [`Groups::sorted`].
#[derive(Debug, Clone, Default)]
pub struct Groups {
    by_id: BTreeMap<GroupId, Group>,
    /// Whether the list sent at login came: before it, "no such group" means nothing.
    known: bool,
}

impl Groups {
    /// An empty list, not known yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the list current; returns whether `event` changed it.
    pub fn apply(&mut self, event: &Event) -> bool {
        match event {
            Event::Groups(all) => {
                self.by_id = all.iter().map(|g| (g.id, g.clone())).collect();
                self.known = true;
            }
            Event::Group(g) => {
                self.by_id.insert(g.id, g.clone());
            }
            Event::GroupGone(id) => {
                self.by_id.remove(id);
            }
            _ => return false,
        }
        true
    }

    /// Whether the hub's list of our groups came (it is sent at each login).
    pub fn is_known(&self) -> bool {
        self.known
    }

    /// One group.
    pub fn get(&self, id: &GroupId) -> Option<&Group> {
        self.by_id.get(id)
    }

    /// How many groups.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every group as a list shows them: by name, then by id.
    pub fn sorted(&self) -> Vec<&Group> {
        let mut list: Vec<&Group> = self.by_id.values().collect();
        list.sort_by_cached_key(|g| (name_key(&g.name), g.id));
        list
    }

    /// The name to show for `id`: `#name`, tagged with its id when another of our groups
    /// looks the same (`#ops [12]`); `#12` for a group we are not in (any more).
    pub fn label(&self, id: &GroupId) -> String {
        match self.by_id.get(id) {
            Some(g) => {
                let key = name_key(&g.name);
                let shared = self
                    .by_id
                    .values()
                    .any(|o| o.id != g.id && name_key(&o.name) == key);
                if shared {
                    format!("#{} [{}]", g.name, g.id)
                } else {
                    format!("#{}", g.name)
                }
            }
            None => format!("#{id}"),
        }
    }

    /// Resolves `#name` (or `#id`) among our groups, by the one rule of
    /// [`resolve_group`].
    ///
    /// # Errors
    /// [`GroupError::NotFound`] or [`GroupError::Ambiguous`].
    pub fn resolve(&self, query: &str) -> Result<GroupId, GroupError> {
        resolve_group(query, self.by_id.values().map(|g| (g.id, g.name.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ClientId, GroupMember, Role};

    fn group(id: u64, name: &str) -> Group {
        Group {
            id: GroupId(id),
            name: name.to_owned(),
            members: vec![GroupMember {
                id: ClientId([1; 32]),
                role: Role::Creator,
                joined: 1,
                read: 1,
            }],
            last: 1,
        }
    }

    fn ours(groups: &[(u64, &'static str)]) -> Vec<(GroupId, &'static str)> {
        groups.iter().map(|(id, n)| (GroupId(*id), *n)).collect()
    }

    #[test]
    fn a_group_name_resolves_with_or_without_the_hash_in_any_case() {
        let g = ours(&[(3, "ops"), (4, "Team Zoë")]);
        assert_eq!(resolve_group("#ops", g.clone()), Ok(GroupId(3)));
        assert_eq!(resolve_group(" ops ", g.clone()), Ok(GroupId(3)));
        assert_eq!(resolve_group("#OPS", g.clone()), Ok(GroupId(3)));
        assert_eq!(resolve_group("#team zoë", g.clone()), Ok(GroupId(4)));
        // Look-alike letters are the same name, as for contacts (Cyrillic "о").
        assert_eq!(resolve_group("#\u{43e}ps", g), Ok(GroupId(3)));
    }

    #[test]
    fn a_number_names_a_group_by_id_only() {
        // `#12` is what the ambiguity error tells people to type: no name can capture
        // it, not even one stored before digit-only names were refused.
        let g = ours(&[(12, "ops"), (13, "ops"), (3, "12")]);
        assert_eq!(resolve_group("#12", g.clone()), Ok(GroupId(12)));
        assert_eq!(resolve_group("#13", g.clone()), Ok(GroupId(13)));
        assert_eq!(resolve_group("#3", g.clone()), Ok(GroupId(3)));
        assert_eq!(resolve_group("#4", g.clone()), Err(not_found("#4", &g)));
        assert!(matches!(
            resolve_group("#ops", g.clone()),
            Err(GroupError::Ambiguous { .. })
        ));
        // A would-be "12" is refused where names are made (the hub uses the same rule).
        assert_eq!(
            crate::proto::clean_group_name("12"),
            Err(crate::proto::ProfileError::NameLooksLikeId)
        );
    }

    #[test]
    fn a_shared_name_label_cannot_be_taken_by_another_name() {
        // "ops [12]" would read as group 12's label: such a name is refused.
        assert_eq!(
            crate::proto::clean_group_name("ops [12]"),
            Err(crate::proto::ProfileError::NameLooksLikeGroup)
        );
        let mut groups = Groups::new();
        groups.apply(&Event::Groups(vec![
            group(12, "ops"),
            group(13, "OPS"),
            group(14, "dev"),
        ]));
        assert_ne!(groups.label(&GroupId(12)), groups.label(&GroupId(13)));
        assert_ne!(groups.label(&GroupId(12)), groups.label(&GroupId(14)));
    }

    fn not_found(query: &str, g: &[(GroupId, &str)]) -> GroupError {
        GroupError::NotFound {
            query: query.to_owned(),
            ours: g
                .iter()
                .map(|(id, name)| GroupCandidate {
                    id: *id,
                    name: (*name).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn an_unknown_or_shared_name_is_one_line_naming_the_groups() {
        let g = ours(&[(3, "ops"), (7, "Ops"), (9, "dev")]);
        let err = resolve_group("#ops", g.clone()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"#ops\" is ambiguous: 2 groups match (#ops [3], #Ops [7]); name one by its id, as #3"
        );
        let err = resolve_group("#opz", g).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no group named \"#opz\" (your groups: #ops [3], #Ops [7], #dev [9])"
        );
        let err = resolve_group("#ops", ours(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no group named \"#ops\" (you are in no group)"
        );
        // A hostile name cannot move the cursor in the error line.
        let err = resolve_group("#x", ours(&[(1, "a\x1b[2Jb")])).unwrap_err();
        assert!(!err.to_string().contains('\x1b'), "{err}");
    }

    #[test]
    fn the_list_follows_the_session_and_labels_shared_names() {
        let mut groups = Groups::new();
        assert!(!groups.is_known());
        assert!(groups.apply(&Event::Groups(vec![group(1, "ops"), group(2, "dev")])));
        assert!(groups.is_known());
        assert_eq!(groups.resolve("#dev"), Ok(GroupId(2)));
        assert!(groups.apply(&Event::Group(group(3, "OPS"))));
        assert_eq!(groups.label(&GroupId(1)), "#ops [1]");
        assert_eq!(groups.label(&GroupId(2)), "#dev");
        assert!(groups.apply(&Event::GroupGone(GroupId(3))));
        assert_eq!(groups.label(&GroupId(1)), "#ops");
        assert_eq!(groups.label(&GroupId(3)), "#3");
        let names: Vec<&str> = groups.sorted().iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["dev", "ops"]);
        // A new login's list replaces the old one.
        assert!(groups.apply(&Event::Groups(vec![group(5, "new")])));
        assert_eq!(groups.len(), 1);
    }
}
