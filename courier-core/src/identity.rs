//! Long-term identities (key pair + self-signed certificate) and hub pins.
//!
//! A client's [`ClientId`] is the SHA-256 fingerprint of its certificate, so the same
//! identity directory is the same contact tomorrow. The hub has an identity too; its
//! fingerprint gives the safety code people compare at first contact.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use crate::proto::ClientId;

pub(crate) const KEY_FILE: &str = "identity.key";
pub(crate) const CERT_FILE: &str = "identity.crt";
const PIN_FILE: &str = "hub-pins";

/// Errors loading or creating identities and pins.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{action} {path}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Generating the key pair or certificate failed.
    #[error("generating a certificate")]
    Generate(#[from] rcgen::Error),
    /// The stored key or certificate is damaged.
    #[error("the identity in {0} is damaged; move it away to create a new one")]
    Damaged(PathBuf),
}

/// A key pair and its self-signed certificate.
#[derive(Clone)]
pub struct Identity {
    cert: CertificateDer<'static>,
    key: Arc<PrivatePkcs8KeyDer<'static>>,
    id: ClientId,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a certificate's DER bytes.
pub fn fingerprint(cert: &[u8]) -> ClientId {
    ClientId(Sha256::digest(cert).into())
}

impl Identity {
    /// A fresh identity that lives only in memory.
    ///
    /// # Errors
    /// If key generation fails.
    pub fn generate() -> Result<Self, Error> {
        let certified = rcgen::generate_simple_self_signed(vec!["courier".to_owned()])?;
        let cert = certified.cert.der().clone();
        let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        Ok(Self {
            id: fingerprint(&cert),
            cert,
            key: Arc::new(key),
        })
    }

    /// Loads the identity stored in `dir`, creating it (and `dir`) on first use.
    /// The key file is written with mode 0600.
    ///
    /// # Errors
    /// If the directory cannot be created or read, or the stored identity is damaged.
    pub fn load_or_create(dir: &Path) -> Result<Self, Error> {
        let key_path = dir.join(KEY_FILE);
        let cert_path = dir.join(CERT_FILE);
        if key_path.exists() {
            create_private_dir(dir)?;
            keep_private(&key_path)?;
            let key = read(&key_path)?;
            let cert = read(&cert_path)?;
            if key.is_empty() || cert.is_empty() {
                return Err(Error::Damaged(dir.to_owned()));
            }
            let id = fingerprint(&cert);
            return Ok(Self {
                cert: CertificateDer::from(cert),
                key: Arc::new(PrivatePkcs8KeyDer::from(key)),
                id,
            });
        }
        create_private_dir(dir)?;
        let identity = Self::generate()?;
        write_private(&key_path, identity.key.secret_pkcs8_der())?;
        write_private(&cert_path, &identity.cert)?;
        Ok(identity)
    }

    /// The fingerprint of the identity stored in `dir`, without creating one: `None`
    /// when there is none (no key file). For commands that only read (`courier
    /// history`).
    ///
    /// # Errors
    /// If the files cannot be read, or the stored identity is damaged.
    pub fn stored_id(dir: &Path) -> Result<Option<ClientId>, Error> {
        if !dir.join(KEY_FILE).exists() {
            return Ok(None);
        }
        let cert = read(&dir.join(CERT_FILE))?;
        if cert.is_empty() {
            return Err(Error::Damaged(dir.to_owned()));
        }
        Ok(Some(fingerprint(&cert)))
    }

    /// This identity's fingerprint.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// A secret key for `context`, derived from the private key: stable for this
    /// identity, unknown to anyone without its key file.
    pub(crate) fn derive_key(&self, context: &'static str) -> [u8; 32] {
        blake3::derive_key(context, self.key.secret_pkcs8_der())
    }

    /// The certificate, DER-encoded.
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|source| Error::Io {
        action: "reading",
        path: path.to_owned(),
        source,
    })
}

/// Creates `dir` (and parents), readable by the owner only where the platform allows.
///
/// # Errors
/// If the directory cannot be created.
pub fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let io_err = |source| Error::Io {
        action: "creating",
        path: dir.to_owned(),
        source,
    };
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_err)?;
    // A folder that existed already (made by hand, or with another umask) is closed to
    // others too: it holds the key.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::symlink_metadata(dir).map_err(io_err)?;
        if meta.is_dir() && meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err)?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically with mode 0600: into a new temp file with a random
/// name beside it (created exclusively, so nothing planted there, not even a symlink, is
/// written through), synced, then renamed over `path`.
///
/// # Errors
/// If the file cannot be written.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io_err = |source| Error::Io {
        action: "writing",
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    // The rename itself is durable once the folder is synced (not possible on Windows).
    #[cfg(unix)]
    if let Some(dir) = path.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Closes `path` to everyone but its owner if it is open to others (unix).
