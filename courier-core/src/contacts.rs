//! The contact list as a front end keeps it: built from the login's contact list, kept
//! current from session events, and asked to resolve what a person typed ("bob", an id
//! prefix, "everyone") or to find contacts by a search text. The CLI and the desktop app
//! share it, so both tell same-looking names apart the same way.

use std::collections::{BTreeMap, HashMap};

use unicode_normalization::UnicodeNormalization;

use crate::proto::{ClientId, Contact, Target, is_invisible, looks_like_id};
use crate::session::Event;
use crate::text::terminal_line;

mod groups;
mod verified;

pub use groups::{GroupCandidate, GroupError, Groups, resolve_group};
pub use verified::{Conflict, KEPT_NAMES, Mark, VERIFIED_FILE, Verified, conflict_among};

/// Shortest id prefix accepted when resolving by id.
pub const MIN_ID_PREFIX: usize = 4;

/// One of the members a query could mean (see [`Error::Ambiguous`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its id.
    pub id: ClientId,
    /// Its display name.
    pub name: String,
}

/// Why a name did not resolve to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Nobody by that name or id prefix.
    #[error("no contact named {0:?}")]
    NotFound(String),
    /// Several members match: one line naming each (short id and name); give more of
    /// the id.
    #[error(
        "{query:?} is ambiguous: {} members match ({}); give more of the id",
        candidates.len(),
        candidate_list(candidates)
    )]
    Ambiguous {
        /// What was asked.
        query: String,
        /// Who matched.
        candidates: Vec<Candidate>,
    },
}

