//! Verified devices: the refusal to send by name to a device that took a name the user
//! verified for another one (a hub presenting an impostor), or to a group one of whose
//! members is such a device, and what `courier who` and `courier verify` say about a
//! contact.

use anyhow::{Context, Result, bail};
use courier_core::contacts::{Conflict, MIN_ID_PREFIX, name_key};
use courier_core::proto::{ClientId, GroupId, Target};

use super::Client;
use crate::output::safe;

impl Client {
    /// Refuses `target` when `who` reached it by a name that the user verified for another
    /// device: one line naming both short ids and the way out (compare, then `--mark`, or
    /// address the device by id). Addressing by id is never refused.
    ///
    /// A group is refused when any member other than us is such a device (a message to
    /// the group is sealed to every member): the line names each and how to mark it.
    pub(crate) fn check_trust(&self, who: &str, target: Target) -> Result<()> {
        let id = match target {
            Target::Client(id) => id,
            Target::Group(g) => return self.check_members(g),
            Target::Everyone => return Ok(()),
        };
        // An id wins, unless it is also the device's name: an impostor that names itself
        // "beef" and grinds an id starting with beef is still asked about.
        let name_is_who = self
            .contacts
            .get(&id)
            .is_some_and(|c| name_key(&c.profile.name) == name_key(who));
        if by_id(who, id) && !name_is_who {
            return Ok(());
        }
        if let Some(c) = self.conflict(id)? {
            let name = safe(&c.name);
            let arg = shell_word(who.trim());
            bail!(
                "{name:?} is now device {} but you verified {name:?} as device {}: compare \
                 safety numbers with `courier verify {arg}`, then `courier verify {} \
                 --mark` to trust the new device (or address a device by its id)",
                c.new.short(),
                c.verified.id.short(),
                c.new.to_hex(),
            );
        }
        Ok(())
    }

    /// Refuses the group `g` when a member other than us goes by a name the user verified
    /// for another device: one line naming each such member and the command that marks it
    /// (by its full id, so the mark lands on the device whose number was compared).
    fn check_members(&self, g: GroupId) -> Result<()> {
        let Some(group) = self.groups.get(&g) else {
            return Ok(());
        };
        let members = group
            .members
            .iter()
            .filter(|m| m.id != self.me)
            .filter_map(|m| Some((m.id, self.contacts.get(&m.id)?.profile.name.as_str())));
        let conflicts = self
            .verified
            .conflicts(members)
            .context("reading the verified devices")?;
        if conflicts.is_empty() {
            return Ok(());
        }
        let who: Vec<String> = conflicts
            .iter()
            .map(|c| {
                format!(
                    "{:?} is device {} but you verified {:?} as device {}: compare safety \
                     numbers, then `courier verify {} --mark` to trust it",
                    safe(&c.name),
                    c.new.short(),
                    safe(&c.verified.name),
                    c.verified.id.short(),
                    c.new.to_hex(),
                )
            })
            .collect();
        bail!(
            "not sent to {}: {} (or leave them out and address devices by id)",
            safe(&self.group_label(g)),
            who.join("; ")
        );
    }

    /// Lets verified marks follow their devices' renames (all contacts, or only `only`):
    /// a verified device seen under a new name has it recorded on its mark, so an
    /// impostor under the new name is refused too. A failure is said on stderr.
    pub(crate) fn follow_names(&self, only: Option<ClientId>) {
        let devices = self
            .contacts
            .iter()
            .filter(|c| only.is_none_or(|id| id == c.id))
            .map(|c| (c.id, c.profile.name.as_str()));
        if let Err(e) = self.verified.follow(devices) {
            eprintln!("courier: the verified devices' new names are not kept: {e}");
        }
    }

    /// The conflict of the contact `id`: it goes by a name the user verified for another
    /// device.
    pub(crate) fn conflict(&self, id: ClientId) -> Result<Option<Conflict>> {
        let Some(name) = self.contacts.get(&id).map(|c| c.profile.name.as_str()) else {
            return Ok(None);
        };
        self.verified
            .conflict(id, name)
            .context("reading the verified devices")
    }
}

/// `word` as one word for a shell: quoted when it holds anything but letters, digits and
/// `-_.`.
pub(crate) fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        safe(word)
    } else {
        format!("'{}'", safe(&word.replace('\'', r"'\''")))
    }
}

/// Whether `who` names `id` by its id (a prefix of it), not by a name.
fn by_id(who: &str, id: ClientId) -> bool {
    let who = who.trim();
    who.len() >= MIN_ID_PREFIX
        && who.bytes().all(|b| b.is_ascii_hexdigit())
        && id.matches_prefix(who)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the way out the refusal names can be pasted into a shell as it is: a name
    /// with a space or a quote comes quoted, a plain one bare.
    #[test]
    fn the_refusal_quotes_names_for_the_shell() {
        assert_eq!(shell_word("bob"), "bob");
        assert_eq!(shell_word("Bob Smith"), "'Bob Smith'");
        assert_eq!(shell_word("o'neil"), r"'o'\''neil'");
    }
}
