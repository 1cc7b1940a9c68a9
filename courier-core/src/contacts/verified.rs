//! Verified marks: the devices whose safety number ([`crate::safety`]) this client's user
//! compared with the other person and marked as checked, each with the name it had then.
//! A name once verified that now belongs to another device is a [`Conflict`]: front ends
//! refuse to send to it by name (the CLI) or block with a warning (the app) until the
//! user compares the new device's number and marks it, or addresses it by id.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::name_key;
use crate::identity::{Error, create_private_dir, write_private};
use crate::proto::{ClientId, Timestamp};

/// The file in the profile folder that holds the marks.
pub const VERIFIED_FILE: &str = "verified";

/// Longest name kept with a mark, in bytes (longer ones are cut at a character).
const MAX_NAME: usize = 256;

/// One verified device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The device (its certificate fingerprint).
    pub id: ClientId,
    /// The name it went by when it was marked.
    pub name: String,
    /// When it was marked.
    pub when: Timestamp,
}

/// A name the user verified now belongs to a device they did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The device verified under that name.
    pub verified: Mark,
    /// The device that now goes by it.
    pub new: ClientId,
    /// The name it goes by now.
    pub name: String,
}

/// The verified marks of one profile folder, kept in its [`VERIFIED_FILE`] (one line per
/// mark: id, milliseconds, the name in hex; mode 0600, written atomically). Read on
/// every call, so two processes of one profile (a `listen` and a `verify --mark`) see
/// each other's marks.
#[derive(Debug, Clone)]
pub struct Verified {
    path: PathBuf,
}

impl Verified {
    /// The marks kept in `profile_dir`.
    pub fn new(profile_dir: &Path) -> Self {
        Self {
            path: profile_dir.join(VERIFIED_FILE),
        }
    }

    /// Every mark, by id.
    ///
    /// # Errors
    /// If the file cannot be read, or is damaged.
    pub fn all(&self) -> Result<Vec<Mark>, Error> {
        Ok(self.load()?.into_values().collect())
    }

    /// The mark of `id`, if it is verified.
    ///
    /// # Errors
    /// If the file cannot be read, or is damaged.
    pub fn get(&self, id: &ClientId) -> Result<Option<Mark>, Error> {
        Ok(self.load()?.remove(id))
    }

    /// Whether `id` is verified.
    ///
    /// # Errors
    /// If the file cannot be read, or is damaged.
    pub fn is_verified(&self, id: &ClientId) -> Result<bool, Error> {
        Ok(self.load()?.contains_key(id))
    }

    /// Marks `id`, known as `name`, as verified now (again, if it was: the name and the
    /// time are updated). Other devices verified under the same name keep their marks.
    ///
    /// # Errors
    /// If the file cannot be read or written.
    pub fn mark(&self, id: ClientId, name: &str, now: Timestamp) -> Result<Mark, Error> {
        let mut marks = self.load()?;
        let mark = Mark {
            id,
            name: cut(name.trim()),
            when: now,
        };
        marks.insert(id, mark.clone());
        self.save(&marks)?;
        Ok(mark)
    }

    /// Removes the mark of `id`; returns whether it had one.
    ///
    /// # Errors
    /// If the file cannot be read or written.
    pub fn unmark(&self, id: &ClientId) -> Result<bool, Error> {
        let mut marks = self.load()?;
        let had = marks.remove(id).is_some();
        if had {
            self.save(&marks)?;
        }
        Ok(had)
    }

    /// Whether the device `id`, now going by `name`, takes a name the user verified for
    /// another device: `id` is not verified, and a verified device's name looks the same
    /// ([`name_key`]). `None` when `id` is verified itself, or no verified name matches.
    ///
    /// # Errors
    /// If the file cannot be read, or is damaged.
    pub fn conflict(&self, id: ClientId, name: &str) -> Result<Option<Conflict>, Error> {
        let marks: Vec<Mark> = self.load()?.into_values().collect();
        Ok(conflict_among(&marks, id, name))
    }

    /// [`Verified::conflict`] for every `(id, name)` at once (one read of the file).
    ///
    /// # Errors
    /// If the file cannot be read, or is damaged.
    pub fn conflicts<'a>(
        &self,
        devices: impl IntoIterator<Item = (ClientId, &'a str)>,
    ) -> Result<Vec<Conflict>, Error> {
        let marks: Vec<Mark> = self.load()?.into_values().collect();
        Ok(devices
            .into_iter()
            .filter_map(|(id, name)| conflict_among(&marks, id, name))
            .collect())
    }

