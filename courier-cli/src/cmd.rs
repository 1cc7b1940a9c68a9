//! One module per subcommand.

pub(crate) mod chat;
pub(crate) mod hub;
pub(crate) mod listen;
pub(crate) mod say;
pub(crate) mod who;
