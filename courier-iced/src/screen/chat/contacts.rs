//! Who is who, and the contact list. [`People`] knows every contact the hub shares, the
//! names they are shown by (look-alike names carry an id tag) and their pictures; the
//! list view shows "Everyone", then every contact (online first), virtualised so a
//! thousand contacts cost no more to draw than the dozen on screen.

use std::collections::HashMap;

use courier_core::contacts::Contacts;
use courier_core::proto::{AvatarId, ClientId, Contact, Presence, Target};
use courier_core::session::Event;
use courier_core::text as untrusted;
use iced::widget::image::Handle;
use iced::widget::{button, column, container, image, row, scrollable, space, text, text_input};
use iced::{Center, Element, Fill, Length};

use super::conversation::Conversations;
use crate::{avatar, style};

/// Height of one contact row, in logical pixels.
const ROW: f32 = 60.0;

/// Every contact, how each is shown, and the list's search and scroll position.
pub struct People {
    /// Our id.
    pub me: ClientId,
    /// Everyone the hub knows.
    pub list: Contacts,
    /// The contact search text.
    pub search: String,
    /// Contact ids in list order (online first, by name), kept between contact changes.
    roster: Vec<ClientId>,
    /// Display labels (look-alike names tagged), kept with the roster.
    labels: HashMap<ClientId, String>,
    /// Search results in list order, while searching.
    hits: Option<Vec<ClientId>>,
    /// Contacts' pictures: the avatar id asked for, and its picture once it came.
    avatars: HashMap<ClientId, (AvatarId, Option<Handle>)>,
    mine: Option<Handle>,
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

/// What the user did in the list.
#[derive(Debug, Clone)]
pub enum Message {
    /// Typed in the search field.
    Search(String),
    /// Scrolled the list.
    Scrolled(iced::widget::scrollable::Viewport),
    /// Picked a conversation.
    Select(Target),
    /// Picked a message the search found (its place in `Conversations::found`).
    OpenFound(usize),
}

/// What the parent has to do.
#[derive(Debug)]
pub enum Action {
    /// Nothing.
    None,
    /// Open this conversation.
    Open(Target),
    /// Open the conversation at the message found (its place in the results).
    OpenFound(usize),
}

impl People {
    /// `contacts` as the hub listed them at login; `avatar` is our own picture's bytes.
    pub fn new(me: ClientId, contacts: Vec<Contact>, avatar: &[u8]) -> Self {
        let mut people = Self {
            me,
            list: Contacts::new(contacts),
            search: String::new(),
            roster: Vec::new(),
            labels: HashMap::new(),
            hits: None,
            avatars: HashMap::new(),
            mine: avatar_handle(avatar),
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
        self.roster = self.list.sorted().iter().map(|c| c.id).collect();
        self.labels = self.list.labels();
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

    /// Handles a message.
    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::Search(s) => {
                self.search = s;
                self.offset = 0.0;
                self.refresh();
            }
            Message::Scrolled(viewport) => {
                self.offset = viewport.absolute_offset().y;
                self.height = viewport.bounds().height;
            }
            Message::Select(target) => return Action::Open(target),
            Message::OpenFound(n) => return Action::OpenFound(n),
        }
        Action::None
    }

    /// Draws the list; `threads` says which conversation is open and what is unread.
    pub fn view<'a>(&'a self, threads: &'a Conversations) -> Element<'a, Message> {
        let search = text_input("Search contacts and messages", &self.search)
            .id("contact-search")
            .on_input(Message::Search)
            .padding(8);
        let everyone = self.entry(
            threads,
            Target::Everyone,
            avatar_initials("*", 0, 40.0),
            "Everyone".to_owned(),
            "Messages to everyone online".to_owned(),
            None,
        );
        let list = self.listed();
        let total = list.len();
        // Only the rows in view (plus a margin) are built; spaces stand in for the rest.
        let first = ((self.offset / ROW).floor().max(0.0) as usize).min(total);
        let count = ((self.height / ROW).ceil() as usize + 2).min(total - first);
        let mut rows = column![space::vertical().height(Length::Fixed(first as f32 * ROW))];
        for c in list[first..first + count]
            .iter()
            .filter_map(|id| self.list.get(id))
        {
            rows = rows.push(self.contact_row(threads, c));
        }
        let after = total - first - count;
        rows = rows.push(space::vertical().height(Length::Fixed(after as f32 * ROW)));
        let searching = !self.search.trim().is_empty();
        if searching {
            rows = rows.push(self.found(threads));
        }
        let empty: Element<'_, Message> = if total == 0 {
            let t = if !searching {
                "Nobody else is on this hub yet."
            } else {
                "No contact matches."
            };
            container(text(t).size(14).style(style::dim))
                .padding(12)
                .into()
        } else {
            space::vertical().height(0).into()
        };
        column![
            container(column![text("Contacts").size(20), search].spacing(8)).padding(10),
            container(everyone).padding([0, 6]),
            empty,
            scrollable(container(rows).padding([0, 6]))
                .id("contacts")
                .on_scroll(Message::Scrolled)
                .height(Fill)
        ]
        .spacing(4)
        .into()
    }

