//! What the app remembers between runs: the last hub, the profile, preferences.
//!
//! One small JSON file, `app.json`, in the same folder as the identity and the hub pins
//! the CLI uses (so the app and `courier` are the same person). It is replaced
//! atomically (write a temporary file, then rename), so a crash never leaves half a file.
//! The app saves through one [`Saver`], one save at a time, the state asked for last
//! winning.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use courier_core::proto::{ClientId, Presence};
use serde::{Deserialize, Serialize};

/// The file name inside the profile folder.
pub const FILE: &str = "app.json";
/// The avatar image, beside it.
pub const AVATAR_FILE: &str = "avatar.png";
/// The port a hosted hub listens on by default (the CLI's default too).
pub const DEFAULT_PORT: u16 = 8977;

/// The app's remembered state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The last hub joined (`host:port`).
    pub hub: String,
    /// Display name.
    pub name: String,
    /// Status text.
    pub status: String,
    /// Availability.
    pub presence: Presence,
    /// Where received files go; `None` means the system's download folder.
    pub download_dir: Option<PathBuf>,
    /// Dark theme.
    pub dark: bool,
    /// Accept files from trusted contacts without asking.
    pub auto_accept_trusted: bool,
    /// Contacts marked trusted (hex ids).
    pub trusted: Vec<String>,
    /// Desktop notifications for messages that arrive while the window is unfocused.
    pub notifications: bool,
    /// The port for "Host a hub".
    pub host_port: u16,
    /// Ask hubs to remember this computer, so that joining again needs no password.
    pub remember: bool,
    /// What the app was doing when it last closed, to pick up at launch.
    pub resume: Resume,
    /// A hub hosted here is shown on the network (mDNS), so others find it without
    /// its address.
    pub advertise: bool,
    /// Files offered to someone offline that the hub stores for them: offered again at
    /// the next login, so they go once that person accepts. Written as `kept_offers`,
    /// the name older versions gave it, so their `app.json` still reads.
    #[serde(rename = "kept_offers")]
    pub offers_to_resume: Vec<OfferToResume>,
    /// Answer contacts' link tests (of the link to this computer) by ourselves; off,
    /// they are told this computer does not answer them.
    pub answer_link_tests: bool,
}

/// A file offer stored at a hub for someone offline, as the app remembers it to offer
/// it again after a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferToResume {
    /// The hub (`host:port`).
    pub hub: String,
    /// To whom (hex id).
    pub to: String,
    /// The hub's id of the offer.
    pub id: u64,
    /// The files and folders offered, as chosen.
    pub paths: Vec<PathBuf>,
}

/// What to pick up at launch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resume {
    /// Nothing: show the login screen (first run, or after Log out).
    #[default]
    Nothing,
    /// Join [`Settings::hub`] again.
    Join,
    /// Start this computer's hub again (same identity, password and port) and join it.
    Host,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            hub: String::new(),
            name: default_name(),
            status: String::new(),
            presence: Presence::Available,
            download_dir: None,
            dark: false,
            auto_accept_trusted: false,
            trusted: Vec::new(),
            notifications: true,
            host_port: DEFAULT_PORT,
            remember: true,
            resume: Resume::Nothing,
            advertise: true,
            offers_to_resume: Vec::new(),
            answer_link_tests: true,
        }
    }
}

fn default_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_default()
}

impl Settings {
    /// Reads `app.json` from `dir`; a missing or unreadable file gives the defaults (an
    /// unreadable one is set aside as `app.json.bad` so nothing is silently lost).
    pub fn load(dir: &Path) -> Self {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(settings) => settings,
                Err(_) => {
                    let _ = std::fs::rename(&path, dir.join(format!("{FILE}.bad")));
                    Self::default()
                }
            },
            Err(_) => Self::default(),
        }
    }

    /// Writes `app.json` into `dir` atomically.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!("{FILE}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, dir.join(FILE))
    }

    /// [`Settings::save`], and our picture beside it: written (private to us), or
    /// removed when there is none.
    pub fn save_with_avatar(&self, dir: &Path, avatar: &[u8]) -> std::io::Result<()> {
        self.save(dir)?;
        let path = dir.join(AVATAR_FILE);
        if avatar.is_empty() {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        courier_core::identity::write_private(&path, avatar).map_err(std::io::Error::other)
    }

    /// Whether files from `id` are accepted without asking.
    pub fn auto_accepts(&self, id: &ClientId) -> bool {
        self.auto_accept_trusted && self.is_trusted(id)
    }

    /// Whether `id` is marked trusted.
    pub fn is_trusted(&self, id: &ClientId) -> bool {
        let hex = id.to_hex();
        self.trusted.contains(&hex)
    }

    /// Marks or unmarks `id` as trusted.
    pub fn set_trusted(&mut self, id: &ClientId, trusted: bool) {
        let hex = id.to_hex();
        self.trusted.retain(|t| *t != hex);
        if trusted {
            self.trusted.push(hex);
        }
    }

    /// The folder received files go to.
    pub fn downloads(&self) -> PathBuf {
        self.download_dir.clone().unwrap_or_else(default_downloads)
    }
}

