//! The connection check as the app shows it (in the Menu, and under a failed join): the
//! steps of `courier_core::doctor` as they come, ok or what is wrong and what to do.

use courier_core::doctor::Finding;
use iced::Element;
use iced::widget::{button, column, text};

use crate::style;

/// A check that runs or ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// The steps found so far.
    pub findings: Vec<Finding>,
    /// Whether it still runs.
    pub running: bool,
}

impl Check {
    /// Starts a check in `slot` unless one runs there; whether it started.
    pub fn start(slot: &mut Option<Self>) -> bool {
        if slot.as_ref().is_some_and(|c| c.running) {
            return false;
        }
        *slot = Some(Self {
            findings: Vec::new(),
            running: true,
        });
        true
    }

    /// A step came in.
    pub fn found(slot: &mut Option<Self>, finding: Finding) {
        if let Some(c) = slot {
            c.findings.push(finding);
        }
    }

    /// The check finished.
    pub fn done(slot: &mut Option<Self>) {
        if let Some(c) = slot {
            c.running = false;
        }
    }

    /// Whether one runs in `slot`.
    pub fn running(slot: Option<&Self>) -> bool {
        slot.is_some_and(|c| c.running)
    }
}

/// The button (pressing it sends `start`; `None`: not now), then each step, then how
/// many problems; before any check, `intro` says what it is for.
pub fn view<'a, M: Clone + 'a>(
    slot: Option<&'a Check>,
    start: Option<M>,
    intro: Option<&'a str>,
) -> Element<'a, M> {
    let running = Check::running(slot);
    let label = if running {
        "Checking…"
    } else {
        "Check the connection"
    };
    let mut body = column![
        button(text(label).size(14))
            .style(button::secondary)
            .on_press_maybe(start.filter(|_| !running)),
    ]
    .spacing(6);
    let Some(check) = slot else {
        if let Some(intro) = intro {
            body = body.push(text(intro).size(12).style(style::dim));
        }
        return body.into();
    };
    for f in &check.findings {
        let (mark, look): (&str, fn(&iced::Theme) -> text::Style) = if f.ok {
            ("ok", style::dim)
        } else {
            ("problem", style::error)
        };
        body = body.push(
            column![
                text(format!("{mark} · {}", f.step)).size(12).style(look),
                text(f.text.as_str()).size(13),
            ]
            .spacing(2),
        );
    }
    if !check.running {
        let problems = check.findings.iter().filter(|f| !f.ok).count();
        let summary = match problems {
            0 => "Everything checked works.".to_owned(),
            1 => "1 problem found.".to_owned(),
            n => format!("{n} problems found."),
        };
        body = body.push(text(summary).size(13));
    }
    body.into()
}
