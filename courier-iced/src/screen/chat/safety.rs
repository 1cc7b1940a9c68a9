//! Trust in a contact's device: its safety number page (the 60 digits large and grouped,
//! and as a QR code, with "Mark as verified"), the verified marks (kept in the profile
//! folder, shown in the contact list), and the blocking warning when a name the user
//! verified turns up on a different device. Sending to such a device stays blocked
//! until the user compares numbers and marks it verified.

use std::collections::BTreeSet;
use std::path::Path;

use courier_core::contacts::{Conflict, Contacts, Mark, Verified, conflict_among};
use courier_core::proto::{ClientId, Target, Timestamp};
use courier_core::safety::SafetyNumber;
use iced::widget::image::{FilterMethod, Handle};
use iced::widget::{button, center, column, container, image, opaque, row, stack, text};
use iced::{Center, Element, Fill};

use super::{Action, Chat, Message as ChatMessage, conversation};
use crate::format::day_and_clock;
use crate::style;

/// Pixels per QR module, and the light modules around the code (the standard's 4).
const QR_SCALE: usize = 6;
const QR_QUIET: usize = 4;

/// The verified marks, the conflicts they show, and the page open.
#[derive(Debug, Default)]
pub struct Trust {
    /// Where the marks are kept (`None`: in memory only, as in tests).
    store: Option<Verified>,
    /// Every verified device.
    marks: Vec<Mark>,
    /// Contacts that go by a name verified for another device.
    conflicts: Vec<Conflict>,
    /// Conflicts whose warning the user put off ("Not now"); sending stays blocked.
    put_off: BTreeSet<ClientId>,
    /// The contact whose safety number page is open, with its QR code.
    page: Option<(ClientId, Option<Handle>)>,
    /// Why the marks could not be read or kept.
    problem: Option<String>,
}

/// What the user did about trust.
#[derive(Debug, Clone)]
pub enum Message {
    /// Open a contact's safety number page.
    Open(ClientId),
    /// Close it.
    Close,
    /// Mark the contact's device as verified.
    Mark(ClientId),
    /// Remove its verified mark.
    Unmark(ClientId),
    /// From the warning: put it off; sending to the device stays blocked.
    NotNow(ClientId),
}

impl Trust {
    /// The marks kept in the profile folder `dir`, read now.
    pub fn load(&mut self, dir: &Path, contacts: &Contacts) {
        let store = Verified::new(dir);
        match store.all() {
            Ok(marks) => self.marks = marks,
            Err(e) => self.problem = Some(format!("The verified contacts cannot be read: {e}")),
        }
        self.store = Some(store);
        self.refresh(contacts);
    }

    /// Recomputes the conflicts after the contacts or the marks changed. A verified
    /// device seen under a new name has it recorded on its mark (kept with the names it
    /// had), so an impostor under the new name is caught too.
    pub fn refresh(&mut self, contacts: &Contacts) {
        let mut renamed = false;
        for mark in &mut self.marks {
            if let Some(c) = contacts.get(&mark.id) {
                renamed |= mark.renamed(&c.profile.name);
            }
        }
        if renamed && let Some(store) = &self.store {
            let devices = contacts.iter().map(|c| (c.id, c.profile.name.as_str()));
            if let Err(e) = store.follow(devices) {
                self.problem = Some(format!(
                    "The verified contacts' new names are not kept: {e}"
                ));
            }
        }
        self.conflicts = contacts
            .iter()
            .filter_map(|c| conflict_among(&self.marks, c.id, &c.profile.name))
            .collect();
    }

    /// Whether `id` is verified.
    pub fn is_verified(&self, id: &ClientId) -> bool {
        self.marks.iter().any(|m| m.id == *id)
    }

    /// The conflict of the contact `id`, if it took a name verified for another device.
    pub fn conflict(&self, id: &ClientId) -> Option<&Conflict> {
        self.conflicts.iter().find(|c| c.new == *id)
    }

    /// The contact whose page is open.
    pub fn page(&self) -> Option<ClientId> {
        self.page.as_ref().map(|(id, _)| *id)
    }

    /// The warning to show now: a conflict not put off, whose page is not open.
    fn warning(&self) -> Option<&Conflict> {
        self.conflicts
            .iter()
            .find(|c| !self.put_off.contains(&c.new) && self.page() != Some(c.new))
    }