fn keep_private(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let io_err = |source| Error::Io {
            action: "securing",
            path: path.to_owned(),
            source,
        };
        let meta = fs::symlink_metadata(path).map_err(io_err)?;
        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err)?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Hub fingerprints this client has pinned, by hub address (like SSH's `known_hosts`),
/// each with the name the hub goes by on the network once a hub showing that
/// certificate was seen advertising it ([`PinStore::learn_name`]).
#[derive(Debug, Clone)]
pub struct PinStore {
    path: PathBuf,
}

/// One pinned hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The address it was pinned under (`host:port`, as given).
    pub hub: String,
    /// Its certificate fingerprint.
    pub fingerprint: ClientId,
    /// The name it advertised on the network when its certificate was checked, if that
    /// was ever seen: a hub advertising the same name with another certificate is an
    /// impostor ([`crate::discovery::classify`]).
    pub name: Option<String>,
}

/// A pinned name's longest form in bytes (as long as an advertised name may be).
const MAX_PIN_NAME: usize = 63;

/// A name as one word of the pin file: `%XX` for `%`, spaces and control characters.
fn escape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c == '%' || c.is_whitespace() || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The name [`escape_name`] wrote; `None` if it is not one (the pin stays, nameless).
fn unescape_name(word: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(word.len());
    let mut rest = word.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail.get(..2)?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = tail.get(2..)?;
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes)
        .ok()
        .filter(|n| !n.is_empty() && n.len() <= MAX_PIN_NAME)
}

impl PinStore {
    /// The pin store inside a profile directory.
    pub fn new(profile_dir: &Path) -> Self {
        Self {
            path: profile_dir.join(PIN_FILE),
        }
    }