    fn load(&self) -> Result<BTreeMap<ClientId, Mark>, Error> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => {
                return Err(Error::Io {
                    action: "reading",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let damaged = || Error::Damaged(self.path.clone());
        let mut marks = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut words = line.split_whitespace();
            let (Some(id), Some(when), name) = (words.next(), words.next(), words.next()) else {
                return Err(damaged());
            };
            let id = ClientId::from_hex(id).ok_or_else(damaged)?;
            let when = Timestamp(when.parse().map_err(|_| damaged())?);
            let name = unhex(name.unwrap_or("")).ok_or_else(damaged)?;
            marks.insert(id, Mark { id, name, when });
        }
        Ok(marks)
    }

    fn save(&self, marks: &BTreeMap<ClientId, Mark>) -> Result<(), Error> {
        if let Some(dir) = self.path.parent() {
            create_private_dir(dir)?;
        }
        let text: String = marks
            .values()
            .map(|m| format!("{} {} {}\n", m.id.to_hex(), m.when.0, hex(&m.name)))
            .collect();
        write_private(&self.path, text.as_bytes())
    }
}

/// [`Verified::conflict`] over marks already read (a front end keeps them in memory).
pub fn conflict_among(marks: &[Mark], id: ClientId, name: &str) -> Option<Conflict> {
    if marks.is_empty() || marks.iter().any(|m| m.id == id) {
        return None;
    }
    let key = name_key(name);
    if key.is_empty() {
        return None;
    }
    marks
        .iter()
        .find(|m| m.id != id && name_key(&m.name) == key)
        .map(|m| Conflict {
            verified: m.clone(),
            new: id,
            name: name.to_owned(),
        })
}

/// `name` cut to at most [`MAX_NAME`] bytes, at a character boundary.
fn cut(name: &str) -> String {
    let mut end = name.len().min(MAX_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.get(..end).unwrap_or_default().to_owned()
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (Verified, PathBuf) {
        let dir = std::env::temp_dir().join(format!("courier-verified-{}", rand::random::<u64>()));
        (Verified::new(&dir), dir)
    }

    /// Proves a mark survives a new store on the same folder (it is on disk) and that
    /// unmark removes it.
    #[test]
    fn verified_mark_unmark_round_trip() {
        let (v, dir) = store();
        let bob = ClientId([2; 32]);
        assert!(!v.is_verified(&bob).unwrap());
        v.mark(bob, "Bob the builder", Timestamp(5)).unwrap();
        let again = Verified::new(&dir);
        let mark = again.get(&bob).unwrap().unwrap();
        assert_eq!(mark.name, "Bob the builder");
        assert_eq!(mark.when, Timestamp(5));
        assert!(again.unmark(&bob).unwrap());
        assert!(!again.unmark(&bob).unwrap());
        assert!(!v.is_verified(&bob).unwrap());
        fs::remove_dir_all(dir).unwrap();
    }

    /// Proves the key-change rule: a verified name on another (unverified) device is a
    /// conflict naming both devices; the verified device itself, another name, or the
    /// new device once marked too are not.
    #[test]
    fn verified_name_on_another_device_is_a_conflict() {
        let (v, dir) = store();
        let (bob, mallory) = (ClientId([2; 32]), ClientId([9; 32]));
        v.mark(bob, "bob", Timestamp(1)).unwrap();
        assert_eq!(v.conflict(bob, "bob").unwrap(), None);
        assert_eq!(v.conflict(mallory, "carol").unwrap(), None);
        let c = v.conflict(mallory, "bob").unwrap().unwrap();
        assert!(v.conflict(mallory, "BOB").unwrap().is_some());
        assert_eq!((c.verified.id, c.new), (bob, mallory));
        assert_eq!(
            v.conflicts([(mallory, "bob"), (bob, "bob")]).unwrap(),
            vec![c]
        );
        v.mark(mallory, "bob", Timestamp(2)).unwrap();
        assert_eq!(v.conflict(mallory, "bob").unwrap(), None);
        fs::remove_dir_all(dir).unwrap();
    }

    /// Proves a damaged file is an error, never silently no marks (which would lift every
    /// refusal).
    #[test]
    fn verified_damaged_file_is_an_error() {
        let (v, dir) = store();
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(VERIFIED_FILE), "nothex 1 626f62\n").unwrap();
        assert!(matches!(v.all(), Err(Error::Damaged(_))));
        fs::write(
            dir.join(VERIFIED_FILE),
            format!("{} x 626f62\n", "ab".repeat(32)),
        )
        .unwrap();
        assert!(v.conflict(ClientId([1; 32]), "bob").is_err());
        fs::remove_dir_all(dir).unwrap();
    }
}
