//! Who is who: every contact the hub shares, the names they are shown by (look-alike
//! names carry an id tag), their pictures, and the contact list's search and scroll state.
//! A leaf both the contact list and the conversation read; it imports no feature.

use std::collections::HashMap;

use courier_core::contacts::{Contacts, name_key};
use courier_core::proto::{AvatarId, ClientId, Contact, Presence};
use courier_core::session::Event;
use courier_core::text as untrusted;
use iced::Element;
use iced::widget::image::Handle;
use iced::widget::{container, image, text};

use crate::{avatar, style};

/// Every contact, how each is shown, and the list's search and scroll position.
pub struct People {
    /// Our id.
    pub me: ClientId,
    /// Everyone the hub knows.
    pub list: Contacts,
    /// The contact search text.
    pub search: String,
    /// Verified devices, and contacts that took a verified name (kept current with the
    /// list).
    pub trust: super::safety::Trust,
    /// Contacts picked in the list to send files to several at once, while picking.
    pub picked: Option<std::collections::BTreeSet<ClientId>>,
    /// Contact ids in list order (online first, by name), held between contact changes.
    roster: Vec<ClientId>,
    /// Display labels (look-alike names tagged), made with the roster.
    labels: HashMap<ClientId, String>,
    /// Search results in list order, while searching.
    hits: Option<Vec<ClientId>>,
    /// Contacts' pictures: the avatar id asked for, and its picture once it came.
    avatars: HashMap<ClientId, (AvatarId, Option<Handle>)>,
    mine: Option<Handle>,
    /// Our own name, as a look-alike key: a contact whose name looks like it is tagged.
    own_key: String,
    offset: f32,
    height: f32,
}

impl std::fmt::Debug for People {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("People")
            .field("contacts", &self.roster.len())
            .finish_non_exhaustive()
    }
}
impl People {
    /// `contacts` as the hub listed them at login; `avatar` is our own picture's bytes.
    pub fn new(me: ClientId, contacts: Vec<Contact>, avatar: &[u8]) -> Self {
        let mut people = Self {
            me,
            list: Contacts::new(contacts),
            search: String::new(),
            trust: super::safety::Trust::default(),
            picked: None,
            roster: Vec::new(),
            labels: HashMap::new(),
            hits: None,
            avatars: HashMap::new(),
            mine: avatar_handle(avatar),
            own_key: String::new(),
            offset: 0.0,
            height: 2000.0,
        };
        people.refresh();
        people
    }

    /// The hub's list after a reconnect.
    pub fn replace(&mut self, contacts: Vec<Contact>) {
        self.list = Contacts::new(contacts);
        self.refresh();
    }

    /// Takes a session event about contacts; false if it was not one.
    pub fn apply(&mut self, event: &Event) -> bool {
        let changed = self.list.apply(event);
        if changed {
            self.refresh();
        }
        changed
    }

    /// Recomputes the list order, labels and search results after the contacts or the
    /// search text changed (not per frame: a thousand contacts are sorted once).
    fn refresh(&mut self) {
        self.trust.refresh(&self.list);
        self.roster = self.list.sorted().iter().map(|c| c.id).collect();
        self.labels = self.list.labels();
        // A name that looks like ours gets an id tag, as a name two contacts share.
        if !self.own_key.is_empty() {
            for c in self.list.iter() {
                let label = self.labels.entry(c.id).or_default();
                if *label == c.profile.name && name_key(&c.profile.name) == self.own_key {
                    *label = format!("{} [{}]", c.profile.name, c.id.short());
                }
            }
        }
        self.hits = (!self.search.trim().is_empty()).then(|| {
            self.list
                .search(&self.search)
                .iter()
                .map(|c| c.id)
                .collect()
        });
    }

    /// A contact.
    pub fn get(&self, id: &ClientId) -> Option<&Contact> {
        self.list.get(id)
    }

    /// The contacts the list shows, in order (search results while searching).
    pub fn listed(&self) -> &[ClientId] {
        self.hits.as_deref().unwrap_or(&self.roster)
    }

    /// Contacts online, us included.
    pub fn online(&self) -> usize {
        self.list.iter().filter(|c| c.online).count() + 1
    }

    /// A display name: the contact's label (with an id tag for look-alikes), or "You";
    /// hidden characters shown ([`courier_core::text::visible`]).
    pub fn name_of(&self, id: &ClientId) -> String {
        if *id == self.me {
            return "You".to_owned();
        }
        self.labels
            .get(id)
            .map_or_else(|| id.short(), |l| untrusted::visible(l, false))
    }

    /// A contact's picture, once fetched (ours too).
    pub fn avatar(&self, id: &ClientId) -> Option<&Handle> {
        if *id == self.me {
            return self.mine.as_ref();
        }
        self.avatars.get(id).and_then(|(_, h)| h.as_ref())
    }

