//! The desktop around the app: file dialogs, desktop notifications, opening folders.
//! Each is best effort: where the platform has no such service the app says so or
//! carries on without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether a native file dialog can be shown here. On Linux and the BSDs the dialogs
/// come from the desktop portal (over the session bus) or zenity; without either the
/// picker would silently return nothing.
pub fn dialogs_available() -> bool {
    if cfg!(any(target_os = "macos", windows)) {
        return true;
    }
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() || in_path("zenity")
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// What to tell the user when [`dialogs_available`] is false.
pub const NO_DIALOGS: &str =
    "This desktop has no file dialog (it needs xdg-desktop-portal or zenity).";

/// Asks the user for files to send (native dialog). `None`: cancelled or no dialog.
pub async fn pick_files() -> Option<Vec<PathBuf>> {
    let picked = rfd::AsyncFileDialog::new()
        .set_title("Send files")
        .pick_files()
        .await?;
    Some(picked.iter().map(|f| f.path().to_owned()).collect())
}

/// Asks the user for a folder.
pub async fn pick_folder(title: &'static str) -> Option<PathBuf> {
    rfd::AsyncFileDialog::new()
        .set_title(title)
        .pick_folder()
        .await
        .map(|f| f.path().to_owned())
}

/// Asks the user for an image file and reads it.
pub async fn pick_image() -> Option<Vec<u8>> {
    let file = rfd::AsyncFileDialog::new()
        .set_title("Choose an avatar")
        .add_filter("Images", &["png", "jpg", "jpeg"])
        .pick_file()
        .await?;
    Some(file.read().await)
}

/// Shows a desktop notification (freedesktop `notify-send`, macOS `osascript`). Title
/// and body come from other people: the body is markup for notification daemons, so
/// both are escaped ([`courier_core::text::markup`]).
pub fn notify(title: &str, body: &str) {
    let body = courier_core::text::markup(&body.chars().take(200).collect::<String>());
    let title = courier_core::text::markup(title);
    let title = title.as_str();
    let mut cmd = if cfg!(target_os = "macos") {
        let script = format!(
            "display notification {:?} with title {:?}",
            body.replace('"', "'"),
            title.replace('"', "'")
        );
        let mut c = Command::new("osascript");
        c.arg("-e").arg(script);
        c
    } else {
        let mut c = Command::new("notify-send");
        c.arg("--app-name=Courier").arg("--").arg(title).arg(body);
        c
    };
    spawn_detached(&mut cmd);
}

/// Opens a folder in the file manager.
pub fn open_folder(path: &Path) {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    spawn_detached(Command::new(program).arg(path));
}

fn spawn_detached(cmd: &mut Command) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    // Reap it in the background so no zombie is left.
    if let Ok(mut child) = child {
        let _ = std::thread::Builder::new()
            .name("courier-reap".into())
            .spawn(move || child.wait());
    }
}
