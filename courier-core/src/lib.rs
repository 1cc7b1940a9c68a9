//! Courier's library: a LAN chat hub, client sessions, routing, direct file transfer,
//! and what front ends share (contacts, history, discovery, checks). No async runtime is
//! chosen here: drivers are futures and streams built on the smol-rs components
//! (`async-net`, `async-io`, `async-channel`), which run under any executor. The
//! protocol logic lives in synchronous state machines that take time as an argument, so
//! it is tested without sockets or sleeps; each machine's docs list its inputs and
//! outputs in the order to call them.
//!
//! # Layout
//! - [`proto`]: frame types, ids, close reasons and the hardened CBOR codec.
//! - [`limits`]: every bound the hub and clients enforce.
//! - [`identity`]: key pairs, self-signed certificates, fingerprints, hub pins.
//! - [`tls`]: TLS 1.3 configurations that pin instead of trusting authorities.
//! - [`auth`]: OPAQUE password login bound to the TLS channel.
//! - [`net`]: TCP → TLS → WebSocket plumbing, and the frame budgets of a connection.
//! - [`hub`]: the [`hub::Hub`] state machine, its database [`hub::db`] and its driver
//!   [`hub::serve`].
//! - [`session`]: the [`session::Session`] state machine and its driver
//!   [`session::connect`].
//! - [`transfer`]: direct file transfer: brokered by the hub, peer to peer, verified,
//!   resumable; [`transfer::Sender`] and [`transfer::Receiver`] are its machines.
//! - [`contacts`]: the contact list as front ends keep it (resolve, search, look-alikes).
//! - [`safety`]: safety numbers, the 60 digits two people compare to trust each other's device.
//! - [`history`]: a client's messages and kept transfers on one hub, kept and searchable.
//! - [`seal`]: end-to-end encryption: sealed envelopes and the [`seal::Keyring`].
//! - [`sqlite`]: how Courier's database files are opened, checked and migrated.
//! - [`discovery`]: hubs advertised and found on the local network (mDNS), and what a
//!   found hub is to this client (known, new, or an impostor).
//! - [`doctor`]: "why can't I see or reach the hub?": every step checked, one finding
//!   each.
//! - [`units`]: sizes, rates and durations for people.
//! - [`text`]: untrusted text made safe for terminals, the app and notifications.
//! - [`error`]: the crate-level [`Error`].
//! - `testing` (with the `test-util` feature): an in-memory simulator of a hub and its
//!   sessions.
//!
//! # Rooms and arrows
//! An arrow is "uses"; none points back.
//! - Leaves: [`limits`], [`units`]; [`proto`] uses [`limits`]; [`text`] and [`safety`] use
//!   [`proto`].
//! - The channel: [`identity`] → [`tls`] → [`net`]; [`auth`] beside them.
//! - Storage: [`hub::db`], [`history`] and [`seal`] → [`sqlite`]; [`seal`] → identity,
//!   proto.
//! - The machines and their drivers: [`hub`] → net, tls, auth, identity, sqlite, proto;
//!   [`session`] → net, tls, auth, identity, proto; [`transfer`] → session (offers and
//!   answers go through the hub), net, tls, identity, proto.
//! - For front ends, over the machines: [`contacts`] → session, text, identity (its verified
//!   marks); [`discovery`] → contacts, identity, tls, net; [`doctor`] → discovery,
//!   session, transfer, contacts.

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
pub mod safety;
pub mod seal;
pub mod session;
pub mod sqlite;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod text;
pub mod tls;
pub mod transfer;
pub mod units;

pub use error::Error;
