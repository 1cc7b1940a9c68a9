//! The running places of a send to many, as a small async semaphore: a copy whose link is
//! up takes a place before its first file and keeps it to its end, so that no more than
//! [`super::Config::running`] copies send bytes at once, however many recipients accept
//! together (offers stored for the offline give their place back in the schedule, and may
//! all be accepted at the same login hour). A lone transfer has no places and never waits.

use std::future::Future;

use async_channel::{Receiver, Sender};

/// The places: one token each in a channel.
#[derive(Debug)]
pub(crate) struct Places {
    give: Sender<()>,
    take: Receiver<()>,
    /// Copies waiting in [`Places::take`]: while any does, [`Places::try_take`] takes
    /// nothing (a place freed is theirs, in turn, not a newcomer's).
    waiting: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Places {
    /// `n` places (at least one).
    pub(crate) fn new(n: usize) -> Self {
        let (give, take) = async_channel::bounded(n.max(1));
        for _ in 0..n.max(1) {
            let _ = give.try_send(());
        }
        Self {
            give,
            take,
            waiting: std::sync::Arc::default(),
        }
    }

    /// A place now, if one is free.
    pub(crate) fn try_take(&self) -> Option<Place> {
        if self.waiting.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            return None;
        }
        self.take.try_recv().ok().map(|()| Place {
            give: self.give.clone(),
        })
    }

    /// The next place that frees up (copies waiting are served in turn). `None` only if
    /// the places were closed, which they never are while this exists.
    pub(crate) fn take(&self) -> impl Future<Output = Option<Place>> + Send + 'static {
        let (give, take) = (self.give.clone(), self.take.clone());
        let waiting = Waiting::new(self.waiting.clone());
        async move {
            let place = take.recv().await.ok().map(|()| Place { give });
            drop(waiting);
            place
        }
    }
}

/// One copy counted as waiting for a place, until dropped (taken, or given up).
struct Waiting(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Waiting {
    fn new(count: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A place held; given back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    give: Sender<()>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = self.give.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    /// Two places: a third taker waits until one is given back, and then gets it.
    #[test]
    fn a_place_is_taken_once_and_given_back_on_drop() {
        let places = Places::new(2);
        let a = places.try_take().expect("first");
        let _b = places.try_take().expect("second");
        assert!(places.try_take().is_none(), "only two");
        let mut waiting = Box::pin(places.take());
        assert!((&mut waiting).now_or_never().is_none(), "waits");
        drop(a);
        let got = waiting.now_or_never().flatten();
        assert!(got.is_some(), "gets the freed place");
        assert!(places.try_take().is_none(), "still two in all");
    }

    /// A place freed while a copy waits is that copy's, not a newcomer's (one that came
    /// later and tried at once): waiting is served in turn.
    #[test]
    fn a_freed_place_goes_to_the_copy_waiting_not_to_a_newcomer() {
        let places = Places::new(1);
        let held = places.try_take().expect("first");
        let mut waiting = Box::pin(places.take());
        assert!((&mut waiting).now_or_never().is_none(), "waits");
        drop(held);
        assert!(
            places.try_take().is_none(),
            "the newcomer does not jump the queue"
        );
        let got = waiting.now_or_never().flatten();
        assert!(got.is_some(), "the waiting copy gets it");
        assert!(places.try_take().is_none(), "one place in all");
        drop(got);
        assert!(places.try_take().is_some(), "given back");
    }
}