    /// Our own name (set or changed): contacts whose name looks like it are tagged.
    pub fn set_own_name(&mut self, name: &str) {
        self.own_key = name_key(name);
        self.refresh();
    }

    /// Our own picture changed.
    pub fn set_mine(&mut self, bytes: &[u8]) {
        self.mine = avatar_handle(bytes);
    }

    /// Contacts whose picture we do not have: to ask the hub for.
    pub fn wanted_avatars(&mut self) -> Vec<ClientId> {
        let mut wanted = Vec::new();
        for c in self.list.iter() {
            match (c.profile.avatar, self.avatars.get(&c.id)) {
                (Some(a), Some((have, _))) if *have == a => {}
                (Some(a), _) => {
                    self.avatars.insert(c.id, (a, None));
                    wanted.push(c.id);
                }
                (None, _) => {
                    self.avatars.remove(&c.id);
                }
            }
        }
        wanted
    }

    /// A picture we asked for arrived (anything but the one asked for is ignored).
    pub fn avatar_arrived(&mut self, id: ClientId, bytes: &[u8]) {
        if let Some((want, slot)) = self.avatars.get_mut(&id)
            && AvatarId::of(bytes) == Some(*want)
        {
            *slot = avatar_handle(bytes);
        }
    }

    /// Builds every row, as if the window were endless: the benchmark's baseline for
    /// what virtualising saves.
    #[doc(hidden)]
    pub fn unpaged(&mut self) {
        self.height = f32::MAX / 4.0;
    }

    /// The search text changed: the list starts again at the top.
    pub(super) fn set_search(&mut self, search: String) {
        self.search = search;
        self.offset = 0.0;
        self.refresh();
    }

    /// The list scrolled to `offset`, showing `height` pixels.
    pub(super) fn scrolled(&mut self, offset: f32, height: f32) {
        self.offset = offset;
        self.height = height;
    }

    /// Where the list is scrolled to, and how much of it shows.
    pub(super) fn viewport(&self) -> (f32, f32) {
        (self.offset, self.height)
    }

    /// A contact's picture: the avatar, or initials on a colour from its id.
    pub fn picture<'a, M: 'a>(&self, c: &Contact, size: f32) -> Element<'a, M> {
        match self.avatar(&c.id) {
            Some(h) => image(h.clone()).width(size).height(size).into(),
            None => avatar_initials(&initials(&c.profile.name), c.id.0[0], size),
        }
    }
}

/// "available", "away", "busy" or "offline".
pub fn presence_word(c: &Contact) -> &'static str {
    if !c.online {
        return "offline";
    }
    match c.profile.presence {
        Presence::Available => "available",
        Presence::Away => "away",
        Presence::Busy => "busy",
    }
}

/// Up to two initials of a name.
pub fn initials(name: &str) -> String {
    let mut words = name.split_whitespace();
    let first = words.next().and_then(|w| w.chars().next());
    let second = words.next().and_then(|w| w.chars().next());
    [first, second]
        .into_iter()
        .flatten()
        .flat_map(char::to_uppercase)
        .collect()
}

/// Initials on a colour picked by `seed`.
pub fn avatar_initials<'a, M: 'a>(label: &str, seed: u8, size: f32) -> Element<'a, M> {
    container(text(label.to_owned()).size(size * 0.4))
        .center(size)
        .style(style::initials(seed))
        .into()
}

/// Decodes avatar bytes from the network into a picture ([`avatar::decode`]: anything
/// large or odd is refused).
pub fn avatar_handle(bytes: &[u8]) -> Option<Handle> {
    let img = avatar::decode(bytes)?;
    let (w, h) = img.dimensions();
    Some(Handle::from_rgba(w, h, img.into_raw()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_avatar_bytes_are_refused() {
        assert!(avatar_handle(b"").is_none());
        assert!(avatar_handle(&vec![0u8; courier_core::limits::MAX_AVATAR + 1]).is_none());
        assert!(avatar_handle(b"\x89PNG\r\n\x1a\ngarbage").is_none());
        // Small files that decode to large pictures are refused (a few hundred bytes of
        // PNG can claim megapixels).
        let png = |w, h| {
            let mut out = std::io::Cursor::new(Vec::new());
            let img = ::image::DynamicImage::ImageRgba8(::image::RgbaImage::new(w, h));
            img.write_to(&mut out, ::image::ImageFormat::Png)
                .map(|()| out.into_inner())
        };
        for (w, h, ok) in [
            (1024, 1024, true),
            (1025, 10, false),
            (10, 1025, false),
            (2500, 2500, false),
        ] {
            let bytes = png(w, h).unwrap_or_default();
            assert!(
                bytes.len() < courier_core::limits::MAX_AVATAR,
                "{w}×{h}: {} bytes",
                bytes.len()
            );
            assert_eq!(avatar_handle(&bytes).is_some(), ok, "{w}×{h}");
        }
        assert!(avatar_handle(&avatar::builtin(0)).is_some());
    }
}
