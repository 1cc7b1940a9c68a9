//! The app's screens. Each has its own `Message`, an `update` that returns an `Action`
//! for the parent, and a `view`.

pub mod chat;
pub mod check;
pub mod login;

#[cfg(test)]
pub(crate) mod layout;
