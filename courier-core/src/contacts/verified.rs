//! Verified marks: the devices whose safety number ([`crate::safety`]) this client's user
//! compared with the other person and marked as checked, each with the name it had then.
//! A name once verified that now belongs to another device is a [`Conflict`]: front ends
//! refuse to send to it by name (the CLI) or block with a warning (the app) until the
//! user compares the new device's number and marks it, or addresses it by id.
//!
//! A mark follows its device when it renames ([`Verified::follow`]): the names it has had
//! (the last [`KEPT_NAMES`]) all stay verified for it, so a hub that hides the device and
//! shows an impostor under its new name is caught as well.

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

/// How many names a mark keeps (the current one and those before it, newest first).
pub const KEPT_NAMES: usize = 8;

/// One verified device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The device (its certificate fingerprint).
    pub id: ClientId,
    /// The name it went by when it was marked, or the newest it was seen under since.
    pub name: String,
    /// Names it went by before `name`, newest first (at most [`KEPT_NAMES`] − 1): each
    /// one is still verified for this device.
    pub former: Vec<String>,
    /// When it was marked.
    pub when: Timestamp,
}

impl Mark {
    /// `name` and the former names, newest first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.former.iter().map(String::as_str))
    }

    /// Records that the device now goes by `name` (kept first; the oldest name beyond
    /// [`KEPT_NAMES`] is dropped). Returns whether anything changed.
    pub fn renamed(&mut self, name: &str) -> bool {
        let name = cut(name.trim());
        if name.is_empty() || name == self.name {
            return false;
        }
        let old = std::mem::replace(&mut self.name, name);
        self.former.retain(|n| *n != self.name && *n != old);
        self.former.insert(0, old);
        self.former.truncate(KEPT_NAMES - 1);
        true
    }
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
/// mark: id, milliseconds, then its names in hex, newest first; mode 0600, written
/// atomically). Read on
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
        let mark = match marks.remove(&id) {
            Some(mut mark) => {
                mark.renamed(name);
                mark.when = now;
                mark
            }
            None => Mark {
                id,
                name: cut(name.trim()),
                former: Vec::new(),
                when: now,
            },
        };
        marks.insert(id, mark.clone());
        self.save(&marks)?;
        Ok(mark)
    }

    /// Lets marks follow their devices: each verified device among `devices` that goes
    /// by a new name has it recorded ([`Mark::renamed`]); the file is written only when
    /// something changed. Returns the marks as they are now.
    ///
    /// # Errors
    /// If the file cannot be read or written.
    pub fn follow<'a>(
        &self,
        devices: impl IntoIterator<Item = (ClientId, &'a str)>,
    ) -> Result<Vec<Mark>, Error> {
        let mut marks = self.load()?;
        let mut changed = false;
        for (id, name) in devices {
            if let Some(mark) = marks.get_mut(&id) {
                changed |= mark.renamed(name);
            }
        }
        if changed {
            self.save(&marks)?;
        }
        Ok(marks.into_values().collect())
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
            let former = words
                .take(KEPT_NAMES - 1)
                .map(|w| unhex(w).ok_or_else(damaged))
                .collect::<Result<_, _>>()?;
            marks.insert(
                id,
                Mark {
                    id,
                    name,
                    former,
                    when,
                },
            );
        }
        Ok(marks)
    }

    fn save(&self, marks: &BTreeMap<ClientId, Mark>) -> Result<(), Error> {
        if let Some(dir) = self.path.parent() {
            create_private_dir(dir)?;
        }
        let text: String = marks
            .values()
            .map(|m| {
                let names: Vec<String> = m.names().map(hex).collect();
                format!("{} {} {}\n", m.id.to_hex(), m.when.0, names.join(" "))
            })
            .collect();
        write_private(&self.path, text.as_bytes())
    }
}

/// [`Verified::conflict`] over marks already read (a front end keeps them in memory): a
/// mark's former names count as much as its current one.
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
        .find(|m| m.id != id && m.names().any(|n| name_key(n) == key))
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

    /// Proves a mark follows its device's renames: once `follow` saw bob's device as
    /// "Robert", an impostor named "Robert" (or still "bob") is a conflict, the names
    /// survive a new store on the folder, and only the last [`KEPT_NAMES`] are kept.
    #[test]
    fn verified_mark_follows_a_renamed_device() {
        let (v, dir) = store();
        let (bob, mallory) = (ClientId([2; 32]), ClientId([9; 32]));
        v.mark(bob, "bob", Timestamp(1)).unwrap();
        assert_eq!(v.conflict(mallory, "Robert").unwrap(), None);
        v.follow([(bob, "Robert"), (mallory, "bob")]).unwrap();
        let again = Verified::new(&dir);
        let c = again.conflict(mallory, "robert").unwrap().unwrap();
        assert_eq!(c.verified.id, bob);
        assert!(again.conflict(mallory, "bob").unwrap().is_some());
        assert_eq!(again.conflict(bob, "Robert").unwrap(), None);
        let mark = again.get(&bob).unwrap().unwrap();
        assert_eq!(mark.names().collect::<Vec<_>>(), ["Robert", "bob"]);
        assert!(!again.is_verified(&mallory).unwrap());
        for n in 0..20 {
            again.follow([(bob, format!("name {n}").as_str())]).unwrap();
        }
        let mark = again.get(&bob).unwrap().unwrap();
        assert_eq!(mark.names().count(), KEPT_NAMES);
        assert_eq!(mark.name, "name 19");
        assert!(again.conflict(mallory, "name 12").unwrap().is_some());
        assert_eq!(again.conflict(mallory, "bob").unwrap(), None);
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
