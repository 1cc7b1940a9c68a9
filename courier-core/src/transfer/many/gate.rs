//! The start line: the copies of one wave set off together, so that they read the source
//! together through the shared reader.
//!
//! The coordinator says who is **coming** (offered and not answered yet, accepted and
//! still connecting, or about to be offered once the hub's pace allows) and who is
//! **next** (waiting for a place): as many of the next as copies are streaming count as
//! coming too, since the copies of a wave end about together and free their places for
//! the next wave at about the same time. A copy ready to stream waits at the line until
//! nobody is still coming, or at most [`START_LINE`] after the first copy reached it. A
//! copy that reaches the line with nobody coming sets off at once.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::proto::ClientId;

/// How long the first copy at the line waits, at most, for the others of its wave. The
/// receiver waits far longer than this for the first byte.
pub const START_LINE: Duration = Duration::from_secs(3);

#[derive(Default)]
struct State {
    /// Expected at the line and not there yet.
    coming: HashSet<ClientId>,
    /// At the line or past it (until their copy ends).
    arrived: HashSet<ClientId>,
    /// Of those, the ones at the line.
    at_line: HashSet<ClientId>,
    /// The copies waiting: closing a sender wakes its copy.
    waiting: Vec<async_channel::Sender<()>>,
    /// When the line opens at the latest (set by the first copy at it).
    opens_at: Option<Instant>,
}

impl State {
    fn open(&mut self) {
        self.waiting.clear();
        self.at_line.clear();
        self.opens_at = None;
    }
}

/// The start line of one send to many.
pub(crate) struct Gate {
    state: Mutex<State>,
    /// How long the first copy at the line waits at most ([`START_LINE`] but in tests).
    wait: Duration,
}

impl Default for Gate {
    fn default() -> Self {
        Self::waiting(START_LINE)
    }
}

impl Gate {
    /// A line that waits up to `wait` (tests use a long one, so that what they prove
    /// does not depend on how fast the machine runs them).
    pub(crate) fn waiting(wait: Duration) -> Self {
        Self {
            state: Mutex::default(),
            wait,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Who the coordinator expects at the line now, and who is next in line for a place
    /// (those already there are left out); opens the line when nobody is coming any
    /// more.
    pub(crate) fn expect(&self, coming: Vec<ClientId>, next: Vec<ClientId>) {
        let mut st = self.lock();
        let streaming = st.arrived.len() - st.at_line.len();
        let coming: HashSet<ClientId> = coming
            .into_iter()
            .chain(next.into_iter().take(streaming))
            .filter(|c| !st.arrived.contains(c))
            .collect();
        st.coming = coming;
        if st.coming.is_empty() {
            st.open();
        }
    }

    /// The copy to `to` ended (it may come to the line again when tried again).
    pub(crate) fn left(&self, to: ClientId) {
        let mut st = self.lock();
        st.arrived.remove(&to);
        st.at_line.remove(&to);
    }

    /// Waits at the line until the copy to `to` sets off (see the module docs).
    pub(crate) async fn line(&self, to: ClientId) {
        let (woken, opens_at) = {
            let mut st = self.lock();
            st.arrived.insert(to);
            st.coming.remove(&to);
            if st.coming.is_empty() {
                st.open();
                return;
            }
            let opens_at = *st
                .opens_at
                .get_or_insert_with(|| Instant::now() + self.wait);
            let (tx, rx) = async_channel::bounded::<()>(1);
            st.waiting.push(tx);
            st.at_line.insert(to);
            (rx, opens_at)
        };
        let woken = woken.recv();
        let timer = async_io::Timer::at(opens_at);
        futures::pin_mut!(woken);
        futures::pin_mut!(timer);
        if let futures::future::Either::Right(_) = futures::future::select(woken, timer).await {
            // Whoever is still coming is too late for this wave.
            let mut st = self.lock();
            if st.opens_at.is_some_and(|at| at <= Instant::now()) {
                st.open();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn id(n: u8) -> ClientId {
        ClientId([n; 32])
    }

    /// The line's bound, far longer than any of these tests takes: only a broken line
    /// would be opened by it.
    fn gate() -> Gate {
        Gate::waiting(Duration::from_secs(600))
    }

    /// The line holds the first copy while another is coming and lets both go when the
    /// last one expected arrives, with no timer involved; a copy with nobody coming goes
    /// at once.
    #[test]
    fn the_line_opens_when_everyone_expected_has_arrived() {
        let gate = gate();
        gate.expect(vec![id(1), id(2)], vec![id(3)]);
        let first = gate.line(id(1));
        futures::pin_mut!(first);
        assert!(first.as_mut().now_or_never().is_none(), "id 2 is coming");
        assert!(
            gate.line(id(2)).now_or_never().is_some(),
            "the last one goes"
        );
        assert!(first.now_or_never().is_some(), "and wakes the first");
        // Id 2 ends and is tried again; id 1 still streams, nobody is next.
        gate.left(id(2));
        gate.expect(vec![id(2)], vec![]);
        assert!(gate.line(id(2)).now_or_never().is_some());
    }

    /// Someone expected who is no longer coming (stored for later, declined) opens the
    /// line for those waiting, as the coordinator says so.
    #[test]
    fn the_line_opens_when_the_last_expected_is_no_longer_coming() {
        let gate = gate();
        gate.expect(vec![id(1), id(2)], vec![]);
        let first = gate.line(id(1));
        futures::pin_mut!(first);
        assert!(first.as_mut().now_or_never().is_none());
        gate.expect(vec![], vec![]);
        assert!(first.now_or_never().is_some());
    }

    /// The next wave gathers: with two copies streaming, the first copy of the next wave
    /// waits for the two recipients next in line (they are offered as the two end), and
    /// all three set off together.
    #[test]
    fn the_next_wave_waits_for_the_places_about_to_free() {
        let gate = gate();
        gate.expect(vec![id(1), id(2)], vec![]);
        let first = gate.line(id(1));
        futures::pin_mut!(first);
        assert!(first.as_mut().now_or_never().is_none());
        assert!(gate.line(id(2)).now_or_never().is_some());
        assert!(first.now_or_never().is_some());
        // Ids 1 and 2 stream; id 1 ends, id 3 is offered in its place.
        gate.left(id(1));
        gate.expect(vec![id(2), id(3)], vec![id(4), id(5)]);
        let third = gate.line(id(3));
        futures::pin_mut!(third);
        assert!(third.as_mut().now_or_never().is_none(), "id 4 is next");
        // Id 2 ends: id 4 is offered; nobody streams, so id 5 is not waited for.
        gate.left(id(2));
        gate.expect(vec![id(3), id(4)], vec![id(5)]);
        assert!(third.as_mut().now_or_never().is_none(), "id 4 is coming");
        assert!(gate.line(id(4)).now_or_never().is_some());
        assert!(third.now_or_never().is_some());
    }
}