    /// The messages the search found, newest first: where, who, when and the text.
    fn found<'a>(&'a self, threads: &'a Conversations) -> Element<'a, Message> {
        let mut list = column![
            text(if threads.found.is_empty() {
                "No message matches."
            } else {
                "Messages"
            })
            .size(13)
            .style(style::dim)
        ]
        .spacing(4)
        .padding([8, 4]);
        for (n, e) in threads.found.iter().enumerate() {
            let place = match e.peer {
                Target::Everyone => "Everyone".to_owned(),
                Target::Client(id) => self.name_of(&id),
            };
            let who = if e.outgoing {
                "You".to_owned()
            } else {
                self.name_of(&e.from)
            };
            let text_start: String = e.text.chars().take(120).collect();
            let line = format!("{who}: {}", untrusted::visible(&text_start, false));
            let content = column![
                row![
                    text(place).size(14).width(Fill),
                    text(crate::format::day_and_clock(e.time))
                        .size(11)
                        .style(style::dim)
                ]
                .align_y(Center),
                text(line)
                    .size(12)
                    .style(style::dim)
                    .wrapping(text::Wrapping::None)
            ]
            .spacing(2);
            list = list.push(
                button(content)
                    .width(Fill)
                    .padding([6, 8])
                    .style(button::text)
                    .on_press(Message::OpenFound(n)),
            );
        }
        list.into()
    }

    fn contact_row<'a>(
        &'a self,
        threads: &'a Conversations,
        c: &'a Contact,
    ) -> Element<'a, Message> {
        let presence = presence_word(c);
        let line = if c.profile.status.is_empty() {
            presence.to_owned()
        } else {
            format!(
                "{presence} · {}",
                untrusted::visible(&c.profile.status, false)
            )
        };
        self.entry(
            threads,
            Target::Client(c.id),
            self.picture(c, 40.0),
            self.name_of(&c.id),
            line,
            Some((c.online, c.profile.presence)),
        )
    }

    /// A contact's picture: the avatar, or initials on a colour from its id.
    pub fn picture<'a, M: 'a>(&self, c: &Contact, size: f32) -> Element<'a, M> {
        match self.avatar(&c.id) {
            Some(h) => image(h.clone()).width(size).height(size).into(),
            None => avatar_initials(&initials(&c.profile.name), c.id.0[0], size),
        }
    }

    fn entry<'a>(
        &'a self,
        threads: &'a Conversations,
        target: Target,
        pic: Element<'a, Message>,
        name: String,
        line: String,
        presence: Option<(bool, Presence)>,
    ) -> Element<'a, Message> {
        let unread = threads.unread(&target);
        let dot: Element<'a, Message> = match presence {
            Some((online, p)) => container(space::horizontal().width(10).height(10))
                .style(move |theme: &iced::Theme| iced::widget::container::Style {
                    background: Some(iced::Background::Color(style::presence_color(
                        theme,
                        online.then_some(p),
                    ))),
                    border: iced::Border::default().rounded(5),
                    ..Default::default()
                })
                .into(),
            None => space::horizontal().width(10).into(),
        };
        let mut line_row = row![
            column![
                row![text(name).size(15).width(Fill), dot]
                    .spacing(6)
                    .align_y(Center),
                text(line)
                    .size(12)
                    .style(style::dim)
                    .wrapping(text::Wrapping::None)
            ]
            .spacing(2)
            .width(Fill)
        ]
        .spacing(6)
        .align_y(Center);
        if unread > 0 {
            line_row = line_row.push(
                container(text(unread.to_string()).size(12))
                    .padding([1, 7])
                    .style(style::badge),
            );
        }
        let content = row![pic, line_row].spacing(10).align_y(Center);
        let b = button(content)
            .width(Fill)
            .height(ROW - 4.0)
            .padding([6, 8])
            .on_press(Message::Select(target))
            .style(if threads.selected == target {
                selected_style
            } else {
                button::text
            });
        container(b).height(ROW).into()
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

/// The selected row looks the same whatever the pointer does.
fn selected_style(theme: &iced::Theme, _status: button::Status) -> button::Style {
    let c = style::selected(theme);
    button::Style {
        background: c.background,
        text_color: c.text_color.unwrap_or(theme.palette().text),
        border: c.border,
        ..button::Style::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::chat::tests::{chat_with, contact, interact, shows};
    use crate::settings::Settings;

    #[test]
    fn look_alike_contacts_get_id_tags_and_search_filters() -> Result<(), iced_test::Error> {
        let mut settings = Settings::default();
        let mut chat = chat_with(vec![
            contact(2, "Bob"),
            contact(3, "bob"),
            contact(4, "Carol"),
        ]);
        let label = chat.people.list.label(&ClientId([2; 32]));
        assert_ne!(label, "Bob", "same-looking names carry an id tag");
        assert!(shows(&chat, &settings, &label));
        interact(&mut chat, &mut settings, |ui| {
            let _ = ui.click(iced::widget::Id::new("contact-search"));
            ui.typewrite("car");
        });
        assert_eq!(chat.people.search, "car");
        assert!(shows(&chat, &settings, "Carol"));
        assert!(!shows(&chat, &settings, &label));
        Ok(())
    }

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
