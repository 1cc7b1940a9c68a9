//! Courier's library: a LAN chat hub, client sessions, routing, and direct file
//! transfer. No async runtime is chosen here: drivers are futures and streams built on
//! the smol-rs components (`async-net`, `async-io`, `async-channel`), which run under
//! any executor. The protocol logic lives in synchronous state machines that take time
//! as an argument, so it is tested without sockets or sleeps.
//!
//! # Layout
//! - [`proto`]: frame types, ids and the hardened CBOR codec.
//! - [`limits`]: every bound the hub and clients enforce.
//! - [`identity`]: key pairs, self-signed certificates, fingerprints, hub pins.
//! - [`tls`]: TLS 1.3 configurations that pin instead of trusting authorities.
//! - [`auth`]: OPAQUE password login bound to the TLS channel.
//! - [`hub`]: the [`hub::Hub`] state machine and its driver [`hub::serve`].
//! - [`session`]: the [`session::Session`] state machine and its driver [`session::connect`].
//! - [`contacts`]: the contact list as front ends keep it (resolve, search, look-alikes).
//! - [`history`]: a client's messages on one hub, kept and searchable; [`sqlite`]: how
//!   Courier's database files are opened and migrated.
//! - [`net`]: TCP → TLS → WebSocket plumbing.
//! - [`transfer`]: direct file transfer: brokered by the hub, peer to peer, verified,
//!   resumable.
//! - [`units`]: sizes, rates and durations for people; [`text`]: untrusted text for
//!   terminals, the app and notifications.
//! - [`error`]: the crate-level [`Error`].

pub mod auth;
pub mod contacts;
pub mod discovery;
pub mod doctor;
pub mod error;
pub mod history;
pub mod hub;
pub mod identity;
pub mod limits;
pub mod net;
pub mod proto;
pub mod session;
pub mod sqlite;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod text;
pub mod tls;
pub mod transfer;
pub mod units;

pub use error::Error;
