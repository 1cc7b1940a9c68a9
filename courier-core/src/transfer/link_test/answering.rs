//! Answering other members' link tests: the wrapper front ends put around a session's
//! [`Updates`] ([`answer_link_tests`]), and [`Answered`], the small machine that says
//! which tests may be answered.
//!
//! A session declines every link test ([`Declined::NoLinkTests`]) until it is wrapped;
//! the wrapper claims them through the session's handle, so they never show as an
//! offer. They are answered one at a time: a test that comes while one is answered is
//! declined as busy ([`Declined::ByUser`]), as is one past the minute's caps.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use async_channel::Receiver;

use super::super::Options;
use crate::limits;
use crate::proto::{ClientId, Declined, IncomingOffer};
use crate::session::{Handle, Updates};

/// Answers the link tests (`courier doctor --peer` from another member) that reach the
/// session behind `updates`, with `options` (where a direct test listens, as for a
/// transfer), as long as the returned updates are polled; without this wrapper the
/// session declines them with [`Declined::NoLinkTests`], and the prober hears so.
///
/// A test is answered one at a time, never shows as an offer, and costs little: at most
/// [`limits::LINK_TESTS_PER_MINUTE`] tests and [`limits::LINK_TEST_BYTES_PER_MINUTE`] a
/// minute, of which one prober gets only its share ([`limits::LINK_TESTS_PER_PROBER`],
/// [`limits::LINK_TEST_BYTES_PER_PROBER`]); the others are declined as busy. For the
/// direct way it dials the prober only where the hub sees it and listens as a receiver
/// would; the hub tells the prober only its addresses at the one the hub sees it at.
///
/// Nothing is spawned: the answering runs inside the returned stream, on whatever
/// executor polls it. Wrapping the same session again moves the answering to the newer
/// wrapper.
///
/// # Examples
/// ```no_run
/// # use courier_core::{auth::Password, identity::Identity, proto::Profile, session, transfer};
/// use futures::StreamExt;
/// smol::block_on(async {
///     let config = session::Config::new("127.0.0.1:8977", Identity::generate()?,
///         Password::new("pw"), Profile::with_name("bot"));
///     let updates = session::connect(config);
///     let mut updates = transfer::answer_link_tests(updates, transfer::Options::default());
///     while let Some(update) = updates.next().await {
///         println!("{update:?}");
///     }
///     # Ok::<(), Box<dyn std::error::Error>>(())
/// });
/// ```
pub fn answer_link_tests(updates: Updates, options: Options) -> Updates {
    let handle = updates.handle().clone();
    let tests = handle.receive_link_tests();
    updates.beside(answer_each(handle, tests, options))
}

/// Answers the tests the session hands over, in turn, while they come; declines those
/// [`Answered::admit`] refuses.
async fn answer_each(handle: Handle, tests: Receiver<IncomingOffer>, options: Options) {
    let mut answered = Answered::default();
    while let Ok(offer) = tests.recv().await {
        let now = Instant::now();
        let from = offer.from;
        if !answered.admit(from, now) {
            let _ = handle.decline(offer.id, Declined::ByUser).await;
            continue;
        }
        let mut bytes = 0;
        let result = super::answer(handle.clone(), offer, &options, &mut bytes).await;
        answered.record(now, from, bytes);
        match result {
            Ok(route) => {
                tracing::info!(
                    "answered a link test of {}: {route}, {bytes} bytes",
                    from.short()
                );
            }
            Err(e) => tracing::info!("a link test of {} failed: {e}", from.short()),
        }
    }
}

/// The link tests answered in the last minute: who probed, when, and the data it took
/// in. Every prober has a share of the minute's tests and bytes, so that one contact
/// running checks in a loop does not leave the others none.
///
/// Call order: [`Answered::admit`] when a test comes (answer it only if `true`), then
/// [`Answered::record`] once it is over, with the data it took in. No I/O, no clock:
/// the time is an argument.
#[derive(Debug, Default)]
pub(crate) struct Answered {
    recent: VecDeque<(Instant, ClientId, u64)>,
}

impl Answered {
    /// Whether a test from `prober` may be answered now: no more than
    /// [`limits::LINK_TESTS_PER_MINUTE`] a minute, and not when the last minute's tests
    /// and a whole new one would take in more than [`limits::LINK_TEST_BYTES_PER_MINUTE`];
    /// for one prober, [`limits::LINK_TESTS_PER_PROBER`] and
    /// [`limits::LINK_TEST_BYTES_PER_PROBER`].
    pub(crate) fn admit(&mut self, prober: ClientId, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|(t, _, _)| now.duration_since(*t) >= Duration::from_secs(60))
        {
            self.recent.pop_front();
        }
        let taken: u64 = self.recent.iter().map(|(_, _, b)| b).sum();
        let (tests, bytes) = self
            .recent
            .iter()
            .filter(|(_, p, _)| *p == prober)
            .fold((0, 0), |(n, sum), (_, _, b)| (n + 1, sum + b));
        self.recent.len() < limits::LINK_TESTS_PER_MINUTE
            && taken + limits::LINK_TEST_MAX_BYTES <= limits::LINK_TEST_BYTES_PER_MINUTE
            && tests < limits::LINK_TESTS_PER_PROBER
            && bytes + limits::LINK_TEST_MAX_BYTES <= limits::LINK_TEST_BYTES_PER_PROBER
    }

    /// A test from `prober`, started at `at`, took in `bytes`.
    pub(crate) fn record(&mut self, at: Instant, prober: ClientId, bytes: u64) {
        self.recent.push_back((at, prober, bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One contact running link tests in a loop gets its share of the minute;
    /// another contact's check is still answered.
    #[test]
    fn one_prober_takes_only_its_share_of_link_tests() {
        let (mallory, ada) = (ClientId([1; 32]), ClientId([2; 32]));
        let t0 = Instant::now();
        let mut answered = Answered::default();
        let mut admitted = 0;
        for n in 0..20 {
            let at = t0 + Duration::from_millis(n * 100);
            if answered.admit(mallory, at) {
                admitted += 1;
                answered.record(at, mallory, 1 << 20);
            }
        }
        assert_eq!(admitted, limits::LINK_TESTS_PER_PROBER);
        assert!(answered.admit(ada, t0 + Duration::from_secs(3)));
        // Bytes too: two whole tests' worth, then none until the minute has passed.
        let mut answered = Answered::default();
        answered.record(t0, mallory, limits::LINK_TEST_MAX_BYTES);
        answered.record(t0, mallory, limits::LINK_TEST_MAX_BYTES);
        assert!(!answered.admit(mallory, t0 + Duration::from_secs(1)));
        assert!(answered.admit(ada, t0 + Duration::from_secs(1)));
        assert!(answered.admit(mallory, t0 + Duration::from_secs(61)));
    }
}
