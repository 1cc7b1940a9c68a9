//! Direct file transfer between clients (in progress). So far, the receiver's side of
//! writing safely: [`name`] turns untrusted names into safe ones, [`store`] writes
//! `.part` files and finishes them without ever leaving the download folder or
//! overwriting anything.

pub mod name;
pub mod store;
