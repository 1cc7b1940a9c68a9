//! Looking at a running hub from outside its loop: its [`Metrics`] (numbers only, for
//! scrapers) and who is [`Online`] (names, for the owner's `courier hub status`).
//!
//! The machine counts events as plain additions in its own state ([`Totals`]); what
//! only the driver sees (relayed bytes, database commit times) is counted in a few
//! atomics the driver shares with the [`Observer`]. A question is a message to the
//! serve loop, answered between two turns without waiting on anything: nothing here
//! takes a lock or allocates on the routing path. An answer is reused for a second, so
//! however many scrapers and status askers come, the loop walks its tables at most once
//! a second for each kind of question.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Hub, Stats, Totals};
use crate::proto::ClientId;

mod prometheus;

/// Questions waiting for the serve loop, at most: a scraper asks one at a time.
const QUEUE: usize = 16;

/// How long an answer of the serve loop is given again instead of asking anew.
const FRESH: Duration = Duration::from_secs(1);

/// The upper bounds of the database commit time histogram's buckets.
const COMMIT_BOUNDS: [Duration; 11] = [
    Duration::from_micros(1_000),
    Duration::from_micros(2_500),
    Duration::from_micros(5_000),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_micros(2_500_000),
];

/// A handle to look at a running hub, cheap to clone: made by
/// [`Config::observe`](super::Config::observe) before [`serve`](super::serve), then asked
/// from any task while the hub runs.
#[derive(Clone)]
pub struct Observer {
    requests: async_channel::Sender<Request>,
    shared: Arc<Shared>,
    cache: Arc<Cache>,
}

/// The serve loop's last answers, with when they came. Each lock is held while its
/// question is out, so askers at the same time wait for one answer, not ask again.
#[derive(Default)]
struct Cache {
    metrics: futures::lock::Mutex<Option<(Instant, Metrics)>>,
    online: futures::lock::Mutex<Option<(Instant, Vec<Online>)>>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer").finish_non_exhaustive()
    }
}

/// The serve loop's side of an [`Observer`]: the questions and the driver's counters.
#[derive(Clone)]
pub(super) struct Inbox {
    pub(super) requests: async_channel::Receiver<Request>,
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

/// A question for the serve loop, with where to put the answer.
pub(super) enum Request {
    Metrics(async_channel::Sender<Metrics>),
    Online(async_channel::Sender<Vec<Online>>),
}

/// What the driver counts beside the machine, shared with the [`Observer`]s.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// Bytes piped between the two sides of relayed transfers (both directions).
    pub(super) relayed_bytes: AtomicU64,
    commits: AtomicU64,
    commit_micros: AtomicU64,
    /// Commits that took at most each of [`COMMIT_BOUNDS`] (not cumulative here).
    commit_buckets: [AtomicU64; COMMIT_BOUNDS.len()],
}

