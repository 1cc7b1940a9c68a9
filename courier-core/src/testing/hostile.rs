//! A hostile hub built on the real one: the [`Sim`]'s hub routes as it always does, and
//! the test rewrites, holds back or drops what it sends one client ([`Sim::tamper`]),
//! or hands a client frames the hub never sent it ([`Sim::inject`]): replays, frames
//! meant for others, reordered logs. What the client then shows is what a modified hub
//! could make it show.

use super::{Sim, proto};
use crate::proto::ServerFrame;

/// What a hostile hub does to each frame it sends one client: the frame in, the frames
/// that client gets instead out (none drops it, several add to it).
pub struct Tamper(pub Box<dyn FnMut(ServerFrame) -> Vec<ServerFrame>>);

impl std::fmt::Debug for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tamper(..)")
    }
}

impl Sim {
    /// From now on, every frame the hub sends client `i` goes through `f` first
    /// (after the codec, as the network would carry it), until [`Sim::honest`].
    pub fn tamper(&mut self, i: usize, f: impl FnMut(ServerFrame) -> Vec<ServerFrame> + 'static) {
        if let Some(c) = self.clients.get_mut(i) {
            c.tamper = Some(Tamper(Box::new(f)));
        }
    }

    /// Client `i` gets the hub's frames as they are again.
    pub fn honest(&mut self, i: usize) {
        if let Some(c) = self.clients.get_mut(i) {
            c.tamper = None;
        }
    }

    /// Hands client `i` a frame as if the hub had sent it (through the codec, past any
    /// [`Sim::tamper`]), then lets everything it causes run.
    pub fn inject(&mut self, i: usize, frame: &ServerFrame) {
        let now = self.now;
        if let Some(c) = self.clients.get_mut(i)
            && let Ok(f) = proto::decode_server(&proto::encode(frame))
        {
            c.receive(f, now);
        }
        self.run();
    }
}