/// Saves the settings one at a time. Each save runs as a task on the blocking pool and
/// several may be under way at once (a trust, a setting, an offer to resume): written
/// together they would share the temporary file, one renaming it while another still
/// writes it (a torn `app.json`, a failed rename), and an older state could land last.
/// Through a saver they take turns, and a save older than the state on disk is skipped,
/// so the state asked for last is the one kept.
#[derive(Debug, Clone, Default)]
pub struct Saver {
    /// Saves asked for so far: each is numbered in the order asked.
    asked: Arc<AtomicU64>,
    /// The number of the save whose state is on disk; held while one writes.
    written: Arc<Mutex<u64>>,
}

impl Saver {
    /// A save of `settings` with our picture `avatar` ([`Settings::save_with_avatar`])
    /// into `dir`, numbered now; the returned job blocks (run it off the window's
    /// thread). A job that finds a newer state on disk writes nothing.
    pub fn save(
        &self,
        settings: Settings,
        avatar: Vec<u8>,
        dir: PathBuf,
    ) -> impl FnOnce() -> std::io::Result<()> + Send + 'static {
        let turn = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let written = Arc::clone(&self.written);
        move || {
            // A save that panicked left nothing half done that the next one minds.
            let mut on_disk = written.lock().unwrap_or_else(PoisonError::into_inner);
            if *on_disk > turn {
                return Ok(());
            }
            settings.save_with_avatar(&dir, &avatar)?;
            *on_disk = turn;
            Ok(())
        }
    }
}

/// Our picture as saved in `dir`; none when missing or too large.
pub fn load_avatar(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(AVATAR_FILE))
        .ok()
        .filter(|b| b.len() <= courier_core::limits::MAX_AVATAR)
        .unwrap_or_default()
}

/// The system's download folder, or `~/Downloads`, or the current folder.
pub fn default_downloads() -> PathBuf {
    directories::UserDirs::new()
        .and_then(|u| {
            u.download_dir()
                .map(Path::to_owned)
                .or_else(|| Some(u.home_dir().join("Downloads")))
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where the app keeps its files: `$COURIER_APP_DIR`, else the CLI's profile folder.
pub fn profile_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("COURIER_APP_DIR") {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("", "", "courier")
        .map(|d| d.config_dir().to_owned())
        .unwrap_or_else(|| PathBuf::from(".courier"))
}

/// Where a hub hosted by the app keeps its identity and password record.
pub fn hub_dir(profile: &Path) -> PathBuf {
    profile.join("hosted-hub")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_file_set_aside() -> std::io::Result<()> {
        let dir =
            std::env::temp_dir().join(format!("courier-iced-settings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut s = Settings {
            hub: "10.0.0.2:8977".into(),
            dark: true,
            ..Settings::default()
        };
        let id = ClientId([7; 32]);
        s.set_trusted(&id, true);
        s.save(&dir)?;
        let back = Settings::load(&dir);
        assert_eq!(back, s);
        assert!(back.is_trusted(&id));
        assert!(!back.auto_accepts(&id), "auto-accept is off by default");

        // A file from before a setting existed gets its default: link tests are
        // answered.
        std::fs::write(dir.join(FILE), br#"{"hub": "10.0.0.2:8977"}"#)?;
        assert!(Settings::load(&dir).answer_link_tests);

        std::fs::write(dir.join(FILE), b"{ not json")?;
        assert_eq!(Settings::load(&dir), Settings::default());
        assert!(
            dir.join("app.json.bad").exists(),
            "the bad file is set aside"
        );
        std::fs::remove_dir_all(&dir)
    }

    /// Saves run in any order keep the state asked for last.
    #[test]
    fn the_save_asked_for_last_wins() -> std::io::Result<()> {
        let dir = std::env::temp_dir().join(format!(
            "courier-iced-settings-saver-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let saver = Saver::default();
        let first = Settings {
            host_port: 1,
            ..Settings::default()
        };
        let second = Settings {
            host_port: 2,
            ..Settings::default()
        };
        let older = saver.save(first, Vec::new(), dir.clone());
        let newer = saver.save(second.clone(), Vec::new(), dir.clone());
        newer()?;
        older()?;
        assert_eq!(Settings::load(&dir), second);
        std::fs::remove_dir_all(&dir)
    }

    /// The offers to resume are written under the name older versions used,
    /// `kept_offers`, so an `app.json` they wrote still reads, and one written now reads
    /// in them.
    #[test]
    fn offers_to_resume_keep_their_old_name_in_the_file() -> std::io::Result<()> {
        let dir = std::env::temp_dir().join(format!(
            "courier-iced-settings-offers-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let old = br#"{"hub": "10.0.0.2:8977", "kept_offers": [
            {"hub": "10.0.0.2:8977", "to": "ab", "id": 7, "paths": ["/tmp/a.txt"]}
        ]}"#;
        std::fs::write(dir.join(FILE), old)?;
        let loaded = Settings::load(&dir);
        let offer = OfferToResume {
            hub: "10.0.0.2:8977".into(),
            to: "ab".into(),
            id: 7,
            paths: vec![PathBuf::from("/tmp/a.txt")],
        };
        assert_eq!(loaded.offers_to_resume, [offer]);
        assert!(
            !dir.join("app.json.bad").exists(),
            "an old file is not set aside"
        );

        loaded.save(&dir)?;
        let written = std::fs::read_to_string(dir.join(FILE))?;
        assert!(written.contains("\"kept_offers\""), "{written}");
        assert_eq!(Settings::load(&dir), loaded);
        std::fs::remove_dir_all(&dir)
    }
}
