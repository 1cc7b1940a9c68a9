//! The hub we are on, as the window shows it: a leaf the panel and the window read.

use courier_core::proto::ClientId;

/// The hub we are on.
#[derive(Debug, Clone)]
pub struct HubInfo {
    /// The address we joined (`host:port`).
    pub address: String,
    /// Its fingerprint.
    pub fingerprint: ClientId,
    /// Addresses others can join with (hosted hubs list every interface).
    pub join: Vec<String>,
    /// Whether this app runs the hub.
    pub hosted: bool,
    /// The name a hub hosted here is shown by on the network, if it is.
    pub advertised: Option<String>,
    /// The password of a hub hosted here, when this run set it or logged in with it
    /// (the hub keeps no copy it can show): the Menu shows it on request, to tell others.
    pub password: Option<String>,
}
