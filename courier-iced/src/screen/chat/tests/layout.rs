//! The main window at the smallest, the default and a large size, in both themes: the
//! composer, Send and the panel's buttons can be seen, and a long word stays in its
//! bubble.

use super::*;
use crate::screen::layout::{SIZES, seen, window};
use iced::widget::Id;

/// The composer is usable: a person types into at least this much width.
const COMPOSER_MIN: f32 = 200.0;

fn composer_and_send(chat: &Chat, settings: &Settings, size: iced::Size) -> Result<(), String> {
    let mut ui = window(size, chat.view(settings));
    let composer = seen(&mut ui, Id::new("composer"), size)?;
    assert!(
        composer.width >= COMPOSER_MIN,
        "the composer is {} px wide at {size:?}",
        composer.width
    );
    seen(&mut ui, "Send", size)?;
    Ok(())
}

#[test]
fn the_composer_and_send_are_in_the_window_at_every_size() -> Result<(), String> {
    let settings = Settings::default();
    let chat = chat_with(vec![contact(2, "Bob")]);
    for size in SIZES {
        composer_and_send(&chat, &settings, size)?;
    }
    Ok(())
}

/// Beside an open panel the conversation keeps its width: as a third pane where three
/// fit, under the panel (which covers it) where they do not.
#[test]
fn an_open_panel_never_crushes_the_conversation() -> Result<(), String> {
    let settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    chat.panel.tab = Some(Tab::Settings);
    for size in SIZES {
        let mut ui = window(size, chat.view(&settings));
        let composer = ui
            .find(Id::new("composer"))
            .map_err(|e| e.to_string())?
            .bounds();
        assert!(
            composer.width >= COMPOSER_MIN,
            "the composer is {} px wide at {size:?} with the panel open",
            composer.width
        );
        seen(&mut ui, "Close", size)?;
        if size.width >= view::THREE_PANES_WIDTH {
            composer_and_send(&chat, &settings, size)?;
        }
    }
    Ok(())
}

/// Every button of the panel's pages can be seen, none under the scrollbar.
#[test]
fn the_panels_buttons_are_in_the_window_and_clear_of_its_scrollbar() -> Result<(), String> {
    let settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    chat.hub.hosted = true;
    let pages: [(Tab, &[&str]); 3] = [
        (Tab::Settings, &["Choose…", "Clear all history"]),
        (Tab::Profile, &["Choose an image…", "Save profile"]),
        (
            Tab::Menu,
            &["Copy join address", "Generate", "Change the hub password"],
        ),
    ];
    for (tab, buttons) in pages {
        chat.panel.tab = Some(tab);
        for size in SIZES {
            let mut ui = window(size, chat.view(&settings));
            for label in ["Close", "Settings", "Profile", "Menu"]
                .iter()
                .chain(buttons)
            {
                seen(&mut ui, *label, size).map_err(|e| format!("{tab:?}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// A URL or a hash (no place to break a word) wraps inside its bubble.
#[test]
fn a_long_unbroken_string_wraps_inside_its_bubble() -> Result<(), String> {
    let mut settings = Settings::default();
    let mut chat = chat_with(vec![contact(2, "Bob")]);
    let hash = "0123456789abcdef".repeat(12);
    let _ = event(
        &mut chat,
        &mut settings,
        message(2, Target::Everyone, &hash),
    );
    for size in SIZES {
        let mut ui = window(size, chat.view(&settings));
        let bounds = seen(&mut ui, hash.as_str(), size)?;
        // At most the bubble's width (520) less its padding, and more than one line.
        assert!(bounds.width <= 500.0, "{bounds:?} at {size:?}");
        assert!(
            bounds.height > 40.0,
            "the string takes one line of {bounds:?} at {size:?}: it runs past the bubble"
        );
    }
    Ok(())
}