    fn mark(&mut self, id: ClientId, name: &str) {
        let mark = match &self.store {
            Some(store) => match store.mark(id, name, Timestamp::now()) {
                Ok(mark) => mark,
                Err(e) => {
                    self.problem = Some(format!("The mark is not kept: {e}"));
                    return;
                }
            },
            None => Mark {
                id,
                name: name.to_owned(),
                former: Vec::new(),
                when: Timestamp::now(),
            },
        };
        self.marks.retain(|m| m.id != id);
        self.marks.push(mark);
        self.put_off.remove(&id);
    }

    fn unmark(&mut self, id: ClientId) {
        if let Some(store) = &self.store
            && let Err(e) = store.unmark(&id)
        {
            self.problem = Some(format!("The mark is not removed: {e}"));
            return;
        }
        self.marks.retain(|m| m.id != id);
    }
}

/// The QR code of `number` as an image (dark modules black on white).
fn qr_image(number: &SafetyNumber) -> Option<Handle> {
    let code = qrcode::QrCode::new(number.qr_payload()).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QR_QUIET) * QR_SCALE;
    let mut rgba = vec![255u8; side * side * 4];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + QR_QUIET, i / modules + QR_QUIET);
        for y in my * QR_SCALE..(my + 1) * QR_SCALE {
            for x in mx * QR_SCALE..(mx + 1) * QR_SCALE {
                let at = (y * side + x) * 4;
                if let Some(px) = rgba.get_mut(at..at + 3) {
                    px.fill(0);
                }
            }
        }
    }
    let side = u32::try_from(side).ok()?;
    Some(Handle::from_rgba(side, side, rgba))
}

impl Chat {
    /// Marks a contact trusted (its offers are accepted by themselves) or not.
    pub(super) fn trusted(
        &mut self,
        id: ClientId,
        trusted: bool,
        settings: &mut crate::settings::Settings,
    ) -> Action {
        settings.set_trusted(&id, trusted);
        Action::SaveSettings
    }

    /// Handles what the user did about trust.
    pub(super) fn trust(&mut self, message: Message) -> Action {
        let trust = &mut self.people.trust;
        match message {
            Message::Open(id) => {
                let qr = qr_image(&SafetyNumber::between(self.people.me, id));
                trust.page = Some((id, qr));
                // The page takes the side panel's place.
                self.panel.tab = None;
                self.groups.page = None;
            }
            Message::Close => trust.page = None,
            Message::Mark(id) => {
                let name = self.people.list.get(&id).map(|c| c.profile.name.as_str());
                trust.mark(id, name.unwrap_or_default());
            }
            Message::Unmark(id) => trust.unmark(id),
            Message::NotNow(id) => {
                trust.put_off.insert(id);
            }
        }
        if let Some(problem) = trust.problem.take() {
            self.notice = Some(problem);
        }
        self.people.trust.refresh(&self.people.list);
        Action::None
    }

    /// Whether `m` would send to a contact that took a name verified for another device:
    /// then it is held back (the draft stays) and the notice says why.
    pub(super) fn send_blocked(&mut self, m: &conversation::Message) -> bool {
        let conversation::Message::Send = m else {
            return false;
        };
        self.sending_blocked()
    }

    /// Whether sending to the open conversation is blocked (see [`Chat::send_blocked`]);
    /// says why in the notice.
    pub(super) fn sending_blocked(&mut self) -> bool {
        let id = match self.conversations.selected {
            Target::Client(id) => id,
            Target::Group(g) => {
                // A message to a group is sealed to every member.
                let me = self.people.me;
                let members: Vec<ClientId> = self.groups.known.get(&g).map_or_else(Vec::new, |g| {
                    g.members
                        .iter()
                        .map(|m| m.id)
                        .filter(|id| *id != me)
                        .collect()
                });
                return self.blocked_among(&members);
            }
            Target::Everyone => return false,
        };
        let Some(c) = self.people.trust.conflict(&id) else {
            return false;
        };
        self.notice = Some(format!(
            "Not sent: this is not the device you verified as {}. Compare safety numbers \
             (Safety number, above) and mark it as verified to send to it.",
            c.verified.name
        ));
        true
    }

