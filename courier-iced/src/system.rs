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

/// Shows a desktop notification: freedesktop `notify-send` on Linux and the BSDs, a
/// toast on Windows, `osascript` on macOS. Best effort: where the desktop has no
/// notification service nothing is shown. Title and body come from other people; each
/// platform gets them escaped for how it reads them.
pub fn notify(title: &str, body: &str) {
    let body: String = body.chars().take(200).collect();
    show_notification(title, &body);
}

#[cfg(windows)]
fn show_notification(title: &str, body: &str) {
    use tauri_winrt_notification::Toast;
    // A toast names the app that sent it by its AppUserModelID, which an installed app
    // gets from its Start-menu shortcut; `cargo install` makes none, so the toast borrows
    // PowerShell's (Windows then shows it as from PowerShell). The crate escapes the XML.
    // Showing it is a blocking COM call: off the UI thread.
    let (title, body) = (title.to_owned(), body.to_owned());
    let _ = std::thread::Builder::new()
        .name("courier-notify".into())
        .spawn(move || {
            let _ = Toast::new(Toast::POWERSHELL_APP_ID)
                .title(&title)
                .text1(&body)
                .show();
        });
}

#[cfg(target_os = "macos")]
fn show_notification(title: &str, body: &str) {
    // The texts go in as arguments, never into the script's source: nothing to escape.
    spawn_detached(
        Command::new("osascript")
            .args(["-e", "on run argv"])
            .args([
                "-e",
                "display notification (item 2 of argv) with title (item 1 of argv)",
            ])
            .args(["-e", "end run"])
            .arg(title)
            .arg(body),
    );
}

#[cfg(not(any(windows, target_os = "macos")))]
fn show_notification(title: &str, body: &str) {
    // Notification daemons read the body as markup: both are escaped.
    let title = courier_core::text::markup(title);
    let body = courier_core::text::markup(body);
    spawn_detached(
        Command::new("notify-send")
            .arg("--app-name=Courier")
            .arg(format!("--icon={}", crate::icon::APP_ID))
            .arg("--")
            .arg(title)
            .arg(body),
    );
}

/// How long an opener may take to say it failed (most hand the folder to the file
/// manager and exit at once).
const OPENER_VERDICT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens a folder in the file manager (blocks up to [`OPENER_VERDICT`]: run it off
/// the window's thread). The error says why not, and where the folder is.
pub fn open_folder(path: &Path) -> Result<(), String> {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    open_folder_with(program, path)
}

/// [`open_folder`] with this opener.
pub(crate) fn open_folder_with(program: &str, path: &Path) -> Result<(), String> {
    let cannot = |why: String| {
        format!(
            "Cannot open the folder ({why}). The files are in {}",
            path.display()
        )
    };
    let mut child = Command::new(program)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| cannot(format!("{program}: {e}")))?;
    let start = std::time::Instant::now();
    while start.elapsed() < OPENER_VERDICT {
        match child.try_wait() {
            // Windows' explorer exits with 1 even when it opened the folder.
            Ok(Some(status)) if status.success() || cfg!(windows) => return Ok(()),
            Ok(Some(_)) => return Err(cannot(format!("{program} found no file manager"))),
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(50)),
            Err(e) => return Err(cannot(e.to_string())),
        }
    }
    // Still running: it opened something; reap it in the background.
    let _ = std::thread::Builder::new()
        .name("courier-reap".into())
        .spawn(move || child.wait());
    Ok(())
}

/// Starts `cmd` and forgets it (notifications on Linux and macOS; Windows uses toasts).
#[cfg(not(windows))]
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
