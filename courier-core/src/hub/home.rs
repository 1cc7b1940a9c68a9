//! A hub's files: its identity and its password record in one private folder, and the
//! addresses people join it at. The `courier hub` command and an app that hosts a hub
//! in-process set a hub up the same way.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rand::Rng;

use crate::auth::{self, HubSecret, Password};
use crate::identity::{self, Identity};

/// The password record's file name inside the hub's folder.
pub(crate) const SECRET_FILE: &str = "hub.secret";
/// The database's file name inside the hub's folder.
pub(crate) const DATABASE_FILE: &str = "hub.db";

/// Errors reading or writing a hub's folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The identity or folder could not be created or read.
    #[error(transparent)]
    Identity(#[from] identity::Error),
    /// The password record is damaged or the password unusable.
    #[error(transparent)]
    Auth(#[from] auth::Error),
    /// Reading the password record failed.
    #[error("reading {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// A hub's private folder (mode 0700): `identity` files, `hub.secret` and `hub.db`.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// Opens (creating it if needed) the hub folder `dir`.
    ///
    /// # Errors
    /// If the folder cannot be created.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        identity::create_private_dir(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The hub's database in this folder (`hub.db`), opened (created if new): the
    /// members it keeps across restarts ([`super::db`]).
    ///
    /// # Errors
    /// A damaged, foreign, newer or read-only file ([`super::db::Error`]), left as it is.
    pub fn database(&self) -> Result<super::db::Db, super::db::Error> {
        super::db::Db::open(&self.dir.join(DATABASE_FILE))
    }

    /// The hub's identity, created on first use; its fingerprint is the safety code.
    ///
    /// # Errors
    /// If the key files cannot be read or written.
    pub fn identity(&self) -> Result<Identity, Error> {
        Ok(Identity::load_or_create(&self.dir)?)
    }

    /// The stored password record, if a password was ever set.
    ///
    /// # Errors
    /// If the record exists but cannot be read or is damaged.
    pub fn secret(&self) -> Result<Option<HubSecret>, Error> {
        let path = self.dir.join(SECRET_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(HubSecret::from_bytes(&bytes)?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// Sets the password: stores only its OPAQUE record (mode 0600) and returns it.
    ///
    /// # Errors
    /// An empty password, or if the record cannot be written.
    pub fn set_password(&self, password: &Password) -> Result<HubSecret, Error> {
        let secret = HubSecret::register(&mut rand::thread_rng(), password)?;
        identity::write_private(&self.dir.join(SECRET_FILE), &secret.to_bytes())?;
        Ok(secret)
    }
}

/// A strong password people can type: 20 letters and digits in groups of five
/// (`abcde-fghij-…`), without look-alikes such as `l`, `1`, `0` and `o`.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let chars: Vec<char> = (0..20)
        .map(|_| {
            let i = rng.gen_range(0..ALPHABET.len());
            char::from(ALPHABET.get(i).copied().unwrap_or(b'a'))
        })
        .collect();
    chars
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Where people can reach a hub listening on `listen`: the address itself if it is
/// specific, else every non-loopback interface address of the same family, then
/// loopback (for clients on this machine).
pub fn join_addresses(listen: SocketAddr) -> Vec<SocketAddr> {
    if !listen.ip().is_unspecified() {
        return vec![listen];
    }
    let mut out: Vec<SocketAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback() && i.ip().is_ipv4() == listen.is_ipv4())
        .map(|i| SocketAddr::new(i.ip(), listen.port()))
        .collect();
    let loopback: std::net::IpAddr = if listen.is_ipv4() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        std::net::Ipv6Addr::LOCALHOST.into()
    };
    out.push(SocketAddr::new(loopback, listen.port()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_record_and_identity_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("courier-home-{}", rand::random::<u64>()));
        let home = Home::open(&dir).unwrap();
        assert!(home.secret().unwrap().is_none());
        let id = home.identity().unwrap().id();
        home.set_password(&Password::new("pw")).unwrap();
        let again = Home::open(&dir).unwrap();
        assert_eq!(
            again.identity().unwrap().id(),
            id,
            "same safety code after restart"
        );
        assert!(again.secret().unwrap().is_some());
        assert!(again.set_password(&Password::new("")).is_err());
        std::fs::write(dir.join(SECRET_FILE), b"garbage").unwrap();
        assert!(
            again.secret().is_err(),
            "a damaged record is an error, not a new hub"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn generated_passwords_are_typeable_and_different() {
        let a = generate_password();
        assert_eq!(a.len(), 23);
        assert_eq!(a.split('-').count(), 4);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_alphanumeric()));
        assert!(!a.contains(['l', '1', '0', 'o']));
        assert_ne!(a, generate_password());
    }

    #[test]
    fn join_addresses_list_loopback_last() {
        let specific: SocketAddr = "192.0.2.7:8977".parse().unwrap();
        assert_eq!(join_addresses(specific), [specific]);
        let any = join_addresses("0.0.0.0:8977".parse().unwrap());
        assert_eq!(any.last(), Some(&"127.0.0.1:8977".parse().unwrap()));
        assert!(any.iter().all(|a| a.port() == 8977 && a.is_ipv4()));
    }
}