impl Shared {
    /// One database commit (a transaction and its sync) took `took`.
    pub(super) fn commit_took(&self, took: Duration) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.commit_micros.fetch_add(micros, Ordering::Relaxed);
        if let Some(i) = COMMIT_BOUNDS.iter().position(|b| took <= *b)
            && let Some(bucket) = self.commit_buckets.get(i)
        {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Bytes relayed from one side to the other.
    pub(super) fn relayed(&self, bytes: usize) {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.relayed_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn commits(&self) -> Commits {
        let mut cumulative = 0;
        let buckets = COMMIT_BOUNDS
            .iter()
            .zip(&self.commit_buckets)
            .map(|(bound, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (*bound, cumulative)
            })
            .collect();
        Commits {
            count: self.commits.load(Ordering::Relaxed),
            total: Duration::from_micros(self.commit_micros.load(Ordering::Relaxed)),
            buckets,
        }
    }
}

/// The loop's side when nobody observes: no questions come, the driver counts anyway.
pub(super) fn unobserved() -> Inbox {
    let (_, requests) = async_channel::bounded(1);
    Inbox {
        requests,
        shared: Arc::default(),
    }
}

/// A pair: the caller's [`Observer`] and the loop's [`Inbox`].
pub(super) fn pair() -> (Observer, Inbox) {
    let (tx, rx) = async_channel::bounded(QUEUE);
    let shared = Arc::new(Shared::default());
    let observer = Observer {
        requests: tx,
        shared: shared.clone(),
        cache: Arc::default(),
    };
    (
        observer,
        Inbox {
            requests: rx,
            shared,
        },
    )
}

impl Observer {
    /// The hub's metrics now (the machine's part at most a second old). `None` when the
    /// hub is not running (it stopped, or its [`serve`](super::serve) never started and
    /// its config is gone). Waits for the hub's loop to finish its current turn; put a
    /// deadline around it.
    pub async fn metrics(&self) -> Option<Metrics> {
        // A stopped hub has no metrics, however fresh its last answer.
        if self.requests.is_closed() {
            return None;
        }
        let mut last = self.cache.metrics.lock().await;
        let mut metrics = match &*last {
            Some((at, m)) if at.elapsed() < FRESH => m.clone(),
            _ => {
                let (tx, rx) = async_channel::bounded(1);
                self.requests.send(Request::Metrics(tx)).await.ok()?;
                let m = rx.recv().await.ok()?;
                *last = Some((Instant::now(), m.clone()));
                m
            }
        };
        drop(last);
        metrics.relayed_bytes = self.shared.relayed_bytes.load(Ordering::Relaxed);
        metrics.commits = self.shared.commits();
        metrics.rss_bytes = resident_bytes();
        Some(metrics)
    }

    /// The members online now, by name (at most a second old). `None` when the hub is
    /// not running (as for [`Observer::metrics`]).
    pub async fn online(&self) -> Option<Vec<Online>> {
        if self.requests.is_closed() {
            return None;
        }
        let mut last = self.cache.online.lock().await;
        if let Some((at, online)) = &*last
            && at.elapsed() < FRESH
        {
            return Some(online.clone());
        }
        let (tx, rx) = async_channel::bounded(1);
        self.requests.send(Request::Online(tx)).await.ok()?;
        let online = rx.recv().await.ok()?;
        *last = Some((Instant::now(), online.clone()));
        Some(online)
    }
}

/// A snapshot of a running hub, for scrapers and status displays: counts only, never
/// a name, an address or a message's content. [`Metrics::to_prometheus`] writes it out.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// How long the hub has been serving.
    pub uptime: Duration,
    /// The machine's gauges: connections, backlog, transfers, groups.
    pub stats: Stats,
    /// The machine's events since start: routed, stored, logins, refusals.
    pub totals: Totals,
    /// Members with at least one connection logged in.
    pub members_online: usize,
    /// Bytes the relay piped between the sides of transfers, both directions, since
    /// start.
    pub relayed_bytes: u64,
    /// The database's commits since start.
    pub commits: Commits,
    /// The process's resident memory (Linux: `/proc/self/status`); `None` elsewhere.
    pub rss_bytes: Option<u64>,
}

/// How long the hub's database commits took, since start, as a histogram.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Commits {
    /// Commits.
    pub count: u64,
    /// Their time, added up.
    pub total: Duration,
    /// For each bucket's upper bound, the commits that took at most that long
    /// (cumulative, in increasing order of the bounds; the rest took longer).
    pub buckets: Vec<(Duration, u64)>,
}

/// A member online, as the owner's status shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Online {
    /// Its identity.
    pub id: ClientId,
    /// Its display name (untrusted: make it safe before printing).
    pub name: String,
    /// Its connections logged in.
    pub connections: usize,
}

impl Hub {
    /// The members online now, sorted by name then id.
    pub fn online(&self) -> Vec<Online> {
        let mut online: Vec<Online> = self
            .directory
            .online()
            .map(|(id, k)| Online {
                id: *id,
                name: k.profile.name.clone(),
                connections: k.conns.len(),
            })
            .collect();
        online.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        online
    }

    /// The machine's part of [`Metrics`] (the driver's and the process's are added by
    /// the [`Observer`]).
    fn metrics(&self, uptime: Duration) -> Metrics {
        Metrics {
            uptime,
            stats: self.stats(),
            totals: self.totals,
            members_online: self.directory.online().count(),
            ..Metrics::default()
        }
    }
}

