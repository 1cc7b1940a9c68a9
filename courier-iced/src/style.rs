//! Container styles shared by the screens.

use iced::theme::palette::Pair;
use iced::widget::container;
use iced::{Background, Border, Color, Theme};

/// A box filled with a palette pair (its colour behind, its text colour on top).
fn filled(pair: Pair, radius: f32) -> container::Style {
    container::Style {
        text_color: Some(pair.text),
        background: Some(Background::Color(pair.color)),
        border: Border::default().rounded(radius),
        ..container::Style::default()
    }
}

/// A chat bubble: mine in the primary colour, theirs on a weak background.
pub fn bubble(mine: bool) -> impl Fn(&Theme) -> container::Style {
    move |theme| {
        let p = theme.extended_palette();
        let pair = if mine {
            p.primary.weak
        } else {
            p.background.weak
        };
        filled(pair, 10.0)
    }
}

/// A message bubble, ringed in the accent colour when it is the one search found.
pub fn bubble_found(mine: bool, found: bool) -> impl Fn(&Theme) -> container::Style {
    move |theme| {
        let mut style = bubble(mine)(theme);
        if found {
            style.border = style
                .border
                .width(2)
                .color(theme.extended_palette().primary.strong.color);
        }
        style
    }
}

/// A card (file offers and transfers, dialogs).
pub fn card(theme: &Theme) -> container::Style {
    let p = theme.extended_palette();
    container::Style {
        text_color: Some(p.background.base.text),
        background: Some(Background::Color(p.background.weakest.color)),
        border: Border::default()
            .rounded(10)
            .width(1)
            .color(p.background.strong.color),
        ..container::Style::default()
    }
}

/// A side column (contacts, panel).
pub fn column(theme: &Theme) -> container::Style {
    let p = theme.extended_palette();
    container::Style {
        background: Some(Background::Color(p.background.weaker.color)),
        ..container::Style::default()
    }
}

/// The side panel when it lies over the conversation (a narrow window): the column's
/// background with a shadow on the side it covers.
pub fn overlay(theme: &Theme) -> container::Style {
    container::Style {
        shadow: iced::Shadow {
            color: iced::Color {
                a: 0.35,
                ..iced::Color::BLACK
            },
            offset: iced::Vector::new(-2.0, 0.0),
            blur_radius: 12.0,
        },
        ..column(theme)
    }
}

/// The selected contact's row.
pub fn selected(theme: &Theme) -> container::Style {
    filled(theme.extended_palette().primary.weak, 8.0)
}

/// A round badge with a number (unread count).
pub fn badge(theme: &Theme) -> container::Style {
    filled(theme.extended_palette().primary.strong, 9.0)
}

/// A banner: `danger` for warnings, otherwise a notice.
pub fn banner(danger: bool) -> impl Fn(&Theme) -> container::Style {
    move |theme| {
        let p = theme.extended_palette();
        let pair = if danger {
            p.danger.weak
        } else {
            p.warning.weak
        };
        filled(pair, 0.0)
    }
}

/// A circle of colour behind initials, the colour picked from the id.
pub fn initials(seed: u8) -> impl Fn(&Theme) -> container::Style {
    move |_theme| {
        const HUES: [Color; 6] = [
            Color::from_rgb(0.23, 0.51, 0.96),
            Color::from_rgb(0.06, 0.73, 0.51),
            Color::from_rgb(0.96, 0.62, 0.04),
            Color::from_rgb(0.94, 0.27, 0.27),
            Color::from_rgb(0.55, 0.36, 0.96),
            Color::from_rgb(0.93, 0.28, 0.60),
        ];
        container::Style {
            text_color: Some(Color::WHITE),
            background: Some(Background::Color(HUES[usize::from(seed) % HUES.len()])),
            border: Border::default().rounded(100),
            ..container::Style::default()
        }
    }
}

/// The colour of a presence dot.
pub fn presence_color(theme: &Theme, presence: Option<courier_core::proto::Presence>) -> Color {
    use courier_core::proto::Presence;
    let p = theme.extended_palette();
    match presence {
        Some(Presence::Available) => p.success.base.color,
        Some(Presence::Away) => p.warning.base.color,
        Some(Presence::Busy) => p.danger.base.color,
        None => p.background.strong.color,
    }
}

/// Dimmed text colour (times, sizes, status lines): the text colour, part transparent,
/// so it reads on every background of both themes.
pub fn dim(theme: &Theme) -> iced::widget::text::Style {
    let text = theme.extended_palette().background.base.text;
    iced::widget::text::Style {
        color: Some(Color { a: 0.62, ..text }),
    }
}

/// Error text colour.
pub fn error(theme: &Theme) -> iced::widget::text::Style {
    iced::widget::text::Style {
        color: Some(theme.extended_palette().danger.base.color),
    }
}