/// "short-id name, short-id name", names escaped for a terminal line.
fn candidate_list(candidates: &[Candidate]) -> String {
    candidates
        .iter()
        .map(|c| format!("{} {}", c.id.short(), terminal_line(&c.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one rule by which Courier finds whom a person means among `members` (id and
/// display name pairs): the CLI's recipients, `courier history`, `courier hub forget`,
/// the app and the doctor all resolve through it.
///
/// In order: "everyone" (any case); then an id: the whole id, or a prefix of at least
/// [`MIN_ID_PREFIX`] hex digits (any case), when it starts the id of exactly one member;
/// then a display name, compared as [`name_key`]. An id wins over a name, so a member
/// named like someone's id (or its start) never takes their messages; a short prefix
/// (under [`ID_LIKE_NAME`](crate::proto::ID_LIKE_NAME) digits, which a name may be) that
/// is also someone else's name is ambiguous, so an id ground to start with a member's
/// short hex name does not take theirs either. A query that fits
/// several members, whether by id prefix or by name, is [`Error::Ambiguous`] and names
/// them all (for an id prefix, with the members whose name it also is): never a guess.
///
/// # Errors
/// [`Error::NotFound`], or [`Error::Ambiguous`] with the candidates.
pub fn resolve<'a>(
    query: &str,
    members: impl IntoIterator<Item = (ClientId, &'a str)>,
) -> Result<Target, Error> {
    let query = query.trim();
    if query.eq_ignore_ascii_case("everyone") {
        return Ok(Target::Everyone);
    }
    let members: Vec<(ClientId, &str)> = members.into_iter().collect();
    let key = name_key(query);
    let by_name = members.iter().filter(|(_, n)| name_key(n) == key);
    let is_id_prefix = query.len() >= MIN_ID_PREFIX && query.bytes().all(|b| b.is_ascii_hexdigit());
    let by_id: Vec<&(ClientId, &str)> = if is_id_prefix {
        members
            .iter()
            .filter(|(id, _)| id.matches_prefix(query))
            .collect()
    } else {
        Vec::new()
    };
    let found: Vec<&(ClientId, &str)> = match by_id.as_slice() {
        // A prefix that could also be a name (shorter than any name may look like an
        // id) wins only if it is nobody else's name: ids can be ground to start with a
        // short hex word such as "ebba", and must not take Ebba's messages.
        [one] if looks_like_id(query) || by_name.clone().all(|(id, _)| *id == one.0) => {
            return Ok(Target::Client(one.0));
        }
        [one] => {
            let mut all = vec![*one];
            all.extend(by_name.filter(|(id, _)| *id != one.0));
            all
        }
        [] => by_name.collect(),
        _ => {
            let mut all = by_id.clone();
            all.extend(by_name.filter(|(id, _)| by_id.iter().all(|(i, _)| i != id)));
            all
        }
    };
    match found.as_slice() {
        [one] => Ok(Target::Client(one.0)),
        [] => Err(Error::NotFound(query.to_owned())),
        many => Err(Error::Ambiguous {
            query: query.to_owned(),
            candidates: many
                .iter()
                .map(|(id, name)| Candidate {
                    id: *id,
                    name: (*name).to_owned(),
                })
                .collect(),
        }),
    }
}

/// The key two names are compared by: what a person sees. Invisible characters dropped,
/// case folded, then the Unicode TR39 confusable skeleton (`unicode-security`), trimmed.
/// "alice", "Alice", "ali\u{200B}ce", "alice\u{FE0F}", Cyrillic "\u{430}lice" or fullwidth
/// "ａｌｉｃｅ" look the same to a person, so they are the same name here.
pub fn name_key(name: &str) -> String {
    let folded: String = name
        .nfkc()
        .filter(|c| !is_invisible(*c))
        .collect::<String>()
        .to_lowercase();
    unicode_security::confusable_detection::skeleton(folded.trim())
        .collect::<String>()
        .to_lowercase()
}

/// Every contact the hub told us about, by id.
///
/// Kept current from the session, in this order: [`Contacts::new`] with the welcome's
/// list, [`Contacts::extend`] with a reconnect's, [`Contacts::apply`] with every session
/// event after. Then asked: [`Contacts::get`], [`Contacts::label`], [`Contacts::labels`],
/// [`Contacts::resolve`], [`Contacts::search`], [`Contacts::sorted`],
/// [`Contacts::name_is_shared`].
#[derive(Debug, Clone, Default)]
pub struct Contacts {
    by_id: BTreeMap<ClientId, Contact>,
}

impl Contacts {
    /// A list holding `contacts` (as in [`crate::session::Welcome::contacts`]).
    pub fn new(contacts: impl IntoIterator<Item = Contact>) -> Self {
        let mut list = Self::default();
        list.extend(contacts);
        list
    }

    /// Adds or replaces contacts (a reconnect's fresh list, say).
    pub fn extend(&mut self, contacts: impl IntoIterator<Item = Contact>) {
        for c in contacts {
            self.by_id.insert(c.id, c);
        }
    }

    /// Keeps the list current; returns whether `event` changed it.
    pub fn apply(&mut self, event: &Event) -> bool {
        match event {
            Event::Contact(c) => {
                self.by_id.insert(c.id, c.clone());
                true
            }
            _ => false,
        }
    }

    /// One contact.
    pub fn get(&self, id: &ClientId) -> Option<&Contact> {
        self.by_id.get(id)
    }

    /// How many contacts.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every contact, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Contact> {
        self.by_id.values()
    }

    /// Every contact as a list shows them: online first, then by name, then by id.
    pub fn sorted(&self) -> Vec<&Contact> {
        let mut list: Vec<&Contact> = self.by_id.values().collect();
        list.sort_by_cached_key(|c| (!c.online, name_key(&c.profile.name), c.id));
        list
    }

    /// Whether another contact has a name that looks the same as `c`'s: show its
    /// short id next to the name then.
    pub fn name_is_shared(&self, c: &Contact) -> bool {
        let key = name_key(&c.profile.name);
        self.by_id
            .values()
            .any(|o| o.id != c.id && name_key(&o.profile.name) == key)
    }

    /// The name to show for `id`: the contact's name, tagged with its short id when the
    /// name is shared or reads as an id (one kept from before hubs refused those:
    /// [`looks_like_id`]); the short id for strangers.
    pub fn label(&self, id: &ClientId) -> String {
        match self.by_id.get(id) {
            Some(c) if self.name_is_shared(c) || looks_like_id(&c.profile.name) => {
                format!("{} [{}]", c.profile.name, id.short())
            }
            Some(c) => c.profile.name.clone(),
            None => id.short(),
        }
    }

    /// [`Contacts::label`] of every contact at once, in one pass over the list (a front
    /// end keeps this instead of asking per row).
    pub fn labels(&self) -> HashMap<ClientId, String> {
        let keys: Vec<(ClientId, String)> = self
            .by_id
            .values()
            .map(|c| (c.id, name_key(&c.profile.name)))
            .collect();
        let mut count: HashMap<&str, usize> = HashMap::new();
        for (_, k) in &keys {
            *count.entry(k.as_str()).or_default() += 1;
        }
        self.by_id
            .values()
            .zip(&keys)
            .map(|(c, (_, k))| {
                let label = if count.get(k.as_str()).copied().unwrap_or(0) > 1
                    || looks_like_id(&c.profile.name)
                {
                    format!("{} [{}]", c.profile.name, c.id.short())
                } else {
                    c.profile.name.clone()
                };
                (c.id, label)
            })
            .collect()
    }

    /// Resolves "everyone", an id (whole, or a prefix of at least [`MIN_ID_PREFIX`] hex
    /// digits) or a display name among these contacts, by the one rule of [`resolve`]:
    /// an id wins over a name.
    ///
    /// # Errors
    /// [`Error::NotFound`], or [`Error::Ambiguous`] with the candidates.
    pub fn resolve(&self, query: &str) -> Result<Target, Error> {
        resolve(
            query,
            self.by_id.values().map(|c| (c.id, c.profile.name.as_str())),
        )
    }

    /// Contacts whose name or status contains `text` (compared as [`name_key`]) or whose
    /// id starts with it, in [`Contacts::sorted`] order. An empty text finds everyone.
    pub fn search(&self, text: &str) -> Vec<&Contact> {
        let key = name_key(text);
        self.sorted()
            .into_iter()
            .filter(|c| {
                key.is_empty()
                    || name_key(&c.profile.name).contains(&key)
                    || name_key(&c.profile.status).contains(&key)
                    || (key.len() >= MIN_ID_PREFIX && c.id.matches_prefix(&key))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ContactCard, Timestamp};

    fn contact(b: u8, name: &str, online: bool) -> Contact {
        Contact {
            id: ClientId([b; 32]),
            profile: ContactCard {
                name: name.into(),
                status: format!("status of {name}"),
                ..ContactCard::default()
            },
            online,
            last_seen: Timestamp(0),
        }
    }

    fn list() -> Contacts {
        Contacts::new([
            contact(0x11, "alice", true),
            contact(0x22, "Bob", false),
            contact(0x33, "bob", true),
            contact(0x44, "carol", false),
            contact(0x55, "Zoë", true),
        ])
    }

    #[test]
    fn resolves_names_prefixes_and_everyone() {
        let l = list();
        assert_eq!(l.resolve("everyone"), Ok(Target::Everyone));
        assert_eq!(
            l.resolve(" ALICE "),
            Ok(Target::Client(ClientId([0x11; 32])))
        );
        assert_eq!(
            l.resolve("zoe\u{0308}"),
            Ok(Target::Client(ClientId([0x55; 32])))
        );
        assert_eq!(l.resolve("4444"), Ok(Target::Client(ClientId([0x44; 32]))));
        assert_eq!(l.resolve("444"), Err(Error::NotFound("444".into())));
        assert_eq!(l.resolve("dave"), Err(Error::NotFound("dave".into())));
        let ambiguous = l.resolve("bob");
        assert!(
            matches!(&ambiguous, Err(Error::Ambiguous { candidates, .. }) if candidates.len() == 2),
            "{ambiguous:?}"
        );
        assert_eq!(l.resolve("3333"), Ok(Target::Client(ClientId([0x33; 32]))));
    }

    /// Hardening N8: a member named like another's id (the short id the CLI and app
    /// print, a prefix of it, the whole id) does not take that member's messages: an id
    /// wins over a name.
    #[test]
    fn an_id_wins_over_a_name_that_looks_like_it() {
        let bob = ClientId([0x22; 32]);
        for fake in [
            bob.short(),
            "2222".to_owned(),
            "22222".to_owned(),
            bob.to_hex(),
        ] {
            let mut l = list();
            l.apply(&Event::Contact(contact(0x77, &fake, true)));
            for query in [fake.as_str(), &bob.short(), &bob.to_hex(), "2222"] {
                let got = l.resolve(query);
                if query.len() < crate::proto::ID_LIKE_NAME && name_key(&fake) == name_key(query) {
                    // A short prefix that is also the impostor's name: ambiguous, never
                    // the impostor.
                    assert!(
                        matches!(&got, Err(Error::Ambiguous { candidates, .. })
                            if candidates.iter().any(|c| c.id == bob) && candidates.len() == 2),
                        "{fake} {query}: {got:?}"
                    );
                } else {
                    assert_eq!(got, Ok(Target::Client(bob)), "{fake} {query}");
                }
            }
        }
        // An id ground to start with a member's short hex name does not take theirs.
        let mut ground = [0xeb; 32];
        ground[1] = 0xba;
        let mut l = list();
        l.extend([
            contact(0x79, "Ebba", true),
            Contact {
                id: ClientId(ground),
                ..contact(0x7a, "mallory", true)
            },
        ]);
        for query in ["ebba", "Ebba", "EBBA"] {
            assert!(
                matches!(l.resolve(query), Err(Error::Ambiguous { .. })),
                "{query}"
            );
        }
        // A short hex word is still a name when no id starts with it.
        let mut l = list();
        l.apply(&Event::Contact(contact(0x77, "cafe", true)));
        assert_eq!(l.resolve("cafe"), Ok(Target::Client(ClientId([0x77; 32]))));
        // An id prefix several members share is ambiguous, never a guess, even when a
        // name equals it.
        let mut twins = [0xab; 32];
        twins[3] = 0;
        l.extend([
            contact(0xab, "x", true),
            Contact {
                id: ClientId(twins),
                ..contact(0xab, "y", true)
            },
            contact(0x78, "abab", true),
        ]);
        let ambiguous = l.resolve("abab");
        assert!(
            matches!(&ambiguous, Err(Error::Ambiguous { candidates, .. }) if candidates.len() == 3),
            "{ambiguous:?}"
        );
        assert_eq!(l.resolve("ababab00"), Ok(Target::Client(ClientId(twins))));
        // The same rule over (id, name) pairs, as `hub forget` and `courier history`
        // use it; an ambiguous query is one line naming the candidates.
        let other = ClientId([0x33; 32]);
        let pairs = [
            (bob, "Bob"),
            (ClientId([0x77; 32]), "2222"),
            (other, "bob\n"),
        ];
        assert!(matches!(
            resolve("2222", pairs),
            Err(Error::Ambiguous { .. })
        ));
        assert_eq!(resolve(&bob.short(), pairs), Ok(Target::Client(bob)));
        assert_eq!(resolve("333333", pairs), Ok(Target::Client(other)));
        let err = resolve("bob", pairs).unwrap_err().to_string();
        assert!(
            !err.contains('\n')
                && err.contains(&bob.short())
                && err.contains(&other.short())
                && err.contains("ambiguous"),
            "{err}"
        );
        assert_eq!(
            resolve("nobody", pairs),
            Err(Error::NotFound("nobody".into()))
        );
    }

    #[test]
    fn look_alike_names_are_told_apart() {
        let mut l = list();
        let bob = l.get(&ClientId([0x22; 32])).cloned().unwrap();
        assert!(l.name_is_shared(&bob));
        assert_eq!(l.label(&bob.id), format!("Bob [{}]", bob.id.short()));
        assert_eq!(l.label(&ClientId([0x11; 32])), "alice");
        assert_eq!(l.label(&ClientId([0x99; 32])), ClientId([0x99; 32]).short());
        // Zero-width tricks do not make a different name.
        l.apply(&Event::Contact(contact(0x66, "ali\u{200B}ce", true)));
        assert!(l.name_is_shared(l.get(&ClientId([0x11; 32])).unwrap()));
        // A name kept from before hubs refused names that read as ids carries its id.
        l.apply(&Event::Contact(contact(0x88, "deadbeefcafe", true)));
        assert_eq!(
            l.label(&ClientId([0x88; 32])),
            format!("deadbeefcafe [{}]", ClientId([0x88; 32]).short())
        );
        // The bulk labels agree with the one-by-one ones.
        let all = l.labels();
        assert_eq!(all.len(), l.len());
        for c in l.iter() {
            assert_eq!(all.get(&c.id), Some(&l.label(&c.id)));
        }
    }

    /// SECURITY M14 (issue 10 #9): names that only look like another's (Cyrillic or
    /// fullwidth letters, a variation selector or a tag character after it) are
    /// look-alikes: both carry their id tag.
    #[test]
    fn confusable_names_are_look_alikes() {
        let alice = ClientId([0x11; 32]);
        for fake in [
            "\u{0430}lice",
            "al\u{0456}ce",
            "alice\u{FE0F}",
            "alice\u{E0001}",
            "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}",
        ] {
            let mut l = list();
            l.apply(&Event::Contact(contact(0x77, fake, true)));
            assert!(l.name_is_shared(l.get(&alice).unwrap()), "{fake:?}");
            assert_ne!(l.label(&alice), "alice", "{fake:?}");
            assert!(l.label(&ClientId([0x77; 32])).contains('['), "{fake:?}");
        }
        // Different names stay apart.
        let mut l = list();
        l.apply(&Event::Contact(contact(0x77, "alicia", true)));
        assert_eq!(l.label(&alice), "alice");
    }

    #[test]
    fn sorted_and_search() {
        let mut l = list();
        let names: Vec<&str> = l.sorted().iter().map(|c| c.profile.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob", "Zoë", "Bob", "carol"]);
        let found: Vec<&str> = l
            .search("OB")
            .iter()
            .map(|c| c.profile.name.as_str())
            .collect();
        assert_eq!(found, ["bob", "Bob"]);
        assert_eq!(l.search("").len(), 5);
        assert_eq!(l.search("status of carol").len(), 1);
        assert_eq!(l.search("5555").len(), 1);
        // A contact going offline moves down.
        assert!(l.apply(&Event::Contact(contact(0x11, "alice", false))));
        assert_eq!(l.sorted()[0].profile.name, "bob");
        assert!(!l.apply(&Event::Typing {
            from: ClientId([1; 32]),
            to: Target::Everyone
        }));
    }
}