    /// One line per pin: `address fingerprint [name]` (older versions read the first
    /// two words and ignore the rest).
    fn load(&self) -> Result<BTreeMap<String, (ClientId, Option<String>)>, Error> {
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
        let mut pins = BTreeMap::new();
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            if let (Some(hub), Some(fp)) = (parts.next(), parts.next()) {
                let id = ClientId::from_hex(fp).ok_or_else(|| Error::Damaged(self.path.clone()))?;
                let name = parts.next().and_then(unescape_name);
                pins.insert(hub.to_owned(), (id, name));
            }
        }
        Ok(pins)
    }

    /// The fingerprint pinned for `hub`, if any.
    ///
    /// # Errors
    /// If the pin file cannot be read or is damaged.
    pub fn get(&self, hub: &str) -> Result<Option<ClientId>, Error> {
        Ok(self.load()?.get(hub).map(|(fp, _)| *fp))
    }

    /// Every pin, by address.
    ///
    /// # Errors
    /// If the pin file cannot be read or is damaged.
    pub fn all(&self) -> Result<Vec<Pin>, Error> {
        Ok(self
            .load()?
            .into_iter()
            .map(|(hub, (fingerprint, name))| Pin {
                hub,
                fingerprint,
                name,
            })
            .collect())
    }

    /// Whether some hub address has `fingerprint` pinned (a hub found on the network
    /// is one this client already knows).
    ///
    /// # Errors
    /// If the pin file cannot be read or is damaged.
    pub fn knows(&self, fingerprint: &ClientId) -> Result<bool, Error> {
        Ok(self.load()?.values().any(|(f, _)| f == fingerprint))
    }

    /// Every pinned fingerprint (the hubs this client has met).
    ///
    /// # Errors
    /// If the pin file cannot be read or is damaged.
    pub fn fingerprints(&self) -> Result<Vec<ClientId>, Error> {
        let mut all: Vec<ClientId> = self.load()?.into_values().map(|(f, _)| f).collect();
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// Pins `fingerprint` for `hub`, replacing any previous pin (and the name it had,
    /// unless the fingerprint stays the same).
    ///
    /// # Errors
    /// If the pin file cannot be written.
    pub fn set(&self, hub: &str, fingerprint: ClientId) -> Result<(), Error> {
        let mut pins = self.load()?;
        let name = pins
            .remove(hub)
            .and_then(|(f, name)| name.filter(|_| f == fingerprint));
        pins.insert(hub.to_owned(), (fingerprint, name));
        self.save(&pins)
    }

    /// Remembers `name` for every pin of `fingerprint`: call it only with the name a hub
    /// advertised when a TLS handshake showed that it holds this certificate (never from
    /// an advertisement alone). Returns whether anything changed.
    ///
    /// # Errors
    /// If the pin file cannot be read or written.
    pub fn learn_name(&self, fingerprint: ClientId, name: &str) -> Result<bool, Error> {
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_PIN_NAME {
            return Ok(false);
        }
        let mut pins = self.load()?;
        let mut changed = false;
        for (f, n) in pins.values_mut() {
            if *f == fingerprint && n.as_deref() != Some(name) {
                *n = Some(name.to_owned());
                changed = true;
            }
        }
        if changed {
            self.save(&pins)?;
        }
        Ok(changed)
    }

    /// Forgets the pin for `hub` (after a legitimate hub reinstall).
    ///
    /// # Errors
    /// If the pin file cannot be written.
    pub fn remove(&self, hub: &str) -> Result<(), Error> {
        let mut pins = self.load()?;
        if pins.remove(hub).is_some() {
            self.save(&pins)?;
        }
        Ok(())
    }

    fn save(&self, pins: &BTreeMap<String, (ClientId, Option<String>)>) -> Result<(), Error> {
        if let Some(dir) = self.path.parent() {
            create_private_dir(dir)?;
        }
        let text: String = pins
            .iter()
            .map(|(h, (f, name))| match name {
                Some(n) => format!("{h} {} {}\n", f.to_hex(), escape_name(n)),
                None => format!("{h} {}\n", f.to_hex()),
            })
            .collect();
        write_private(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("courier-id-{tag}-{}", rand::random::<u64>()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn identity_is_stable_across_loads_and_key_is_private() {
        let dir = tempdir("stable");
        let a = Identity::load_or_create(&dir).unwrap();
        let b = Identity::load_or_create(&dir).unwrap();
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), Identity::generate().unwrap().id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(dir).unwrap();
    }

    /// SECURITY (issue 10 #12): a planted temp file or symlink, or an existing folder open
    /// to others, never leaves the key readable by anyone else.
    #[cfg(unix)]
    #[test]
    fn the_key_stays_private_whatever_was_planted_before() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        // A folder made by someone else with the default umask, and a world-readable file
        // at the name the key used to be written through.
        let dir = tempdir("planted");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let old_tmp = dir.join(KEY_FILE).with_extension("tmp");
        fs::write(&old_tmp, b"").unwrap();
        fs::set_permissions(&old_tmp, fs::Permissions::from_mode(0o644)).unwrap();
        // A symlink where a temp file might go, pointing outside.
        let outside = tempdir("outside").join("stolen");
        std::os::unix::fs::symlink(&outside, dir.join("identity.crt.tmp")).unwrap();
        Identity::load_or_create(&dir).unwrap();
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
        assert_eq!(mode(&dir), 0o700, "the profile folder is tightened");
        assert!(
            !outside.exists(),
            "nothing written through the planted symlink"
        );
        // An existing identity in a loose folder: loading tightens the folder and the key.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(dir.join(KEY_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        Identity::load_or_create(&dir).unwrap();
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
        assert_eq!(mode(&dir), 0o700);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn pins_round_trip() {
        let dir = tempdir("pins");
        let store = PinStore::new(&dir);
        assert_eq!(store.get("h:1").unwrap(), None);
        store.set("h:1", ClientId([1; 32])).unwrap();
        store.set("h:2", ClientId([2; 32])).unwrap();
        assert_eq!(store.get("h:1").unwrap(), Some(ClientId([1; 32])));
        store.remove("h:1").unwrap();
        assert_eq!(store.get("h:1").unwrap(), None);
        assert_eq!(store.get("h:2").unwrap(), Some(ClientId([2; 32])));
        // A name is learned only for the pins of that certificate, kept across a
        // re-pin of the same certificate, dropped with another one, and survives any
        // characters (one word in the file).
        let odd = "Lab hub %20 \u{202e}\nx";
        assert!(store.learn_name(ClientId([2; 32]), odd).unwrap());
        assert!(
            !store.learn_name(ClientId([2; 32]), odd).unwrap(),
            "no change"
        );
        store.set("h:4", ClientId([4; 32])).unwrap();
        let named = |s: &PinStore, hub: &str| {
            s.all()
                .unwrap()
                .into_iter()
                .find(|p| p.hub == hub)
                .and_then(|p| p.name)
        };
        assert_eq!(named(&store, "h:2").as_deref(), Some(odd));
        assert_eq!(named(&store, "h:4"), None);
        store.set("h:2", ClientId([2; 32])).unwrap();
        assert_eq!(named(&store, "h:2").as_deref(), Some(odd));
        assert_eq!(
            fs::read_to_string(dir.join(PIN_FILE))
                .unwrap()
                .lines()
                .count(),
            2
        );
        store.set("h:2", ClientId([5; 32])).unwrap();
        assert_eq!(named(&store, "h:2"), None, "another certificate, no name");
        // A name that does not decode leaves the pin, nameless.
        fs::write(dir.join(PIN_FILE), format!("h:6 {} %zz\n", "ab".repeat(32))).unwrap();
        assert_eq!(named(&store, "h:6"), None);
        assert!(store.get("h:6").unwrap().is_some());
        fs::write(dir.join(PIN_FILE), "h:3 nothex\n").unwrap();
        assert!(matches!(store.get("h:3"), Err(Error::Damaged(_))));
        fs::remove_dir_all(dir).unwrap();
    }
}
