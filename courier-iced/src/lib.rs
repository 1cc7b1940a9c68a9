//! Courier's desktop app: host or join a hub, chat, and move files, in one window.
//!
//! A thin front end over `courier_core` in iced's Elm architecture: [`app::Courier`]
//! holds the [`screen`]s and the session; each screen has its own `Message`, `update`
//! returning an `Action` for the parent, and `view`. No protocol logic lives here.

pub mod app;
pub mod avatar;
pub mod format;
pub mod history;
pub mod hosting;
pub mod icon;
pub mod screen;
pub mod session;
pub mod settings;
pub mod style;
pub mod system;

pub use app::Courier;

/// Opens the window and runs the app until it is closed.
pub fn run() -> iced::Result {
    app::run()
}
