//! Direct file transfer between clients (in progress): so far, the receiver-side rules
//! for turning an untrusted file name from an offer into a safe one ([`name`]).

pub mod name;
