//! The app's icon, drawn for it (`assets/icons/courier.svg`: a chat bubble carrying a
//! file down to you). The window shows it; the Linux package installs the same drawing
//! for the desktop's menus and docks.

use iced::window;

/// The name the desktop knows the app by: the `.desktop` file's base name, the icon's
/// name in the icon theme, and the window's application id (`WM_CLASS` on X11, `app_id`
/// on Wayland), so docks match the window to its entry and icon.
pub const APP_ID: &str = "courier";

/// The icon as the window uses it (128 × 128, rendered from the SVG).
const PNG: &[u8] = include_bytes!("../assets/icons/courier-128.png");

/// The window icon. `None` only if the embedded picture were broken (a test proves it
/// is not); the window then shows the desktop's default icon.
pub fn window() -> Option<window::Icon> {
    let picture = image::load_from_memory_with_format(PNG, image::ImageFormat::Png).ok()?;
    let rgba = picture.into_rgba8();
    let (width, height) = rgba.dimensions();
    window::icon::from_rgba(rgba.into_raw(), width, height).ok()
}

/// The smallest window: the contact list beside a conversation wide enough for a few
/// words a line and the composer with its buttons (280 + 360 px), and height for the
/// header, a few bubbles and the composer; also the smallest common laptop screen's
/// usable area at 2× scaling. The side panel covers the conversation at this width.
pub const MIN_SIZE: iced::Size = iced::Size::new(640.0, 480.0);

/// The window settings every Courier window opens with: its size, icon and app id.
pub fn window_settings() -> window::Settings {
    window::Settings {
        size: iced::Size::new(1100.0, 720.0),
        min_size: Some(MIN_SIZE),
        icon: window(),
        #[cfg(target_os = "linux")]
        platform_specific: window::settings::PlatformSpecific {
            application_id: APP_ID.to_owned(),
            ..Default::default()
        },
        ..window::Settings::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_window_icon_is_the_drawn_icon_at_128_pixels() {
        let (rgba, size) = window().expect("the embedded icon decodes").into_raw();
        assert_eq!((size.width, size.height), (128, 128));
        // Opaque in the middle (the bubble), transparent in the corner (rounded tile).
        let alpha = |x: u32, y: u32| rgba[((y * 128 + x) * 4 + 3) as usize];
        assert_eq!(alpha(64, 64), 255);
        assert_eq!(alpha(0, 0), 0);
    }

    #[test]
    fn the_window_opens_with_icon_and_app_id() {
        let settings = window_settings();
        assert!(settings.icon.is_some());
        assert_eq!(settings.min_size, Some(MIN_SIZE));
        #[cfg(target_os = "linux")]
        assert_eq!(settings.platform_specific.application_id, "courier");
    }
}
