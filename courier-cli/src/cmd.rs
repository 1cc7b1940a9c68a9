//! One module per subcommand.

pub(crate) mod chat;
pub(crate) mod docs;
pub(crate) mod doctor;
pub(crate) mod group;
pub(crate) mod history;
pub(crate) mod hub;
pub(crate) mod hubs;
pub(crate) mod listen;
pub(crate) mod receive;
pub(crate) mod say;
pub(crate) mod send;
pub(crate) mod send_many;
pub(crate) mod verify;
pub(crate) mod who;