/// Answers one question, without waiting: a questioner that went away is not waited for.
pub(super) fn answer(hub: &Hub, request: Request, started: Instant) {
    match request {
        Request::Metrics(tx) => {
            let _ = tx.try_send(hub.metrics(started.elapsed()));
        }
        Request::Online(tx) => {
            let _ = tx.try_send(hub.online());
        }
    }
}

/// This process's resident memory, in bytes (Linux only).
fn resident_bytes() -> Option<u64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    // `status` gives kilobytes, whatever the page size (`statm` counts pages).
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_times_fall_in_cumulative_buckets() {
        let shared = Shared::default();
        shared.commit_took(Duration::from_micros(500));
        shared.commit_took(Duration::from_millis(7));
        shared.commit_took(Duration::from_secs(9));
        let c = shared.commits();
        assert_eq!(c.count, 3);
        assert_eq!(c.total, Duration::from_micros(9_007_500));
        let at = |bound: Duration| c.buckets.iter().find(|(b, _)| *b == bound).map(|x| x.1);
        assert_eq!(at(Duration::from_millis(1)), Some(1));
        assert_eq!(at(Duration::from_millis(5)), Some(1));
        assert_eq!(at(Duration::from_millis(10)), Some(2));
        // Nine seconds is past the last bound: only in the count (`+Inf`).
        assert_eq!(c.buckets.last().map(|x| x.1), Some(2));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn resident_memory_is_read_on_linux() {
        let rss = resident_bytes().unwrap();
        assert!(rss > 1024 * 1024, "{rss}");
    }

    /// A burst of scrapes and status questions, all at once and again right after: the
    /// serve loop (here a stand-in that counts what it answers) is asked once for each
    /// kind; once the answer is older than [`FRESH`], once more.
    #[test]
    fn a_burst_of_askers_asks_the_serve_loop_once_a_second() {
        let (observer, inbox) = pair();
        let (metrics_asked, online_asked) = (AtomicU64::new(0), AtomicU64::new(0));
        let serve_loop = async {
            while let Ok(request) = inbox.requests.recv().await {
                match request {
                    Request::Metrics(tx) => {
                        metrics_asked.fetch_add(1, Ordering::Relaxed);
                        let _ = tx.try_send(Metrics::default());
                    }
                    Request::Online(tx) => {
                        online_asked.fetch_add(1, Ordering::Relaxed);
                        let _ = tx.try_send(Vec::new());
                    }
                }
            }
        };
        let burst = async {
            for _ in 0..2 {
                let askers = (0..100).map(|_| {
                    let o = observer.clone();
                    async move { o.metrics().await.is_some() && o.online().await.is_some() }
                });
                let answered = futures::future::join_all(askers).await;
                assert!(answered.iter().all(|a| *a));
            }
            assert_eq!(metrics_asked.load(Ordering::Relaxed), 1);
            assert_eq!(online_asked.load(Ordering::Relaxed), 1);
            // The answers grow old (as FRESH later): the next asker asks again.
            let old = Instant::now().checked_sub(FRESH).unwrap();
            if let Some(last) = observer.cache.metrics.lock().await.as_mut() {
                last.0 = old;
            }
            if let Some(last) = observer.cache.online.lock().await.as_mut() {
                last.0 = old;
            }
            assert!(observer.metrics().await.is_some());
            assert!(observer.online().await.is_some());
            assert_eq!(metrics_asked.load(Ordering::Relaxed), 2);
            assert_eq!(online_asked.load(Ordering::Relaxed), 2);
        };
        futures_lite::future::block_on(futures_lite::future::or(burst, async {
            serve_loop.await;
            unreachable!("the serve loop ended first");
        }));
    }

    #[test]
    fn an_observer_of_a_hub_that_never_ran_gets_no_answer() {
        let (observer, inbox) = pair();
        drop(inbox);
        assert_eq!(futures_lite::future::block_on(observer.metrics()), None);
        assert_eq!(futures_lite::future::block_on(observer.online()), None);
    }
}
