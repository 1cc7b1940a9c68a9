//! The crate-level error, aggregating each module's.

/// Any error courier-core returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Identity or pin storage.
    #[error(transparent)]
    Identity(#[from] crate::identity::Error),
    /// Password login.
    #[error(transparent)]
    Auth(#[from] crate::auth::Error),
    /// TLS configuration.
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    /// Connection setup.
    #[error(transparent)]
    Net(#[from] crate::net::Error),
    /// The hub driver.
    #[error(transparent)]
    Hub(#[from] crate::hub::Error),
    /// A hub's folder.
    #[error(transparent)]
    Home(#[from] crate::hub::home::Error),
    /// A client session.
    #[error(transparent)]
    Session(#[from] crate::session::Error),
    /// Finding a contact by name.
    #[error(transparent)]
    Contacts(#[from] crate::contacts::Error),
    /// A file transfer.
    #[error(transparent)]
    Transfer(#[from] crate::transfer::Error),
    /// Decoding a frame.
    #[error(transparent)]
    Decode(#[from] crate::proto::DecodeError),
}
