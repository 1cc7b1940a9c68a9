//! Direct file transfer between clients. The hub only brokers: an offer, an answer, a
//! single-use ticket. The bytes go over a WebSocket on mutual TLS straight between the
//! two machines (or, when they cannot reach each other, through the hub's relay with the
//! same end-to-end TLS inside).
//!
//! - [`send`] / [`receive`]: the drivers, each a [`Transfer`] stream of [`Update`]s.
//! - [`source`]: local files and folders → a [`crate::proto::Manifest`].
//! - [`wire`]: the link messages; [`recv`]: the receiver's pure bookkeeping.
//! - [`name`] and [`store`]: safe names and safe writes in the download folder.

mod io;
mod link;
pub mod name;
pub mod recv;
pub mod source;
pub mod store;
pub mod wire;

pub use io::{
    Canceller, Error, Options, Progress, Summary, Transfer, Update, receive, send, send_source,
};
pub use link::Route;