    /// Whether sending to all of `to` (a group's members, the contacts picked for files)
    /// is blocked because one of them took a name verified for another device: then
    /// nothing is sent, the notice names them, and the warning asks to compare numbers.
    pub(super) fn blocked_among(&mut self, to: &[ClientId]) -> bool {
        let trust = &mut self.people.trust;
        let found: Vec<&Conflict> = to.iter().filter_map(|id| trust.conflict(id)).collect();
        let Some(first) = found.first() else {
            return false;
        };
        let first = first.new;
        let names: Vec<String> = found
            .iter()
            .map(|c| format!("{} ({})", c.name, c.new.short()))
            .collect();
        self.notice = Some(format!(
            "Not sent: {} {} not the device you verified under that name. Compare safety \
             numbers and mark {} as verified to send to {}.",
            names.join(", "),
            if names.len() == 1 { "is" } else { "are" },
            if names.len() == 1 { "it" } else { "them" },
            if names.len() == 1 { "it" } else { "them" },
        ));
        // The warning comes back even if it was put off: the user is sending to it now.
        trust.put_off.remove(&first);
        true
    }

    /// The open safety number page, drawn in the side panel's place.
    pub(super) fn trust_page(&self) -> Option<Element<'_, ChatMessage>> {
        let (id, qr) = self.people.trust.page.as_ref()?;
        let id = *id;
        let name = self.people.name_of(&id);
        let number = SafetyNumber::between(self.people.me, id);
        let trust = &self.people.trust;
        let digits = column(number.lines().into_iter().map(|l| text(l).size(24).into()))
            .spacing(4)
            .align_x(Center);
        let mut page = column![
            row![
                text("Safety number").size(18).width(Fill),
                button(text("Close").size(13))
                    .style(button::text)
                    .on_press(Message::Close)
            ]
            .align_y(Center),
            text(format!("{name} · {}", id.short())).size(14),
            container(digits).width(Fill).center_x(Fill),
        ]
        .spacing(12);
        if let Some(qr) = qr {
            page = page.push(
                container(
                    image(qr.clone())
                        .filter_method(FilterMethod::Nearest)
                        .width(240),
                )
                .width(Fill)
                .center_x(Fill),
            );
        }
        page = page.push(
            text(format!(
                "Compare these numbers with the ones {name} sees for you, in person or on a \
                 call, or scan the code. If every digit matches, mark {name} as verified."
            ))
            .size(13),
        );
        if let Some(c) = trust.conflict(&id) {
            page = page.push(
                text(format!(
                    "You verified another device ({}) as {} on {}. This is a different device.",
                    c.verified.id.short(),
                    c.verified.name,
                    day_and_clock(c.verified.when)
                ))
                .size(13)
                .style(style::error),
            );
        }
        let mark = trust.marks.iter().find(|m| m.id == id);
        page = page.push(match mark {
            Some(m) => column![
                text(format!("Verified on {}.", day_and_clock(m.when))).size(13),
                button(text("Remove verification").size(14))
                    .style(button::secondary)
                    .on_press(Message::Unmark(id)),
            ]
            .spacing(6),
            None => column![
                text("Not verified.").size(13).style(style::dim),
                button(text("Mark as verified").size(14))
                    .style(button::primary)
                    .on_press(Message::Mark(id)),
            ]
            .spacing(6),
        });
        Some(Element::from(page.padding(12).width(Fill)).map(ChatMessage::Safety))
    }

    /// `base` with the blocking warning over it, when a verified name turned up on
    /// another device and the user has not put it off.
    pub(super) fn with_trust_warning<'a>(
        &'a self,
        base: Element<'a, ChatMessage>,
    ) -> Element<'a, ChatMessage> {
        let Some(c) = self.people.trust.warning() else {
            return base;
        };
        let name = &c.verified.name;
        let card = column![
            text(format!("{name} is on a different device")).size(20),
            text(format!(
                "You verified {name}'s device ({}) on {}. The hub now shows a different device \
                 ({}) under that name. It may be {name}'s new computer, or someone pretending \
                 to be {name}. Nothing is sent to it until you compare safety numbers and \
                 mark it as verified.",
                c.verified.id.short(),
                day_and_clock(c.verified.when),
                c.new.short(),
            ))
            .size(14),
            row![
                button(text("Compare safety numbers").size(14))
                    .style(button::primary)
                    .on_press(Message::Open(c.new)),
                button(text("Not now").size(14))
                    .style(button::secondary)
                    .on_press(Message::NotNow(c.new)),
            ]
            .spacing(10),
        ]
        .spacing(14);
        let card = container(card)
            .padding(20)
            .max_width(480)
            .style(style::overlay);
        let modal = Element::from(center(card).style(|_| container::Style {
            background: Some(iced::Background::Color(iced::Color {
                a: 0.5,
                ..iced::Color::BLACK
            })),
            ..Default::default()
        }))
        .map(ChatMessage::Safety);
        stack![base, opaque(modal)].into()
    }
}

#[cfg(test)]
mod tests;
